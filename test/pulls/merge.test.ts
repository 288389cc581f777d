/**
 * Merging over the API into a real bare repository: each method leaves the base's log it should,
 * the refusals (conflict, stale head, closed, draft) change nothing, two merges at once and a
 * merge racing a push never both win, and a merge is exactly one push event, whose push workflow
 * on the base runs once.
 */
import {
  type Json,
  newRepo,
  type Rig,
  startRig,
  synced,
  timeline,
  until,
  usernameOf,
  type Work,
} from "./helpers";

const PUSH_WORKFLOW = `from plue import workflow, push

@workflow(triggers=[push(branches=["main"])])
def on_main(ctx):
    ctx.run(name="build", cmd="echo build")
`;

let rig: Rig;
let work: Work;

beforeAll(async () => {
  rig = await startRig();
  work = await newRepo(rig, "merged", {
    "README.md": "# merged\n",
    ".plue/workflows/main.py": PUSH_WORKFLOW,
  });
});
afterAll(() => rig.close());

const pushEvents = async (sha?: string) =>
  (
    await rig.p.ctx.db.query<{ ref: string; before_sha: string; after_sha: string }>(
      `SELECT e.ref, e.before_sha, e.after_sha FROM push_events e JOIN repositories r ON r.id = e.repo_id
        WHERE lower(r.name) = lower($1) AND e.ref = 'refs/heads/main' ${sha ? "AND e.after_sha = $2" : ""} ORDER BY e.id`,
      sha ? [work.name, sha] : [work.name],
    )
  ).rows;

/** A pull request by bob with two commits on `head`. */
async function twoCommits(head: string): Promise<Json> {
  await work.checkout("main");
  await work.git(["reset", "-q", "--hard", (await work.remoteLog("main"))[0]!.sha]);
  await work.checkout(head, true);
  await work.commit({ [`${head}/one.txt`]: "1\n" }, `${head}: first`);
  await work.commit({ [`${head}/two.txt`]: "2\n" }, `${head}: second`);
  await work.push(head);
  await work.checkout("main");
  return rig.bob.ok("POST", `${work.api}/pulls`, { title: `Do ${head}`, body: "the body", head });
}

/** Moves main on the server by one commit that the pull requests do not have. */
async function advanceMain(file: string): Promise<string> {
  await work.checkout("main");
  await work.git(["reset", "-q", "--hard", (await work.remoteLog("main"))[0]!.sha]);
  const sha = await work.commit({ [file]: `${file}\n` }, `main: ${file}`);
  await work.push("main");
  return sha;
}

const merge = (n: number, body: Record<string, unknown> = {}) =>
  rig.alice.request("PUT", `${work.api}/pulls/${n}/merge`, body);

