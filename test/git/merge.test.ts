/** app/git/merge.ts against real repositories: mergeability, each method, the guarded ref, races. */
import fs from "node:fs";
import path from "node:path";
import {
  deleteBranch,
  InvalidMergeInputError,
  MergeConflictError,
  type MergeOptions,
  mergeability,
  mergeCommits,
  NotFastForwardError,
  NothingToMergeError,
  NotRebasableError,
  RefMovedError,
} from "../../app/git/merge";
import type { PushEvent } from "../../app/git/push-events";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";
import { cloneUrl, createRepo, GitClient } from "./client";
import { FixtureRepo, lines } from "./pulls-fixture";

let r: FixtureRepo;
let root: string;
const ADA = { name: "Ada", email: "ada@example.com" };
const MERGER = { name: "Merger", email: "merger@example.com" };

beforeEach(async () => {
  r = await FixtureRepo.create();
  root = await r.commit({
    branch: "main",
    parent: null,
    message: "root",
    files: { "a.txt": lines(20), "b.txt": "b\n" },
  });
});
afterEach(() => r.cleanup());

/** main and feature diverged from root: main changed line 2 of a.txt, feature line 18 plus a new file. */
async function diverged() {
  const main = await r.commit({
    branch: "main",
    files: { "a.txt": lines(20).replace("line 2\n", "main 2\n") },
  });
  const f1 = await r.commit({
    branch: "feature",
    parent: root,
    message: "feature one",
    author: ADA,
    files: { "a.txt": lines(20).replace("line 18\n", "feat 18\n") },
  });
  const f2 = await r.commit({
    branch: "feature",
    message: "feature two\n\nbody",
    author: ADA,
    files: { "c.txt": "c\n" },
  });
  return { main, f1, f2 };
}

const opts = (o: Partial<MergeOptions> & Pick<MergeOptions, "expectedOld" | "head">): MergeOptions => ({
  method: "merge",
  ref: "refs/heads/main",
  author: MERGER,
  committer: MERGER,
  title: "Merge pull request #1 from feature",
  message: "the body",
  ...o,
});
const show = (rev: string, path: string) => r.run(["cat-file", "blob", `${rev}:${path}`]);
const parents = async (sha: string) =>
  (await r.run(["rev-list", "--parents", "-n1", sha])).split(" ").slice(1);
const quarantines = () =>
  fs.readdirSync(path.join(r.dir, "objects")).filter((f) => f.startsWith("tmp_objdir"));

describe("mergeability", () => {
  it("is clean with the merged tree, and writes no object", async () => {
    const { main, f2 } = await diverged();
    const before = await r.objects();
    const m = await mergeability(r.dir, main, f2);
    expect(m).toMatchObject({ clean: true, conflicts: [] });
    expect(m.tree).toMatch(/^[0-9a-f]{40}$/);
    expect(await r.objects()).toEqual(before);
    expect(quarantines()).toEqual([]);
  });

  it("lists the conflicted files", async () => {
    const main = await r.commit({
      branch: "main",
      files: { "a.txt": "main\n", "b.txt": "main b\n", "z y.txt": "1\n" },
    });
    const head = await r.commit({
      branch: "f",
      parent: root,
      files: { "a.txt": "feat\n", "b.txt": "feat b\n", "z y.txt": "2\n" },
    });
    const m = await mergeability(r.dir, main, head);
    expect(m).toEqual({ clean: false, tree: null, conflicts: ["a.txt", "b.txt", "z y.txt"] });
  });

  it("says when the histories are unrelated", async () => {
    const lonely = await r.commit({ branch: "lonely", parent: null, files: { "x.txt": "x\n" } });
    expect(await mergeability(r.dir, root, lonely)).toEqual({
      clean: false,
      tree: null,
      conflicts: [],
      unrelated: true,
    });
  });
});

