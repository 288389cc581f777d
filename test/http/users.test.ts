/** The users API against a real server: creating, listing, suspending, inviting, profiles, audit. */
import { ensureAdmin } from "../../app/platform";
import { call, createAccount, uniqueName } from "../helpers/accounts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";

let p: TestPlatform;
const admin = (method: string, path: string, body?: unknown) => call(p.url, p.token, method, path, body);
const count = async (sql: string, params: unknown[] = []) =>
  Number((await p.ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params)).rows[0]!.n);
const auditOf = async (action: string) =>
  (
    await p.ctx.db.query<{ actor: string; target: string; details: unknown }>(
      "SELECT actor, target, details FROM audit_log WHERE action = $1 ORDER BY id",
      [action],
    )
  ).rows;

beforeAll(async () => {
  p = await startTestPlatform();
});
afterAll(() => p.close());

describe("the first start", () => {
  it("gives the admin's username and a one-time password link, only once", async () => {
    expect(p.firstAdmin?.username).toBe("admin");
    const url = new URL(p.firstAdmin!.passwordUrl);
    expect(`${url.origin}${url.pathname}`).toBe(`${p.url}/password`);
    expect(url.searchParams.get("token")).toMatch(/^plinv_/);
    const links = await p.ctx.db.query(
      "SELECT 1 FROM invites i JOIN users u ON u.id = i.user_id WHERE u.username = 'admin' AND i.used_at IS NULL",
    );
    expect(links.rowCount).toBe(1);
    expect(await ensureAdmin(p.ctx)).toBeUndefined(); // a later start makes neither token nor link
    expect((await p.ctx.db.query("SELECT 1 FROM invites WHERE user_id IS NOT NULL")).rowCount).toBe(1);
  });
});

describe("creating users", () => {
  it("creates a user with a password, stored as Argon2id, and audits it", async () => {
    const r = await admin("POST", "/api/admin/users", {
      username: "alice",
      full_name: "Alice A.",
      email: "alice@example.com",
      password: "correct horse battery",
    });
    expect(r.status).toBe(201);
    expect(r.body.password_url).toBeUndefined();
    expect(r.body.user).toMatchObject({
      username: "alice",
      full_name: "Alice A.",
      email: "alice@example.com",
      kind: "user",
      admin: false,
      suspended: false,
      has_password: true,
      locked_until: null,
    });
    const row = (
      await p.ctx.db.query<{ password_hash: string }>(
        "SELECT password_hash FROM users WHERE username = 'alice'",
      )
    ).rows[0]!;
    expect(row.password_hash).toMatch(/^\$argon2id\$/);
    expect(row.password_hash).not.toContain("correct horse");
    const entries = await auditOf("user.created");
    expect(entries).toContainEqual({
      actor: "admin",
      target: "alice",
      details: { admin: false, setup: "password" },
    });
    expect(JSON.stringify(await p.ctx.db.query("SELECT * FROM audit_log"))).not.toContain("correct horse");
  });

  it("without a password, answers a one-time password link (stored hashed)", async () => {
    const r = await admin("POST", "/api/admin/users", { username: "bob", admin: true });
    expect(r.status).toBe(201);
    expect(r.body.user).toMatchObject({ username: "bob", admin: true, has_password: false });
    const url = new URL(r.body.password_url);
    expect(`${url.origin}${url.pathname}`).toBe(`${p.url}/password`);
    const secret = url.searchParams.get("token")!;
    expect(secret).toMatch(/^plinv_/);
    const invites = await p.ctx.db.query<{ user_id: number }>(
      "SELECT user_id::int AS user_id FROM invites WHERE user_id = $1",
      [r.body.user.id],
    );
    expect(invites.rows).toHaveLength(1);
    expect(JSON.stringify((await p.ctx.db.query("SELECT * FROM invites")).rows)).not.toContain(secret);
    expect(JSON.stringify((await p.ctx.db.query("SELECT * FROM audit_log")).rows)).not.toContain(secret);
  });

  it("refuses bad and taken names, bad emails and passwords, leaving nothing behind", async () => {
    await p.ctx.db.query("INSERT INTO users (username, kind) VALUES ('acme', 'org')");
    const users = await count("users");
    const audits = await count("audit_log");
    const cases: Array<[unknown, number, string]> = [
      [{ username: "api" }, 400, "invalid_name"],
      [{ username: "-dash" }, 400, "invalid_name"],
      [{ username: "a/b" }, 400, "invalid_name"],
      [{ username: "x".repeat(41) }, 400, "invalid_name"],
      [{ username: "ALICE" }, 409, "name_taken"],
      [{ username: "Acme" }, 409, "name_taken"],
      [{ username: "carol", email: "not an address" }, 400, "bad_request"],
      [{ username: "carol", password: "short" }, 400, "bad_request"],
      [{ username: "carol", is_admin: true }, 400, "invalid_request"],
      [{ username: 42 }, 400, "invalid_request"],
    ];
    for (const [body, status, code] of cases) {
      const r = await admin("POST", "/api/admin/users", body);
      expect({ body, status: r.status, code: r.body.error.code }).toEqual({ body, status, code });
    }
    expect(await count("users")).toBe(users);
    expect(await count("audit_log")).toBe(audits);
  });

  it("is for site admins with the admin scope only", async () => {
    const plain = await createAccount(p, {});
    const scoped = await createAccount(p, { admin: true, scopes: ["repo:admin", "user"] });
    expect((await call(p.url, undefined, "POST", "/api/admin/users", { username: "eve" })).status).toBe(401);
    const notAdmin = await plain.api("POST", "/api/admin/users", { username: "eve" });
    expect(notAdmin.status).toBe(403);
    expect(notAdmin.body.error.code).toBe("admin_only");
    const noScope = await scoped.api("GET", "/api/admin/users");
    expect(noScope.status).toBe(403);
    expect(noScope.body.error).toMatchObject({ code: "missing_scope", missing_scope: "admin" });
    expect(await count("users WHERE username = 'eve'")).toBe(0);
  });

  it("lists people (not organizations) for admins", async () => {
    const r = await admin("GET", "/api/admin/users");
    expect(r.status).toBe(200);
    const names = r.body.map((u: { username: string }) => u.username);
    expect(names).toEqual(expect.arrayContaining(["admin", "alice", "bob"]));
    expect(names).not.toContain("acme");
    expect(r.body.find((u: { username: string }) => u.username === "alice")).toMatchObject({
      email: "alice@example.com",
      locked_until: null,
    });
  });
});