describe("merge methods", () => {
  it("merge: a merge commit with both parents and GitHub's title; one push event; the push workflow once", async () => {
    await advanceMain("m1.txt");
    const pull = await twoCommits("merge-me");
    const base = (await work.remoteLog("main"))[0]!.sha;
    const r = await merge(pull.number, { method: "merge", sha: pull.head.sha });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ merged: true, method: "merge" });
    const [top] = await work.remoteLog("main");
    expect(top).toMatchObject({
      sha: r.body.sha,
      subject: `Merge pull request #${pull.number} from merge-me`,
    });
    expect(top!.parents).toEqual([base, pull.head.sha]);
    expect(await pushEvents(r.body.sha)).toEqual([
      { ref: "refs/heads/main", before_sha: base, after_sha: r.body.sha },
    ]);
    const view = await rig.alice.ok("GET", `${work.api}/pulls/${pull.number}`);
    expect(view).toMatchObject({
      state: "closed",
      merged: true,
      merge_commit_sha: r.body.sha,
      merged_by: { username: await usernameOf(rig.alice) },
    });
    expect((await timeline(rig, work, pull.number)).map((e) => e.kind)).toContain("merged");
    const runs = await until("the push run of the merge", async () => {
      const list = (await rig.alice.ok("GET", `/api/repos/${work.slug}/runs?event=push`)).runs as Json[];
      const mine = list.filter((run) => run.commit === r.body.sha);
      return mine.length > 0 && mine;
    });
    await new Promise((res) => setTimeout(res, 300));
    const again = (await rig.alice.ok("GET", `/api/repos/${work.slug}/runs?event=push`)).runs as Json[];
    expect(again.filter((run) => run.commit === r.body.sha)).toHaveLength(1);
    expect(runs[0]).toMatchObject({ workflow: "on_main", ref: "refs/heads/main" });
  });

  it("squash: one commit titled '<title> (#N)', authored by the pull request's author", async () => {
    const pull = await twoCommits("squash-me");
    const base = (await work.remoteLog("main"))[0]!.sha;
    const r = await merge(pull.number, { method: "squash" });
    expect(r.status).toBe(200);
    const [top] = await work.remoteLog("main");
    expect(top).toMatchObject({
      sha: r.body.sha,
      subject: `Do squash-me (#${pull.number})`,
      parents: [base],
    });
    const bob = await usernameOf(rig.bob);
    expect(top!.author).toBe(`${bob} <${bob}@users.noreply.plue>`);
    expect(await work.git(["show", "--format=", "--name-only", r.body.sha])).toBe(
      "squash-me/one.txt\nsquash-me/two.txt",
    );
  });

  it("rebase: the head's commits replayed on the base, in order", async () => {
    await advanceMain("m2.txt");
    const pull = await twoCommits("rebase-me");
    await advanceMain("m3.txt");
    const base = (await work.remoteLog("main"))[0]!.sha;
    const r = await merge(pull.number, { method: "rebase" });
    expect(r.status).toBe(200);
    const log = await work.remoteLog("main");
    expect(log.slice(0, 3).map((c) => c.subject)).toEqual([
      "rebase-me: second",
      "rebase-me: first",
      "main: m3.txt",
    ]);
    expect(log[1]!.parents).toEqual([base]);
    expect(log[0]!.sha).toBe(r.body.sha);
  });

  it("fast-forward: the base becomes the head, and a base with other commits is refused", async () => {
    const pull = await twoCommits("ff-me");
    const r = await merge(pull.number, { method: "fast-forward" });
    expect(r.status).toBe(200);
    expect((await work.remoteLog("main"))[0]!.sha).toBe(pull.head.sha);

    const behind = await twoCommits("ff-behind");
    const moved = await advanceMain("m4.txt");
    const refused = await merge(behind.number, { method: "fast-forward" });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("not_mergeable");
    expect((await work.remoteLog("main"))[0]!.sha).toBe(moved);
  });

  it("deletes the head branch when asked", async () => {
    const pull = await twoCommits("delete-me");
    const r = await merge(pull.number, { delete_branch: true });
    expect(r.status).toBe(200);
    const ls = await rig.git.run(
      ["ls-remote", "--heads", `${rig.p.url}/${work.slug}.git`, "delete-me"],
      work.dir,
    );
    expect(ls.stdout.trim()).toBe("");
    expect((await timeline(rig, work, pull.number)).map((e) => e.kind)).toContain("head_ref_deleted");
    // The head's commits stay reachable under refs/pull/N/head, and the diff still reads.
    const kept = await rig.git.run(
      ["ls-remote", `${rig.p.url}/${work.slug}.git`, `refs/pull/${pull.number}/head`],
      work.dir,
    );
    expect(kept.stdout).toContain(pull.head.sha);
    const files = await rig.alice.ok("GET", `${work.api}/pulls/${pull.number}/files`);
    expect(files.total).toBe(2);
  });
});

describe("merged by a push", () => {
  it("marks a pull request merged when its head reaches the base by a git push", async () => {
    const pull = await twoCommits("pushed-in");
    await work.checkout("main");
    await work.git(["reset", "-q", "--hard", pull.head.sha]);
    await work.push("main");
    await synced(work, "main", pull.head.sha);
    const view = await rig.alice.ok("GET", `${work.api}/pulls/${pull.number}`);
    expect(view).toMatchObject({ state: "closed", merged: true, merge_commit_sha: pull.head.sha });
    expect(view.merged_by.username).toBe(await usernameOf(rig.alice));
    const merged = (await timeline(rig, work, pull.number)).filter((e) => e.kind === "merged");
    expect(merged).toEqual([
      { kind: "merged", data: { sha: pull.head.sha, method: null, pushed: pull.head.sha } },
    ]);
  });
});

