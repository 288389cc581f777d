/** git clone / fetch / push over smart HTTP against a real server, and the push events they make. */
import fs from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { createApiToken, createUser } from "../../app/auth/tokens";
import type { PushEvent } from "../../app/git/push-events";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";
import { cloneUrl, createRepo, GitClient, rawGet } from "./client";

const ZERO = "0".repeat(40);
let p: TestPlatform;
let g: GitClient;
let otherToken: string;
const events: PushEvent[] = [];

beforeAll(async () => {
  p = await startTestPlatform();
  g = new GitClient();
  const other = await createUser(p.ctx.db, "mallory");
  otherToken = await createApiToken(p.ctx.db, other.id, "test");
  p.ctx.git.onPush((e) => void events.push(e));
});
afterAll(async () => {
  await p.close();
  g.cleanup();
});

/** A clone URL of one of admin's repositories with admin's token; `null` for an anonymous one. */
const url = (repo: string, token: string | null = p.token) =>
  cloneUrl(p.url, "admin", repo, token ?? undefined);
const eventsFor = (repo: string) => events.filter((e) => e.repo.name === repo);
/** Events are emitted after the push's response has ended; give the handler a moment. */
const settle = () => new Promise((r) => setTimeout(r, 100));

describe("clone and push", () => {
  let work: string;
  const pushed: string[] = [];

  beforeAll(async () => {
    await createRepo(p.url, p.token, { name: "proj" });
    work = await g.repoWith("proj-work", { "README.md": "# proj\n", "src/main.ts": "export {};\n" });
  });

  it("pushes a new branch with a token, recording and emitting one event", async () => {
    const head = await g.ok(["rev-parse", "HEAD"], work);
    await g.ok(["push", url("proj"), "main"], work);
    await settle();
    expect(eventsFor("proj")).toEqual([
      expect.objectContaining({
        ref: "refs/heads/main",
        before: ZERO,
        after: head,
        pusher: { id: expect.any(Number), username: "admin" },
        repo: expect.objectContaining({ owner: "admin", name: "proj" }),
      }),
    ]);
    const rows = await p.ctx.db.query("SELECT ref, before_sha, after_sha FROM push_events ORDER BY id");
    expect(rows.rows).toEqual([{ ref: "refs/heads/main", before_sha: ZERO, after_sha: head }]);
    pushed.push(head);
  });

  it("clones anonymously (public) with the same history and files", async () => {
    const dest = path.join(g.home, "proj-clone");
    await g.ok(["clone", "-q", url("proj", null), dest]);
    expect(await g.ok(["rev-parse", "HEAD"], dest)).toBe(pushed[0]);
    expect(fs.readFileSync(path.join(dest, "src/main.ts"), "utf8")).toBe("export {};\n");
  });

  it("force-pushes, tags and deletes refs, one event each with before and after", async () => {
    const start = eventsFor("proj").length;
    await g.ok(["checkout", "-q", "-b", "feature/x"], work);
    fs.writeFileSync(path.join(work, "f.txt"), "one\n");
    await g.ok(["add", "f.txt"], work);
    await g.ok(["commit", "-q", "-m", "feature"], work);
    const feature1 = await g.ok(["rev-parse", "HEAD"], work);
    await g.ok(["push", url("proj"), "feature/x"], work);

    await g.ok(["commit", "-q", "--amend", "-m", "feature, rewritten"], work);
    const feature2 = await g.ok(["rev-parse", "HEAD"], work);
    const nonFf = await g.run(["push", url("proj"), "feature/x"], work);
    expect(nonFf.code).not.toBe(0);
    expect(nonFf.stderr).toMatch(/rejected|non-fast-forward/);
    await g.ok(["push", "--force", url("proj"), "feature/x"], work);

    await g.ok(["tag", "-a", "-m", "release", "v1.0"], work);
    const tagObject = await g.ok(["rev-parse", "v1.0"], work);
    await g.ok(["push", url("proj"), "v1.0", ":refs/heads/feature/x"], work); // two refs, one push
    await settle();

    expect(
      eventsFor("proj")
        .slice(start)
        .map((e) => [e.ref, e.before, e.after]),
    ).toEqual([
      ["refs/heads/feature/x", ZERO, feature1],
      ["refs/heads/feature/x", feature1, feature2],
      // One push, two refs, in the order the client sent them (git sorts them by name).
      ["refs/heads/feature/x", feature2, ZERO],
      ["refs/tags/v1.0", ZERO, tagObject],
    ]);
    const remote = await g.ok(["ls-remote", url("proj", null)]);
    expect(remote).toContain("refs/tags/v1.0");
    expect(remote).not.toContain("feature/x");
  });

  it("fetches new commits into an existing clone", async () => {
    const dest = path.join(g.home, "proj-clone");
    fs.writeFileSync(path.join(work, "later.txt"), "later\n");
    await g.ok(["checkout", "-q", "main"], work);
    await g.ok(["add", "later.txt"], work);
    await g.ok(["commit", "-q", "-m", "later"], work);
    await g.ok(["push", url("proj"), "main"], work);
    await g.ok(["fetch", "-q", "origin"], dest);
    expect(await g.ok(["rev-parse", "origin/main"], dest)).toBe(await g.ok(["rev-parse", "HEAD"], work));
  });

  it("takes a gzip-compressed upload-pack request (git compresses large negotiations)", async () => {
    const want = await g.ok(["rev-parse", "main"], work);
    const body = Buffer.concat([
      pktLine(`want ${want} side-band-64k agent=test\n`),
      Buffer.from("0000"),
      pktLine("done\n"),
    ]);
    const r = await fetch(`${p.url}/admin/proj.git/git-upload-pack`, {
      method: "POST",
      headers: { "content-type": "application/x-git-upload-pack-request", "content-encoding": "gzip" },
      body: gzipSync(body),
    });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/x-git-upload-pack-result");
    const answer = Buffer.from(await r.arrayBuffer()).toString("latin1");
    expect(answer.startsWith("0008NAK\n")).toBe(true);
    expect(answer).toContain("PACK");
  });

  it("takes a gzip-compressed receive-pack request (ref deletion, no pack)", async () => {
    const before = await g.ok(["rev-parse", "main"], work);
    await g.ok(["push", url("proj"), "main:refs/heads/to-delete"], work);
    await settle();
    const body = Buffer.concat([
      pktLine(`${before} ${ZERO} refs/heads/to-delete\0report-status side-band-64k agent=test\n`),
      Buffer.from("0000"),
    ]);
    const r = await fetch(`${p.url}/admin/proj.git/git-receive-pack`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`admin:${p.token}`).toString("base64")}`,
        "content-type": "application/x-git-receive-pack-request",
        "content-encoding": "gzip",
      },
      body: gzipSync(body),
    });
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).toString("latin1")).toContain("ok refs/heads/to-delete");
    await settle();
    expect(eventsFor("proj").at(-1)).toMatchObject({ ref: "refs/heads/to-delete", before, after: ZERO });
  });
});

describe("concurrent pushes", () => {
  it("give exactly one event per ref actually updated", async () => {
    await createRepo(p.url, p.token, { name: "busy" });
    const base = await g.repoWith("busy-base", { "a.txt": "a\n" });
    await g.ok(["push", url("busy"), "main"], base);
    await settle();
    const start = events.length;

    // Six pushes at once: three to their own branches, three racing for one branch. The commits
    // are made up front in one local repository (commit-tree is instant); pushes carry them.
    const tree = await g.ok(["rev-parse", "HEAD^{tree}"], base);
    const parent = await g.ok(["rev-parse", "HEAD"], base);
    const clients = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => ({
        dir: base,
        sha: await g.ok(["commit-tree", tree, "-p", parent, "-m", `client ${i}`], base),
        ref: i < 3 ? `own-${i}` : "race",
      })),
    );
    const results = await Promise.all(
      clients.map((c) => g.run(["push", "--force", url("busy"), `${c.sha}:refs/heads/${c.ref}`], c.dir)),
    );
    await settle();
    const got = events.slice(start).filter((e) => e.repo.name === "busy");

    for (let i = 0; i < 3; i++) {
      expect(results[i]!.code).toBe(0);
      expect(got.filter((e) => e.ref === `refs/heads/own-${i}`)).toEqual([
        expect.objectContaining({ before: ZERO, after: clients[i]!.sha }),
      ]);
    }
    // Racing force-pushes: each that git accepted made one event; the events chain, and the
    // last one is what the branch now points at.
    const accepted = results.slice(3).filter((r) => r.code === 0).length;
    const race = got.filter((e) => e.ref === "refs/heads/race");
    expect(accepted).toBeGreaterThanOrEqual(1);
    expect(race).toHaveLength(accepted);
    expect(race[0]!.before).toBe(ZERO);
    for (let i = 1; i < race.length; i++) expect(race[i]!.before).toBe(race[i - 1]!.after);
    const now = (await g.ok(["ls-remote", url("busy"), "refs/heads/race"])).split("\t")[0];
    expect(race.at(-1)!.after).toBe(now);
    expect(got).toHaveLength(3 + accepted);
  });
});

describe("authentication and access", () => {
  let work: string;
  beforeAll(async () => {
    await createRepo(p.url, p.token, { name: "priv", visibility: "private" });
    await createRepo(p.url, p.token, { name: "pub" });
    work = await g.repoWith("auth-work", { "secret.txt": "s3cret\n" });
    await g.ok(["push", url("priv"), "main"], work);
    await g.ok(["push", url("pub"), "main"], work);
  });

  it("asks anonymous pushers for credentials (401 + Basic challenge)", async () => {
    const r = await g.run(["push", url("pub", null), "main:refs/heads/anon"], work);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/could not read Username/);
    const raw = await rawGet(p.url, "/admin/pub.git/info/refs?service=git-receive-pack");
    expect(raw.status).toBe(401);
    expect(raw.headers["www-authenticate"]).toMatch(/^Basic realm="plue"/);
  });

  it("refuses a wrong token", async () => {
    const r = await g.run(["push", url("pub", "plue_wrong"), "main:refs/heads/wrong"], work);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Authentication failed/);
  });

  it("forbids pushing to someone else's repository", async () => {
    const r = await g.run(["push", cloneUrl(p.url, "admin", "pub", otherToken), "main:refs/heads/x"], work);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/403/);
  });

  it("hides a private repository: 401 anonymous, 404 to others, readable by its owner", async () => {
    const anon = await g.run(["clone", "-q", url("priv", null), path.join(g.home, "priv-anon")]);
    expect(anon.code).not.toBe(0);
    expect(anon.stderr).toMatch(/could not read Username/);
    // Exactly like a repository that does not exist.
    const [privRaw, missingRaw] = await Promise.all([
      rawGet(p.url, "/admin/priv.git/info/refs?service=git-upload-pack"),
      rawGet(p.url, "/admin/nothing-here.git/info/refs?service=git-upload-pack"),
    ]);
    expect(privRaw.status).toBe(401);
    expect(missingRaw.status).toBe(401);

    const other = await g.run([
      "clone",
      "-q",
      cloneUrl(p.url, "admin", "priv", otherToken),
      path.join(g.home, "priv-o"),
    ]);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/not found/);

    const mine = path.join(g.home, "priv-mine");
    await g.ok(["clone", "-q", url("priv"), mine]);
    expect(fs.readFileSync(path.join(mine, "secret.txt"), "utf8")).toBe("s3cret\n");
  });

  it("accepts a workload's task token for reading its one repository, not for pushing", async () => {
    const priv = await p.ctx.git.repos.find("admin", "priv");
    p.ctx.git.setTaskTokenResolver(async (token) =>
      token === "task_for_priv" ? { repoId: priv!.id } : undefined,
    );
    try {
      const dest = path.join(g.home, "priv-task");
      await g.ok(["clone", "-q", cloneUrl(p.url, "admin", "priv", "task_for_priv", "task"), dest]);
      expect(fs.existsSync(path.join(dest, "secret.txt"))).toBe(true);
      const push = await g.run(
        ["push", cloneUrl(p.url, "admin", "priv", "task_for_priv", "task"), "main:refs/heads/t"],
        dest,
      );
      expect(push.stderr).toMatch(/403/);
      // A token the resolver does not know is refused even where no token is needed.
      const basic = Buffer.from("task:task_for_other").toString("base64");
      const elsewhere = await rawGet(p.url, "/admin/pub.git/info/refs?service=git-upload-pack", {
        authorization: `Basic ${basic}`,
      });
      expect(elsewhere.status).toBe(401);
    } finally {
      p.ctx.git.setTaskTokenResolver(undefined);
    }
  });

  it("serves only the smart protocol", async () => {
    const dumb = await rawGet(p.url, "/admin/pub.git/info/refs");
    expect(dumb.status).toBe(403);
    expect(JSON.parse(dumb.body.toString()).error.message).toMatch(/smart HTTP/);
  });
});

function pktLine(s: string): Buffer {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from((b.length + 4).toString(16).padStart(4, "0")), b]);
}
