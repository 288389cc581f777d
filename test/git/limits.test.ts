/**
 * Push size limit, per-repository quota and malformed smart-HTTP bodies, with a real git client
 * against a real server. The limits are set small so that the pushes stay small.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { createApiToken, createUser } from "../../app/auth/tokens";
import { git as serverGit } from "../../app/git/exec";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";
import { cloneUrl, createRepo, GitClient } from "./client";

const KiB = 1024;
let p: TestPlatform;
let g: GitClient;
let token: string;

beforeAll(async () => {
  p = await startTestPlatform({ PLUE_MAX_PUSH_SIZE: "256kb", PLUE_REPO_QUOTA: "1mb" });
  g = new GitClient();
  const user = await createUser(p.ctx.db, "pusher");
  token = await createApiToken(p.ctx.db, user.id, "test");
});
afterAll(async () => {
  await p.close();
  g.cleanup();
});

const url = (repo: string) => cloneUrl(p.url, "pusher", repo, token);
const gitDir = (repo: string) => path.join(p.dataDir, "repos", "pusher", `${repo}.git`);
const basic = () => `Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`;

/** A repository with one small pushed commit, and its work tree. */
async function pushedRepo(name: string): Promise<string> {
  await createRepo(p.url, token, { name });
  const work = await g.repoWith(`${name}-work`, { "README.md": `# ${name}\n` });
  await g.ok(["push", url(name), "main"], work);
  return work;
}

/** Commits a file of `bytes` random (incompressible) bytes: its pack is about that large. */
async function commitNoise(work: string, file: string, bytes: number): Promise<string> {
  fs.writeFileSync(path.join(work, file), randomBytes(bytes));
  await g.ok(["add", file], work);
  await g.ok(["commit", "-q", "-m", `add ${file}`], work);
  return g.ok(["rev-parse", "HEAD"], work);
}

/** The server's refs and a full fsck of the server's copy: what a refused push must not change. */
async function serverState(repo: string): Promise<{ refs: string; fsck: string }> {
  const refs = await serverGit(["for-each-ref", "--format=%(refname) %(objectname)"], {
    gitDir: gitDir(repo),
  });
  const fsck = await serverGit(["fsck", "--full", "--strict", "--no-dangling"], { gitDir: gitDir(repo) });
  return { refs, fsck };
}

describe("push size limit (PLUE_MAX_PUSH_SIZE=256kb)", () => {
  it.each([
    ["gzip-compressed, with a length (under git's 1 MiB post buffer)", 600 * KiB],
    ["chunked, past the server's body cap too", 2600 * KiB],
  ])("refuses a %s push with the reason in git's output, changing nothing", async (_kind, bytes) => {
    const name = `big-${bytes}`;
    const work = await pushedRepo(name);
    const before = await serverState(name);
    await commitNoise(work, "blob.bin", bytes);
    const r = await g.run(["push", url(name), "main"], work);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      "remote: error: push_too_large: the push is larger than this server's limit of 256 KiB (PLUE_MAX_PUSH_SIZE)",
    );
    expect(r.stderr).toContain("[remote rejected] main -> main");
    expect(await serverState(name)).toEqual(before);
    expect(before.fsck).toBe("");
  });

  it("accepts a push under the limit", async () => {
    const work = await pushedRepo("small");
    const head = await commitNoise(work, "blob.bin", 100 * KiB);
    await g.ok(["push", url("small"), "main"], work);
    expect((await serverState("small")).refs).toContain(`refs/heads/main ${head}`);
  });

  it("answers a declared body over the cap with 413 push_too_large before git runs", async () => {
    await createRepo(p.url, token, { name: "declared" });
    const res = await fetch(`${p.url}/pusher/declared.git/git-receive-pack`, {
      method: "POST",
      headers: { authorization: basic(), "content-type": "application/x-git-receive-pack-request" },
      body: new Uint8Array(Buffer.alloc(1400 * KiB, "0")),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({
      error: { code: "push_too_large", message: expect.stringContaining("256 KiB") },
    });
  });
});

describe("per-repository quota (PLUE_REPO_QUOTA=1mb)", () => {
  it("refuses a push that would take the repository over its quota, then all pushes once it is over", async () => {
    const work = await pushedRepo("quota");
    // Fill to ~800 KiB in pushes each under the push limit.
    for (let i = 0; i < 4; i++) {
      await commitNoise(work, `fill-${i}.bin`, 200 * KiB);
      await g.ok(["push", url("quota"), "main"], work);
    }
    const repo = (await p.ctx.git.repos.find("pusher", "quota"))!;
    const used = await p.ctx.git.repoSize(repo);
    const room = 1024 * KiB - used;
    expect(room).toBeGreaterThan(0);
    expect(room).toBeLessThan(250 * KiB);

    const before = await serverState("quota");
    await commitNoise(work, "over.bin", room + 20 * KiB); // under the push limit, over the quota
    const r = await g.run(["push", url("quota"), "main"], work);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      /remote: error: quota_exceeded: this push would take pusher\/quota over its size quota of 1 MiB/,
    );
    expect(await serverState("quota")).toEqual(before);

    // Over its quota (say the operator lowered it, or packs grew): even a tiny push is refused
    // at ref discovery, and git prints the reason.
    fs.writeFileSync(path.join(gitDir("quota"), "objects", "pack", "extra.tmp"), Buffer.alloc(400 * KiB));
    p.ctx.git.sizes.forget(gitDir("quota"));
    await g.ok(["reset", "-q", "--hard", "HEAD~1"], work);
    await commitNoise(work, "tiny.bin", 10);
    const full = await g.run(["push", url("quota"), "main"], work);
    expect(full.code).not.toBe(0);
    expect(full.stderr).toMatch(
      /remote: quota_exceeded: pusher\/quota is over its size quota \(1\.\d MiB of 1 MiB\)/,
    );
    expect(full.stderr).toContain("507");
    expect((await serverState("quota")).refs).toBe(before.refs);
  });
});