describe("references", () => {
  it("closes the issue a pull request merged into the default branch fixes, and only that one", async () => {
    const fixed = await rig.alice.ok("POST", `${work.api}/issues`, { title: "Broken" });
    const mentioned = await rig.alice.ok("POST", `${work.api}/issues`, { title: "Related" });
    const pull = await twoCommits("fix-it");
    await rig.bob.ok("PATCH", `${work.api}/pulls/${pull.number}`, {
      body: `Fixes #${fixed.number}, see #${mentioned.number}`,
    });
    const r = await merge(pull.number, { method: "squash" });
    expect(r.status).toBe(200);
    expect(await rig.alice.ok("GET", `${work.api}/issues/${fixed.number}`)).toMatchObject({
      state: "closed",
    });
    expect(await rig.alice.ok("GET", `${work.api}/issues/${mentioned.number}`)).toMatchObject({
      state: "open",
    });
  });
});

describe("refusals change nothing", () => {
  it("refuses a conflict, listing the file", async () => {
    await work.checkout("main");
    await work.git(["reset", "-q", "--hard", (await work.remoteLog("main"))[0]!.sha]);
    await work.checkout("conflicting", true);
    await work.commit({ "README.md": "# theirs\n" }, "theirs");
    await work.push("conflicting");
    const pull = await rig.bob.ok("POST", `${work.api}/pulls`, { title: "Conflict", head: "conflicting" });
    const main = await advanceMain("README.md");
    const view = await rig.alice.ok("GET", `${work.api}/pulls/${pull.number}`);
    expect(view).toMatchObject({ mergeable: false, mergeable_state: "conflict", conflicts: ["README.md"] });
    const before = (await pushEvents()).length;
    const r = await merge(pull.number);
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe("not_mergeable");
    expect(r.body.error.reasons.join(" ")).toContain("README.md");
    expect((await work.remoteLog("main"))[0]!.sha).toBe(main);
    expect((await pushEvents()).length).toBe(before);
  });

  it("refuses a stale head sha, a draft and a closed pull request", async () => {
    const pull = await twoCommits("refuse-me");
    const stale = await merge(pull.number, { sha: "b".repeat(40) });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe("head_moved");
    await rig.alice.ok("PATCH", `${work.api}/pulls/${pull.number}`, { draft: true });
    const draft = await merge(pull.number);
    expect(draft.body.error).toMatchObject({
      code: "not_mergeable",
      reasons: ["the pull request is a draft"],
    });
    await rig.alice.ok("PATCH", `${work.api}/pulls/${pull.number}`, { draft: false, state: "closed" });
    const closed = await merge(pull.number);
    expect(closed.body.error).toMatchObject({
      code: "not_mergeable",
      reasons: ["the pull request is closed"],
    });
    const bad = await merge(pull.number, { method: "octopus" });
    expect(bad.status).toBe(400);
    const view = await rig.alice.ok("GET", `${work.api}/pulls/${pull.number}`);
    expect(view.merged).toBe(false);
  });

  it("refuses merging without write access", async () => {
    const pull = await twoCommits("no-write");
    const stranger = await rig.p.user(`stranger${process.pid}m`);
    const r = await stranger.request("PUT", `${work.api}/pulls/${pull.number}/merge`, {});
    expect(r.status).toBe(403);
  });
});

describe("races", () => {
  it("two merges at once: one wins, the other is 409, one push event", async () => {
    const pull = await twoCommits("race-me");
    const before = (await pushEvents()).length;
    const [a, b] = await Promise.all([merge(pull.number), merge(pull.number, { method: "squash" })]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const won = a.status === 200 ? a : b;
    expect((await pushEvents()).length).toBe(before + 1);
    expect((await work.remoteLog("main"))[0]!.sha).toBe(won.body.sha);
  });

  it("a merge racing a push to the base: never both lost, the push events form one chain", async () => {
    for (let i = 0; i < 3; i++) {
      const pull = await twoCommits(`push-race-${i}`);
      await work.checkout("main");
      await work.git(["reset", "-q", "--hard", (await work.remoteLog("main"))[0]!.sha]);
      const pushed = await work.commit({ [`race-${i}.txt`]: "r\n" }, `race ${i}`);
      const [m, p] = await Promise.all([merge(pull.number), work.pushResult("main")]);
      const log = (await work.remoteLog("main")).map((c) => c.sha);
      if (m.status === 200) expect(log).toContain(m.body.sha);
      else expect([409]).toContain(m.status);
      if (p.code === 0) expect(log).toContain(pushed);
      expect(m.status === 200 || p.code === 0).toBe(true);
    }
    const events = await pushEvents();
    for (let i = 1; i < events.length; i++) expect(events[i]!.before_sha).toBe(events[i - 1]!.after_sha);
  });
});