describe("mergeCommits", () => {
  it("merge: a merge commit of base and head with both changes", async () => {
    const { main, f2 } = await diverged();
    const res = await mergeCommits(r.dir, opts({ expectedOld: main, head: f2 }));
    expect(res.before).toBe(main);
    expect(await r.tip("main")).toBe(res.sha);
    expect(await parents(res.sha)).toEqual([main, f2]);
    const a = await show(res.sha, "a.txt");
    expect(a).toContain("main 2");
    expect(a).toContain("feat 18");
    expect(await show(res.sha, "c.txt")).toBe("c");
    expect(await r.run(["log", "-1", "--format=%an <%ae>|%cn|%B", res.sha])).toBe(
      "Merger <merger@example.com>|Merger|Merge pull request #1 from feature\n\nthe body",
    );
    expect(quarantines()).toEqual([]);
    await r.run(["fsck", "--strict", "--no-dangling"]);
  });

  it("squash: one commit on base with the merged tree", async () => {
    const { main, f2 } = await diverged();
    const res = await mergeCommits(
      r.dir,
      opts({
        method: "squash",
        expectedOld: main,
        head: f2,
        author: { ...ADA, date: "2024-02-03T04:05:06Z" },
      }),
    );
    expect(await parents(res.sha)).toEqual([main]);
    expect(await show(res.sha, "c.txt")).toBe("c");
    expect(await show(res.sha, "a.txt")).toContain("feat 18");
    expect(await r.run(["log", "-1", "--format=%an|%aI|%cn", res.sha])).toBe(
      "Ada|2024-02-03T04:05:06+00:00|Merger",
    );
  });

  it("rebase: each commit replayed on base, keeping its author and message", async () => {
    const { main, f1, f2 } = await diverged();
    const res = await mergeCommits(r.dir, opts({ method: "rebase", expectedOld: main, head: f2 }));
    const log = (
      await r.run(["log", "--format=%H|%P|%an|%ad|%cn|%s", "--date=raw", `${main}..${res.sha}`])
    ).split("\n");
    expect(log).toHaveLength(2);
    const [second, first] = log.map((l) => l.split("|"));
    expect(first?.[1]).toBe(main);
    expect(second?.[1]).toBe(first?.[0]);
    expect(second?.[0]).toBe(res.sha);
    expect(first?.slice(2)).toEqual([
      "Ada",
      await r.run(["log", "-1", "--format=%ad", "--date=raw", f1]),
      "Merger",
      "feature one",
    ]);
    expect(second?.[5]).toBe("feature two");
    expect(await r.run(["log", "-1", "--format=%B", res.sha])).toBe("feature two\n\nbody");
    const a = await show(res.sha, "a.txt");
    expect(a).toContain("main 2");
    expect(a).toContain("feat 18");
    expect(await show(res.sha, "c.txt")).toBe("c");
    await r.run(["fsck", "--strict", "--no-dangling"]);
  });

  it("rebase of a head already on the base: new linear commits with the same trees", async () => {
    const ids = [];
    for (let i = 0; i < 12; i++)
      ids.push(
        await r.commit({
          branch: "long",
          parent: i === 0 ? root : undefined,
          message: `step ${i}`,
          files: { [`s${i}.txt`]: `${i}\n` },
        }),
      );
    const res = await mergeCommits(
      r.dir,
      opts({ method: "rebase", expectedOld: root, head: ids.at(-1) as string }),
    );
    const replayed = (await r.run(["rev-list", "--reverse", `${root}..${res.sha}`])).split("\n");
    expect(replayed).toHaveLength(12);
    for (const [i, sha] of replayed.entries()) {
      expect(sha).not.toBe(ids[i]);
      expect(await r.run(["rev-parse", `${sha}^{tree}`])).toBe(
        await r.run(["rev-parse", `${ids[i]}^{tree}`]),
      );
      expect(await r.run(["log", "-1", "--format=%s|%cn", sha])).toBe(`step ${i}|Merger`);
    }
  });

  it("works in a repository whose path has a colon", async () => {
    const odd = await FixtureRepo.create("plue-a:b-");
    try {
      const base = await odd.commit({ branch: "main", parent: null, files: { "a.txt": "a\n" } });
      const head = await odd.commit({ branch: "f", parent: base, files: { "b.txt": "b\n" } });
      const main = await odd.commit({ branch: "main", files: { "c.txt": "c\n" } });
      expect((await mergeability(odd.dir, main, head)).clean).toBe(true);
      const res = await mergeCommits(odd.dir, opts({ method: "squash", expectedOld: main, head }));
      expect(await odd.run(["cat-file", "blob", `${res.sha}:b.txt`])).toBe("b");
      await odd.run(["fsck", "--strict", "--no-dangling"]);
    } finally {
      odd.cleanup();
    }
  });

  it("rebase refuses a branch with a merge commit inside", async () => {
    const { main, f2 } = await diverged();
    const side = await r.commit({ branch: "side", parent: root, files: { "s.txt": "s\n" } });
    const merged = await r.commit({ branch: "feature", merge: side, files: { "m.txt": "m\n" } });
    const err = await mergeCommits(r.dir, opts({ method: "rebase", expectedOld: main, head: merged })).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(NotRebasableError);
    expect(err.message).toContain(merged.slice(0, 12));
    expect(await r.tip("main")).toBe(main);
    void f2;
  });

  it("fast-forward: only when base is an ancestor of head", async () => {
    const head = await r.commit({ branch: "ff", parent: root, files: { "n.txt": "n\n" } });
    const res = await mergeCommits(r.dir, opts({ method: "fast-forward", expectedOld: root, head }));
    expect(res).toEqual({ sha: head, before: root });
    expect(await r.tip("main")).toBe(head);
    const { main, f2 } = await diverged();
    await expect(
      mergeCommits(r.dir, opts({ method: "fast-forward", expectedOld: main, head: f2 })),
    ).rejects.toBeInstanceOf(NotFastForwardError);
    expect(await r.tip("main")).toBe(main);
  });

  it("refuses a head already in the base", async () => {
    const { main } = await diverged();
    await expect(mergeCommits(r.dir, opts({ expectedOld: main, head: root }))).rejects.toBeInstanceOf(
      NothingToMergeError,
    );
  });

  it.each(["merge", "squash", "rebase"] as const)(
    "%s: a conflict changes nothing and leaves no object",
    async (method) => {
      const main = await r.commit({ branch: "main", files: { "b.txt": "main\n" } });
      const head = await r.commit({
        branch: "f",
        parent: root,
        files: { "b.txt": "feat\n", "ok.txt": "ok\n" },
      });
      const before = await r.objects();
      const err = await mergeCommits(r.dir, opts({ method, expectedOld: main, head })).catch((e) => e);
      expect(err).toBeInstanceOf(MergeConflictError);
      expect(err.conflicts).toEqual(["b.txt"]);
      expect(await r.tip("main")).toBe(main);
      expect(await r.objects()).toEqual(before);
      expect(quarantines()).toEqual([]);
    },
  );

  it("refuses when the ref is no longer at expectedOld, before and at the update", async () => {
    const { main, f2 } = await diverged();
    await expect(mergeCommits(r.dir, opts({ expectedOld: root, head: f2 }))).rejects.toBeInstanceOf(
      RefMovedError,
    );
    expect(await r.tip("main")).toBe(main);
  });

  it("loses to a push that lands between the new commits and the ref update", async () => {
    const { main, f2 } = await diverged();
    const pushed = await r.commit({ branch: "elsewhere", parent: main, files: { "p.txt": "p\n" } });
    let made = "";
    const err = await mergeCommits(
      r.dir,
      opts({
        expectedOld: main,
        head: f2,
        beforeUpdate: async (sha) => {
          made = sha;
          await r.run(["update-ref", "refs/heads/main", pushed, main]);
        },
      }),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(RefMovedError);
    expect(made).toMatch(/^[0-9a-f]{40}$/);
    expect(await r.tip("main")).toBe(pushed);
    expect(await r.run(["branch", "--contains", made])).toBe("");
    expect(quarantines()).toEqual([]);
  });

  it("two merges at once: exactly one wins", async () => {
    const { main, f2 } = await diverged();
    const other = await r.commit({ branch: "other", parent: root, files: { "o.txt": "o\n" } });
    const results = await Promise.allSettled([
      mergeCommits(r.dir, opts({ expectedOld: main, head: f2 })),
      mergeCommits(r.dir, opts({ method: "squash", expectedOld: main, head: other })),
      mergeCommits(r.dir, opts({ method: "rebase", expectedOld: main, head: f2 })),
    ]);
    const won = results.filter((x) => x.status === "fulfilled");
    const lost = results.filter((x) => x.status === "rejected");
    expect(won).toHaveLength(1);
    for (const l of lost) expect((l as PromiseRejectedResult).reason).toBeInstanceOf(RefMovedError);
    expect(await r.tip("main")).toBe((won[0] as PromiseFulfilledResult<{ sha: string }>).value.sha);
  });

  it("a merge racing a real git push: one of them wins, never both", async () => {
    const g = new GitClient();
    try {
      const { main, f2 } = await diverged();
      for (let i = 0; i < 6; i++) {
        const tip = (await r.tip("main")) as string;
        const work = path.join(g.home, `w${i}`);
        await g.ok(["clone", "-q", "--branch", "main", `file://${r.dir}`, work]);
        fs.writeFileSync(path.join(work, `push${i}.txt`), "pushed\n");
        await g.ok(["add", "-A"], work);
        await g.ok(["commit", "-q", "-m", `push ${i}`], work);
        const pushed = await g.ok(["rev-parse", "HEAD"], work);
        const head = await r.commit({ branch: `f${i}`, parent: tip, files: { [`merge${i}.txt`]: "m\n" } });
        const [push, merge] = await Promise.all([
          g.run(["push", "-q", "origin", "HEAD:refs/heads/main"], work),
          mergeCommits(r.dir, opts({ expectedOld: tip, head })).catch((e) => e),
        ]);
        const now = await r.tip("main");
        if (merge instanceof Error) {
          expect(merge).toBeInstanceOf(RefMovedError);
          expect(push.code).toBe(0);
          expect(now).toBe(pushed);
        } else {
          expect(push.code).not.toBe(0);
          expect(now).toBe(merge.sha);
        }
      }
      void main;
      void f2;
    } finally {
      g.cleanup();
    }
  });

  it("keeps hostile identities and messages out of argv and headers", async () => {
    const { main, f2 } = await diverged();
    const res = await mergeCommits(
      r.dir,
      opts({
        method: "squash",
        expectedOld: main,
        head: f2,
        author: { name: "--upload-pack=evil\nInjected: yes <x@y>", email: "-e\n@evil>" },
        committer: { name: "\0", email: "c@example.com" },
        title: "--amend\nsecond line",
        message: "-m body\0with nul",
      }),
    );
    const raw = await r.run(["cat-file", "commit", res.sha]);
    expect(raw).toContain("\nauthor --upload-pack=evilInjected: yes x@y <-e@evil> ");
    expect(raw).toContain("\ncommitter c@example.com <c@example.com> ");
    expect(raw).not.toContain("Injected: yes\n");
    expect(raw.split("\n\n").slice(1).join("\n\n")).toBe("--amend second line\n\n-m bodywith nul");
  });

  it.each(["main", "refs/tags/v1", "refs/heads/", "refs/heads/a..b", "refs/heads/x y", "refs/heads/-x/../y"])(
    "refuses the ref %j",
    async (ref) => {
      const { main, f2 } = await diverged();
      await expect(mergeCommits(r.dir, opts({ ref, expectedOld: main, head: f2 }))).rejects.toBeInstanceOf(
        InvalidMergeInputError,
      );
      expect(await r.tip("main")).toBe(main);
    },
  );
});

describe("branch names that look like options", () => {
  it("merges into refs/heads/--upload-pack and touches no other ref", async () => {
    await r.run(["update-ref", "refs/heads/--upload-pack", root]);
    const head = await r.commit({ branch: "f", parent: root, files: { "n.txt": "n\n" } });
    const refsBefore = await r.run(["for-each-ref", "--format=%(refname) %(objectname)"]);
    const res = await mergeCommits(r.dir, opts({ ref: "refs/heads/--upload-pack", expectedOld: root, head }));
    expect(await r.tip("--upload-pack")).toBe(res.sha);
    const refsAfter = await r.run(["for-each-ref", "--format=%(refname) %(objectname)"]);
    expect(refsAfter).toBe(
      refsBefore.replace(`refs/heads/--upload-pack ${root}`, `refs/heads/--upload-pack ${res.sha}`),
    );
  });
});

describe("deleteBranch", () => {
  it("deletes only while the branch is where the caller saw it", async () => {
    const { f2 } = await diverged();
    expect(await deleteBranch(r.dir, "refs/heads/feature", root)).toBe(false);
    expect(await r.tip("feature")).toBe(f2);
    expect(await deleteBranch(r.dir, "refs/heads/feature", f2)).toBe(true);
    expect(await r.tip("feature")).toBeNull();
    expect(await deleteBranch(r.dir, "refs/heads/feature", f2)).toBe(false);
  });
});

describe("a merge racing a push over HTTP to a real server", () => {
  let p: TestPlatform;
  let g: GitClient;
  const events: PushEvent[] = [];
  beforeAll(async () => {
    p = await startTestPlatform();
    g = new GitClient();
    p.ctx.git.onPush((e) => void events.push(e));
  });
  afterAll(async () => {
    await p.close();
    g.cleanup();
  });

  it("lets exactly one of them move the branch, every time", async () => {
    await createRepo(p.url, p.token, { name: "race" });
    const url = cloneUrl(p.url, "admin", "race", p.token);
    const work = await g.repoWith("race-work", { "README.md": "# race\n" });
    await g.ok(["push", "-q", url, "main"], work);
    const gitDir = p.ctx.git.repos.gitDir({ owner: "admin", name: "race" });
    let pushWins = 0;
    for (let i = 0; i < 5; i++) {
      await g.ok(["fetch", "-q", url, "main"], work);
      await g.ok(["reset", "-q", "--hard", "FETCH_HEAD"], work);
      const tip = await g.ok(["rev-parse", "HEAD"], work);
      await g.ok(["checkout", "-q", "-B", `topic${i}`], work);
      fs.writeFileSync(path.join(work, `topic${i}.txt`), "topic\n");
      await g.ok(["add", "-A"], work);
      await g.ok(["commit", "-q", "-m", `topic ${i}`], work);
      const topic = await g.ok(["rev-parse", "HEAD"], work);
      await g.ok(["push", "-q", url, `topic${i}`], work);
      await g.ok(["checkout", "-q", "-B", "main", tip], work);
      fs.writeFileSync(path.join(work, `direct${i}.txt`), "direct\n");
      await g.ok(["add", "-A"], work);
      await g.ok(["commit", "-q", "-m", `direct ${i}`], work);
      const direct = await g.ok(["rev-parse", "HEAD"], work);
      const [push, merge] = await Promise.all([
        g.run(["push", "-q", url, "main"], work),
        mergeCommits(gitDir, opts({ method: "squash", expectedOld: tip, head: topic })).catch((e) => e),
      ]);
      const now = (await g.ok(["ls-remote", url, "refs/heads/main"])).split("\t")[0];
      if (merge instanceof Error) {
        expect(merge).toBeInstanceOf(RefMovedError);
        expect(push.code).toBe(0);
        expect(now).toBe(direct);
        pushWins++;
      } else {
        expect(push.code).not.toBe(0);
        expect(push.stderr).toMatch(/rejected|failed|fetch first/);
        expect(now).toBe(merge.sha);
      }
    }
    await new Promise((r) => setTimeout(r, 100));
    // one push event per accepted push of main (the merges' events are the caller's to record)
    const mainPushes = events.filter((e) => e.repo.name === "race" && e.ref === "refs/heads/main");
    expect(mainPushes).toHaveLength(1 + pushWins);
  });
});
