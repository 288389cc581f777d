/**
 * Personal access tokens against a real server: scopes, expiry, revocation and suspension (on a
 * cached token too), the 422s that store nothing, and git over HTTP with `username:token`.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../../app/config";
import { openDb } from "../../app/db";
import { type Platform, startPlatform } from "../../app/platform";
import { cloneUrl, createRepo, GitClient } from "../git/client";
import { call, createAccount, createTokenFor, type TestAccount } from "../helpers/accounts";
import { createPostgresDatabase } from "../helpers/db";
import { startTestPlatform, type TestPlatform, testLogger } from "../helpers/platform";

let p: TestPlatform;
let alice: TestAccount;
const admin = (method: string, path: string, body?: unknown) => call(p.url, p.token, method, path, body);
const tokenRows = async () =>
  Number((await p.ctx.db.query<{ n: number }>("SELECT count(*)::int AS n FROM api_tokens")).rows[0]!.n);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  p = await startTestPlatform();
  alice = await createAccount(p, { username: "alice", scopes: ["repo:admin", "user"] });
});
afterAll(() => p.close());

describe("creating and listing tokens", () => {
  it("creates a scoped token shown once, lists it without the secret, and audits it", async () => {
    const r = await alice.api("POST", "/api/user/tokens", {
      name: "laptop",
      scopes: ["repo:read", "repo:read"],
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      name: "laptop",
      scopes: ["repo:read"],
      expires_at: null,
      last_used_at: null,
    });
    expect(r.body.token).toMatch(/^plue_/);
    const list = await alice.api("GET", "/api/user/tokens");
    expect(list.body.map((t: { id: number }) => t.id)).toContain(r.body.id);
    expect(JSON.stringify(list.body)).not.toContain(r.body.token);
    const entry = (
      await p.ctx.db.query<{ actor: string; target: string; details: Record<string, unknown> }>(
        "SELECT actor, target, details FROM audit_log WHERE action = 'token.created' AND target = $1",
        [`token ${r.body.id}`],
      )
    ).rows[0];
    expect(entry).toMatchObject({
      actor: "alice",
      details: { owner: "alice", name: "laptop", scopes: ["repo:read"] },
    });
    expect(JSON.stringify((await p.ctx.db.query("SELECT * FROM audit_log")).rows)).not.toContain(
      r.body.token,
    );
    // The new token works, may say who it is, and may not manage tokens (no `user` scope).
    const me = await call(p.url, r.body.token, "GET", "/api/user");
    expect(me.body).toMatchObject({ username: "alice", scopes: ["repo:read"] });
    const denied = await call(p.url, r.body.token, "GET", "/api/user/tokens");
    expect(denied.status).toBe(403);
    expect(denied.body.error).toMatchObject({ code: "missing_scope", missing_scope: "user" });
    expect(denied.body.error.message).toContain("user");
  });

  it("refuses scopes a token can't have with 422 (and beyond the caller's own with 403), storing nothing", async () => {
    const before = await tokenRows();
    const audits = Number(
      (await p.ctx.db.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_log")).rows[0]!.n,
    );
    const cases: Array<[unknown, number, string]> = [
      [{ name: "x", scopes: ["admin"] }, 422, "scope_not_allowed"],
      [{ name: "x", scopes: ["repo:read", "root"] }, 422, "invalid_scope"],
      [{ name: "x", scopes: [] }, 422, "invalid_scope"],
      [{ name: "x", scopes: ["repo:read"], expires_at: "2001-01-01T00:00:00Z" }, 422, "invalid_expiry"],
      [{ name: "x", scopes: ["repo:read"], expires_at: "tomorrow" }, 400, "bad_request"],
      [{ name: "", scopes: ["repo:read"] }, 400, "bad_request"],
      [{ name: "x", scopes: "repo:read" }, 400, "invalid_request"],
      [{ name: "x", scopes: ["repo:read"], user_id: 1 }, 400, "invalid_request"],
    ];
    for (const [body, status, code] of cases) {
      const r = await alice.api("POST", "/api/user/tokens", body);
      expect({ body, status: r.status, code: r.body.error.code }).toEqual({ body, status, code });
    }
    // A repo:read + user token can't mint a repo:write one.
    const narrow = await createTokenFor(p, "alice", ["repo:read", "user"]);
    const wider = await call(p.url, narrow.token, "POST", "/api/user/tokens", {
      name: "w",
      scopes: ["repo:write"],
    });
    expect(wider.status).toBe(403);
    expect(wider.body.error.missing_scope).toBe("repo:write");
    // The admin can't give a non-admin the admin scope either.
    const viaAdmin = await admin("POST", "/api/admin/users/alice/tokens", { name: "a", scopes: ["admin"] });
    expect(viaAdmin.status).toBe(422);
    expect(await tokenRows()).toBe(before + 1); // only `narrow`
    const after = Number(
      (await p.ctx.db.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_log")).rows[0]!.n,
    );
    expect(after).toBe(audits + 1);
  });

  it("lets a site admin hold the admin scope, and requires it on /api/admin", async () => {
    const boss = await createAccount(p, { admin: true, scopes: ["user"] });
    const r = await boss.api("POST", "/api/user/tokens", { name: "ops", scopes: ["admin"] });
    expect(r.status).toBe(403); // the `user` token itself lacks admin
    const full = await createTokenFor(p, boss.user.username, ["admin", "user"]);
    expect(
      (await call(p.url, full.token, "POST", "/api/user/tokens", { name: "ops", scopes: ["admin"] })).status,
    ).toBe(201);
    expect((await call(p.url, full.token, "GET", "/api/admin/users")).status).toBe(200);
    const noAdmin = await boss.api("GET", "/api/admin/users");
    expect(noAdmin.body.error).toMatchObject({ code: "missing_scope", missing_scope: "admin" });
  });
});

describe("tokens that stop working", () => {
  it("an expired token is refused, even while cached", async () => {
    // Long enough for the first use to land before it on a loaded machine.
    const soon = new Date(Date.now() + 4000).toISOString();
    const t = await createTokenFor(p, "alice", ["repo:read"], soon);
    expect(t.expires_at).toBe(soon);
    expect((await call(p.url, t.token, "GET", "/api/user")).status).toBe(200); // cached now
    await sleep(Math.max(0, Date.parse(soon) - Date.now()) + 100);
    const r = await call(p.url, t.token, "GET", "/api/user");
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe("unauthorized");
  });

  it("a revoked token stops at once; another's token can't be revoked", async () => {
    const t = await createTokenFor(p, "alice", ["repo:read"]);
    expect((await call(p.url, t.token, "GET", "/api/user")).status).toBe(200); // cached now
    const bob = await createAccount(p, { username: "bob" });
    expect((await bob.api("DELETE", `/api/user/tokens/${t.id}`)).status).toBe(404);
    expect((await call(p.url, t.token, "GET", "/api/user")).status).toBe(200);
    expect((await alice.api("DELETE", `/api/user/tokens/${t.id}`)).status).toBe(204);
    expect((await call(p.url, t.token, "GET", "/api/user")).status).toBe(401);
    expect((await alice.api("DELETE", `/api/user/tokens/${t.id}`)).status).toBe(404);
    expect((await alice.api("DELETE", "/api/user/tokens/abc")).status).toBe(400);
    expect((await alice.api("GET", "/api/user/tokens")).body.map((x: { id: number }) => x.id)).not.toContain(
      t.id,
    );
    const revoked = (
      await p.ctx.db.query("SELECT actor, target FROM audit_log WHERE action = 'token.revoked'")
    ).rows;
    expect(revoked).toEqual([{ actor: "alice", target: `token ${t.id}` }]);
  });

  it("a suspended user's cached token stops at once, over the API and git", async () => {
    const carol = await createAccount(p, { username: "carol" });
    await createRepo(p.url, carol.token, { name: "notes", visibility: "private" });
    const g = new GitClient();
    try {
      const url = cloneUrl(p.url, "carol", "notes", carol.token, "carol");
      expect((await g.run(["ls-remote", url])).code).toBe(0); // cached now
      expect((await admin("POST", "/api/admin/users/carol/suspend")).status).toBe(200);
      expect((await carol.api("GET", "/api/user")).status).toBe(401);
      const refused = await g.run(["ls-remote", url]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/Authentication failed|401/);
    } finally {
      g.cleanup();
    }
  });

  it("records last_used_at off the hot path", async () => {
    const t = await createTokenFor(p, "alice", ["repo:read"]);
    await call(p.url, t.token, "GET", "/api/user");
    let used: string | null = null;
    for (let i = 0; i < 50 && !used; i++) {
      await sleep(20);
      used = (await alice.api("GET", "/api/user/tokens")).body.find(
        (x: { id: number }) => x.id === t.id,
      ).last_used_at;
    }
    expect(used).not.toBeNull();
  });
});

describe("git over HTTP with username:token", () => {
  let g: GitClient;
  beforeAll(async () => {
    g = new GitClient();
    await createRepo(p.url, alice.token, { name: "secret", visibility: "private" });
    const dir = await g.repoWith("src", { "README.md": "hello\n" });
    await g.ok(["push", "-q", cloneUrl(p.url, "alice", "secret", alice.token, "alice"), "main"], dir);
  });
  afterAll(() => g.cleanup());

  it.each(["alice", "ALICE", "x-access-token", "oauth2", "token", "git"])(
    "clones with the username %s",
    async (user) => {
      const dest = path.join(g.home, `clone-${user}`);
      await g.ok(["clone", "-q", cloneUrl(p.url, "alice", "secret", alice.token, user), dest]);
      expect(fs.readFileSync(path.join(dest, "README.md"), "utf8")).toBe("hello\n");
    },
  );

  it("refuses a username that is not the token's owner", async () => {
    const bob = await createAccount(p, { username: "bobby" });
    const r = await g.run([
      "clone",
      "-q",
      cloneUrl(p.url, "alice", "secret", alice.token, "bobby"),
      path.join(g.home, "nope"),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Authentication failed|401/);
    expect(fs.existsSync(path.join(g.home, "nope", "README.md"))).toBe(false);
    // The API's Basic path follows the same rule.
    const basic = (user: string, token: string) =>
      fetch(`${p.url}/api/user`, {
        headers: { authorization: `Basic ${Buffer.from(`${user}:${token}`).toString("base64")}` },
      });
    expect((await basic("bobby", alice.token)).status).toBe(401);
    expect((await basic("alice", alice.token)).status).toBe(200);
    expect((await basic("bobby", bob.token)).status).toBe(200);
  });
});

/** Two replicas on one Postgres (PGlite is one process): a change on one reaches the other's cache. */
describe("on two replicas", () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  const replicas: Platform[] = [];
  const dirs: string[] = [];
  const replica = async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-replica-"));
    dirs.push(dataDir);
    const config = loadConfig(
      { PLUE_DATA_DIR: dataDir, PLUE_SEED_DEMO: "false", LOG_LEVEL: "silent" },
      { port: 0 },
    );
    const r = await startPlatform(config, {
      db: await openDb({ url: database.url, poolSize: 4 }),
      log: testLogger(),
    });
    replicas.push(r);
    return r;
  };
  beforeAll(async () => {
    database = await createPostgresDatabase();
  });
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.close()));
    await database.drop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("revocation and suspension stop a token cached on the other replica within a second", async () => {
    const a = await replica();
    const b = await replica();
    const server = { url: a.url, token: a.adminToken! };
    const dan = await createAccount(server, { username: "dan" });
    const second = await createTokenFor(server, "dan", ["repo:read"]);
    for (const r of [a, b]) {
      expect((await call(r.url, dan.token, "GET", "/api/user")).status).toBe(200);
      expect((await call(r.url, second.token, "GET", "/api/user")).status).toBe(200);
    }
    const until = async (url: string, token: string) => {
      const start = Date.now();
      while ((await call(url, token, "GET", "/api/user")).status !== 401) {
        if (Date.now() - start > 1000) throw new Error("still accepted after a second");
        await sleep(20);
      }
    };
    expect((await call(a.url, dan.token, "DELETE", `/api/user/tokens/${second.id}`)).status).toBe(204);
    await until(b.url, second.token);
    expect((await call(b.url, a.adminToken!, "POST", "/api/admin/users/dan/suspend")).status).toBe(200);
    await until(a.url, dan.token);
  });
});