describe("suspension", () => {
  it("stops a user's cached token at once, ends their sessions, and is undone by unsuspending", async () => {
    const dave = await createAccount(p, { username: "dave" });
    expect((await dave.api("GET", "/api/user")).status).toBe(200); // now cached
    await p.ctx.db.query(
      "INSERT INTO browser_sessions (id_hash, user_id, expires_at) VALUES ($1, $2, now() + interval '1 day')",
      [Buffer.alloc(32, 7), dave.user.id],
    );
    const s = await admin("POST", "/api/admin/users/Dave/suspend");
    expect(s.status).toBe(200);
    expect(s.body).toMatchObject({ username: "dave", suspended: true });
    const refused = await dave.api("GET", "/api/user");
    expect(refused.status).toBe(401);
    expect(await count("browser_sessions WHERE user_id = $1", [dave.user.id])).toBe(0);
    // Twice: nothing more happens, nothing more is recorded.
    expect((await admin("POST", "/api/admin/users/dave/suspend")).status).toBe(200);
    expect((await auditOf("user.suspended")).filter((e) => e.target === "dave")).toHaveLength(1);
    expect(
      (await admin("GET", "/api/admin/users")).body.find((u: { id: number }) => u.id === dave.user.id),
    ).toMatchObject({ suspended: true });
    const u = await admin("DELETE", "/api/admin/users/dave/suspend");
    expect(u.body).toMatchObject({ suspended: false });
    expect((await dave.api("GET", "/api/user")).status).toBe(200);
    expect((await auditOf("user.unsuspended")).map((e) => e.target)).toEqual(["dave"]);
  });

  it("refuses suspending yourself, an organization and nobody", async () => {
    const self = await admin("POST", "/api/admin/users/admin/suspend");
    expect(self.status).toBe(422);
    expect(self.body.error.code).toBe("cannot_suspend_self");
    expect((await admin("POST", "/api/admin/users/acme/suspend")).status).toBe(404);
    expect((await admin("POST", "/api/admin/users/nobody/suspend")).status).toBe(404);
    expect(await count("users WHERE suspended_at IS NOT NULL")).toBe(0);
  });
});