describe("malformed smart-HTTP bodies", () => {
  beforeAll(() => pushedRepo("proto"));

  const post = (service: string, body: Buffer | string, headers: Record<string, string> = {}) =>
    fetch(`${p.url}/pusher/proto.git/${service}`, {
      method: "POST",
      headers: {
        authorization: basic(),
        "content-type": `application/x-${service}-request`,
        ...headers,
      },
      body: typeof body === "string" ? body : new Uint8Array(body),
    });

  const zero = "0".repeat(40);
  // Objects, not arrays: jest reads a test function with more parameters than a row as `done`.
  const bad: Array<{
    what: string;
    service: string;
    body: Buffer | string;
    headers?: Record<string, string>;
  }> = [
    { what: "receive-pack: not pkt-line at all", service: "git-receive-pack", body: "hello, world\n" },
    { what: "receive-pack: a bad length header", service: "git-receive-pack", body: "zzzzpayload" },
    { what: "receive-pack: the reserved length 0003", service: "git-receive-pack", body: "0003" },
    { what: "receive-pack: empty", service: "git-receive-pack", body: "" },
    {
      what: "receive-pack: commands without their flush",
      service: "git-receive-pack",
      body: `0068${zero} ${"1".repeat(40)} refs/heads/x\0report-status`,
    },
    {
      what: "receive-pack: gzip of garbage",
      service: "git-receive-pack",
      body: gzipSync("garbage!"),
      headers: { "content-encoding": "gzip" },
    },
    {
      what: "receive-pack: not gzip at all",
      service: "git-receive-pack",
      body: "0000",
      headers: { "content-encoding": "gzip" },
    },
    { what: "upload-pack: not pkt-line", service: "git-upload-pack", body: "GET / HTTP/1.1\r\n" },
    { what: "upload-pack: a truncated first packet", service: "git-upload-pack", body: "0032want " },
  ];
  it.each(bad)("answers 400 malformed_request ($what)", async ({ service, body, headers }) => {
    const res = await post(service, body, headers);
    expect(res.status).toBe(400);
    const json = (await res.json()) as { error: { code: string; message: string } };
    expect(json.error.code).toBe("malformed_request");
    expect(json.error.message).toMatch(/not a git smart-HTTP request body|not valid gzip/);
  });

  it("still takes git's own probe (a lone flush packet)", async () => {
    const res = await post("git-receive-pack", "0000");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-git-receive-pack-result");
  });

  it("leaves the repository intact", async () => {
    expect((await serverState("proto")).fsck).toBe("");
    const dest = path.join(g.home, "proto-clone");
    await g.ok(["clone", "-q", url("proto"), dest]);
    expect(fs.readFileSync(path.join(dest, "README.md"), "utf8")).toBe("# proto\n");
  });
});