describe("invites", () => {
  it("makes single-use sign-up links, lists them without their secret, and audits them", async () => {
    const r = await admin("POST", "/api/admin/invites");
    expect(r.status).toBe(201);
    const url = new URL(r.body.url);
    expect(`${url.origin}${url.pathname}`).toBe(`${p.url}/signup`);
    const secret = url.searchParams.get("invite")!;
    expect(secret).toMatch(/^plinv_/);
    expect(new Date(r.body.expires_at).getTime()).toBeGreaterThan(Date.now() + 6 * 24 * 3600_000);
    const list = await admin("GET", "/api/admin/invites");
    expect(list.body[0]).toEqual({
      id: r.body.id,
      created_at: r.body.created_at,
      expires_at: r.body.expires_at,
      used_at: null,
    });
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expect((await auditOf("invite.created")).map((e) => e.target)).toContain(`invite ${r.body.id}`);
    // Password links (user_id set) are not sign-up invites.
    expect(list.body.every((i: { id: number }) => i.id === r.body.id)).toBe(true);
    const plain = await createAccount(p, {});
    expect((await plain.api("POST", "/api/admin/invites")).status).toBe(403);
  });
});

describe("profiles and the caller", () => {
  it("shows public profiles of people and organizations, without email", async () => {
    const r = await call(p.url, undefined, "GET", "/api/users/ALICE");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      id: expect.any(Number),
      username: "alice",
      full_name: "Alice A.",
      kind: "user",
      admin: false,
      created_at: expect.any(String),
    });
    expect((await call(p.url, undefined, "GET", "/api/users/acme")).body.kind).toBe("org");
    expect((await call(p.url, undefined, "GET", "/api/users/nobody")).status).toBe(404);
  });

  it("GET /api/user says who the token is and what it may do", async () => {
    const reader = await createAccount(p, { email: "r@example.com", scopes: ["repo:read"] });
    const me = await reader.api("GET", "/api/user");
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      username: reader.user.username,
      email: "r@example.com",
      scopes: ["repo:read"],
      via: "token",
    });
    expect((await admin("GET", "/api/user")).body).toMatchObject({
      username: "admin",
      scopes: null,
      admin: true,
    });
    expect((await call(p.url, undefined, "GET", "/api/user")).status).toBe(401);
  });
});

describe("the audit log API", () => {
  it("pages newest first, filters by action, and refuses bad queries and non-admins", async () => {
    for (let i = 0; i < 3; i++) await admin("POST", "/api/admin/users", { username: uniqueName("paged") });
    const page = await admin("GET", "/api/admin/audit?action=user.created");
    expect(page.status).toBe(200);
    const ids = page.body.entries.map((e: { id: number }) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(page.body.entries.every((e: { action: string }) => e.action === "user.created")).toBe(true);
    expect(page.body.entries[0]).toMatchObject({ actor: "admin", ip: expect.any(String) });
    const older = await admin("GET", `/api/admin/audit?action=user.created&before=${ids[1]}`);
    expect(older.body.entries[0].id).toBe(ids[2]);
    // The first admin's own creation is the oldest entry, with no actor.
    const all = await admin("GET", "/api/admin/audit?action=user.created");
    expect(all.body.entries.at(-1)).toMatchObject({ actor: null, target: "admin" });
    for (const q of ["?before=abc", "?before=-1", "?action=nope", "?limit=5"]) {
      expect((await admin("GET", `/api/admin/audit${q}`)).status).toBe(400);
    }
    const plain = await createAccount(p, {});
    expect((await plain.api("GET", "/api/admin/audit")).status).toBe(403);
    // Nothing secret anywhere in it.
    const text = JSON.stringify((await p.ctx.db.query("SELECT * FROM audit_log")).rows);
    expect(text).not.toMatch(/plue_|plinv_|\$argon2/);
  });
});
