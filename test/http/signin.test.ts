/**
 * Browser sign-in against a real server and database: password sign-in, the cookie and what it
 * may do, CSRF and origin checks, sign-out, suspension, timing, lockouts, git, two replicas.
 * Sign-up and password links: signup.test.ts.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ACCOUNT_FAILURES, lockedUntil } from "../../app/auth/signin-limits";
import { loadConfig } from "../../app/config";
import { openDb } from "../../app/db";
import { startPlatform } from "../../app/platform";
import { CookieJar, setCookies } from "../helpers/cookies";
import { createPostgresDatabase } from "../helpers/db";
import { startTestPlatform, type TestPlatform, testLogger } from "../helpers/platform";
import { addUser, auditOf, Browser, errorCode, PASSWORD } from "../helpers/signin";

const repoCount = async (p: TestPlatform, name: string) =>
  Number(
    (
      await p.ctx.db.query<{ n: number }>("SELECT count(*)::int AS n FROM repositories WHERE name = $1", [
        name,
      ])
    ).rows[0]!.n,
  );

describe("browser sign-in (PLUE_SIGNUP=invite)", () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startTestPlatform({ PLUE_SIGNUP: "invite" });
  });
  afterAll(() => p.close());

  it("signs in with a password: an HttpOnly, SameSite=Lax cookie whose secret is stored only hashed", async () => {
    const id = await addUser(p, "alice");
    const b = new Browser(p);
    const res = await b.signIn("ALICE"); // names are case-insensitive
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      user: { id: number; username: string; via: string; scopes: unknown };
      csrf_token: string;
    };
    expect(body.user).toMatchObject({ id, username: "alice", via: "session", scopes: null });
    expect(body.csrf_token).toMatch(/\S{20,}/);
    const session = setCookies(res).find((c) => c.name === "plue_session")!;
    expect(session.attributes).toMatchObject({ httponly: true, samesite: "Lax", path: "/" });
    expect(session.attributes.secure).toBeUndefined(); // plain http here
    const rows = await p.ctx.db.query<{ id_hash: Buffer }>(
      "SELECT id_hash FROM browser_sessions WHERE user_id = $1",
      [id],
    );
    expect(Buffer.from(rows.rows[0]!.id_hash).toString("hex")).toBe(
      createHash("sha256").update(session.value).digest("hex"),
    );
    expect(
      JSON.stringify((await p.ctx.db.query("SELECT ip, user_agent FROM browser_sessions")).rows),
    ).not.toContain(session.value);
    expect((await auditOf(p, "signin.succeeded")).map((r) => r.target)).toContain("alice");
  });

  it("marks the cookie Secure when the request came over HTTPS (a proxy on loopback says so)", async () => {
    await addUser(p, "sec");
    const res = await fetch(`${p.url}/api/session`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-proto": "https" },
      body: JSON.stringify({ username: "sec", password: PASSWORD }),
    });
    expect(res.status).toBe(200);
    const names = setCookies(res)
      .filter((c) => c.attributes.secure)
      .map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(["plue_session", "plue_csrf"]));
  });

  it("GET /api/session answers the user and a CSRF token; without a cookie it is a 401", async () => {
    const b = new Browser(p);
    await b.signIn("alice");
    const res = await b.fetch("/api/session");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { user: { username: string }; csrf_token: string };
    expect(body.user.username).toBe("alice");
    expect(body.csrf_token.length).toBeGreaterThan(20);
    expect((await fetch(`${p.url}/api/session`)).status).toBe(401);
    // A cookie that names no session is anonymous (and cleared).
    const bogus = await fetch(`${p.url}/api/session`, {
      headers: { cookie: `plue_session=plses_${"A".repeat(43)}` },
    });
    expect(bogus.status).toBe(401);
    expect(setCookies(bogus).find((c) => c.name === "plue_session")?.attributes["max-age"]).toBe("0");
  });

  it("ends a session unused for 7 days, or 30 days after sign-in, and deletes its row", async () => {
    const id = await addUser(p, "idle");
    for (const column of ["last_seen_at", "expires_at"]) {
      const b = new Browser(p);
      await b.signIn("idle"); // not resolved (cached) yet: the next request reads the row
      const hash = createHash("sha256").update(b.jar.get("plue_session")!).digest();
      await p.ctx.db.query(
        `UPDATE browser_sessions SET ${column} = now() - interval '8 days' WHERE id_hash = $1`,
        [hash],
      );
      expect((await b.fetch("/api/session")).status).toBe(401);
      expect(
        (await p.ctx.db.query("SELECT 1 FROM browser_sessions WHERE id_hash = $1", [hash])).rows,
      ).toHaveLength(0);
    }
    expect(
      (await p.ctx.db.query("SELECT 1 FROM browser_sessions WHERE user_id = $1", [id])).rows,
    ).toHaveLength(0);
  });

  it("treats hostile cookie values as no session, never as an error", async () => {
    for (const value of [
      "%ZZ",
      "plses_",
      `plses_${"x".repeat(5000)}`,
      "plue_notasession",
      '"quoted"',
      "plses_../../etc",
    ]) {
      const res = await fetch(`${p.url}/api/session`, {
        headers: { cookie: `plue_session=${value}; other=1` },
      });
      expect(res.status).toBe(401);
    }
    const twice = await fetch(`${p.url}/api/repos`, {
      headers: { cookie: "plue_session=a; plue_session=b" },
    });
    expect(twice.status).toBe(401);
  });

  it("a cookie user has every scope; an Authorization header wins over the cookie", async () => {
    const b = new Browser(p);
    await b.signIn("alice");
    expect((await b.fetch("/api/repos")).status).toBe(200);
    const bad = await b.fetch("/api/session", { headers: { authorization: "Bearer plue_wrong" } });
    expect(bad.status).toBe(401);
    const asAdmin = await b.fetch("/api/repos", {
      method: "POST",
      json: { name: "by-token" },
      headers: { authorization: `Bearer ${p.token}` },
    });
    expect(asAdmin.status).toBe(201); // a token needs no CSRF token
    expect(
      (
        await p.ctx.db.query(
          "SELECT 1 FROM repositories r JOIN users u ON u.id = r.owner_id WHERE r.name = 'by-token' AND u.username = 'admin'",
        )
      ).rows,
    ).toHaveLength(1);
  });

  it("refuses a state-changing cookie request without the right CSRF token, and changes nothing", async () => {
    const b = new Browser(p);
    await b.signIn("alice");
    const other = new Browser(p);
    await other.signIn("alice");
    for (const token of [undefined, "", "nope", `${b.csrf}x`, other.csrf]) {
      const headers: Record<string, string> = token === undefined ? {} : { "x-csrf-token": token };
      const res = await b.fetch("/api/repos", { method: "POST", json: { name: "csrf-target" }, headers });
      expect(res.status).toBe(403);
      expect(await errorCode(res)).toBe("csrf_failed");
    }
    // The header alone, without the csrf cookie, is not enough either.
    const noCookie = await fetch(`${p.url}/api/repos`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        cookie: `plue_session=${b.jar.get("plue_session")}`,
        "x-csrf-token": b.csrf,
      },
      body: JSON.stringify({ name: "csrf-target" }),
    });
    expect(noCookie.status).toBe(403);
    expect(await repoCount(p, "csrf-target")).toBe(0);
    const ok = await b.send("/api/repos", "POST", { name: "csrf-target" });
    expect(ok.status).toBe(201);
    expect(await repoCount(p, "csrf-target")).toBe(1);
  });

  it("refuses cookie requests from another origin (Origin or Sec-Fetch-Site), and cross-site sign-ins", async () => {
    const b = new Browser(p);
    await b.signIn("alice");
    for (const headers of [
      { origin: "http://evil.example" },
      { origin: "null" },
      { "sec-fetch-site": "cross-site" },
    ] as Record<string, string>[]) {
      const res = await b.send("/api/repos", "POST", { name: "xo-target" }, headers);
      expect(res.status).toBe(403);
      expect(await errorCode(res)).toBe("cross_origin");
    }
    expect(await repoCount(p, "xo-target")).toBe(0);
    expect(
      (await b.send("/api/repos", "POST", { name: "xo-target" }, { origin: new URL(p.url).origin })).status,
    ).toBe(201);
    const login = await fetch(`${p.url}/api/session`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: "http://evil.example" },
      body: JSON.stringify({ username: "alice", password: PASSWORD }),
    });
    expect(login.status).toBe(403);
  });

  it("sign-out deletes the session server-side: the old cookie is anonymous at once", async () => {
    const b = new Browser(p);
    await b.signIn("alice");
    const stolen = b.jar.header();
    const csrf = b.csrf;
    expect((await b.fetch("/api/session")).status).toBe(200); // cached now
    expect((await b.fetch("/api/session", { method: "DELETE" })).status).toBe(403); // sign-out needs the token too
    const out = await b.send("/api/session", "DELETE");
    expect(out.status).toBe(204);
    expect(b.jar.get("plue_session")).toBeUndefined();
    const hash = createHash("sha256").update(CookieJar.from(stolen).get("plue_session")!).digest();
    expect(
      (await p.ctx.db.query("SELECT 1 FROM browser_sessions WHERE id_hash = $1", [hash])).rows,
    ).toHaveLength(0);
    expect((await fetch(`${p.url}/api/session`, { headers: { cookie: stolen } })).status).toBe(401);
    const replay = await fetch(`${p.url}/api/repos`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie: stolen, "x-csrf-token": csrf },
      body: JSON.stringify({ name: "after-signout" }),
    });
    expect(replay.status).toBe(401);
    expect(await repoCount(p, "after-signout")).toBe(0);
    expect((await auditOf(p, "signout")).map((r) => r.actor)).toContain("alice");
  });

  it("a suspended user cannot sign in, and their sessions stop", async () => {
    const id = await addUser(p, "sue");
    const b = new Browser(p);
    await b.signIn("sue");
    expect((await b.fetch("/api/session")).status).toBe(200);
    await p.ctx.db.query("UPDATE users SET suspended_at = now() WHERE id = $1", [id]);
    await p.ctx.auth.changed(`user:${id}`);
    expect((await b.fetch("/api/session")).status).toBe(401);
    expect(
      (await p.ctx.db.query("SELECT 1 FROM browser_sessions WHERE user_id = $1", [id])).rows,
    ).toHaveLength(0);
    const again = await new Browser(p).signIn("sue");
    expect(again.status).toBe(403);
    expect(await errorCode(again)).toBe("suspended");
    const wrong = await new Browser(p).signIn("sue", "wrong password!");
    expect(wrong.status).toBe(401); // the wrong password learns nothing
  });

  it("answers no-such-user and wrong-password alike, in about the same time, never logging the password", async () => {
    await addUser(p, "timed");
    const time = async (username: string, password: string) => {
      const t = performance.now();
      const res = await new Browser(p).signIn(username, password);
      const ms = performance.now() - t;
      expect(res.status).toBe(401);
      return { ms, body: await res.json() };
    };
    const wrong: number[] = [];
    const missing: number[] = [];
    let bodies: unknown[] = [];
    for (let i = 0; i < 5; i++) {
      const a = await time("timed", `wrong-password-${i}`);
      const b = await time(`nobody-${i}`, `wrong-password-${i}`);
      wrong.push(a.ms);
      missing.push(b.ms);
      bodies = [a.body, b.body];
    }
    expect(bodies[0]).toEqual(bodies[1]);
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[2]!;
    // Both hash (Argon2id takes milliseconds); loosely equal: within a factor of 3.
    expect(median(missing)).toBeGreaterThan(median(wrong) / 3);
    expect(median(wrong)).toBeGreaterThan(median(missing) / 3);
    const failed = await auditOf(p, "signin.failed");
    expect(failed.map((r) => r.target)).toEqual(expect.arrayContaining(["timed", "nobody-0"]));
    expect(JSON.stringify((await p.ctx.db.query("SELECT * FROM audit_log")).rows)).not.toContain(
      "wrong-password",
    );
  });

  it(`locks an account after ${ACCOUNT_FAILURES} failures (429 even for the right password) until an admin unlocks it`, async () => {
    const bobId = await addUser(p, "bob");
    await addUser(p, "carol");
    for (let i = 0; i < ACCOUNT_FAILURES; i++)
      expect((await new Browser(p).signIn("bob", "not the password")).status).toBe(401);
    const locked = await new Browser(p).signIn("bob");
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(60);
    expect(await lockedUntil(p.ctx.db, "bob")).not.toBeNull();
    expect(await lockedUntil(p.ctx.db, "carol")).toBeNull();
    expect((await auditOf(p, "signin.locked")).map((r) => r.target)).toContain("bob");

    const admin = { authorization: `Bearer ${p.token}` };
    const list = await fetch(`${p.url}/api/admin/lockouts`, { headers: admin });
    expect(list.status).toBe(200);
    const { lockouts } = (await list.json()) as { lockouts: Array<{ username: string; until: string }> };
    expect(lockouts.map((l) => l.username)).toEqual(["bob"]);
    expect(Date.parse(lockouts[0]!.until)).toBeGreaterThan(Date.now());
    // The admin users list shows it too.
    const listed = (await (await fetch(`${p.url}/api/admin/users`, { headers: admin })).json()) as Array<{
      username: string;
      locked_until: string | null;
    }>;
    expect(listed.find((u) => u.username === "bob")?.locked_until).toBe(lockouts[0]!.until);
    expect(listed.find((u) => u.username === "carol")?.locked_until).toBeNull();

    // Not for anyone else, and not with the cookie of a non-admin.
    const carol = new Browser(p);
    await carol.signIn("carol");
    expect((await carol.fetch("/api/admin/lockouts")).status).toBe(403);
    expect((await carol.send("/api/admin/lockouts/bob", "DELETE")).status).toBe(403);
    expect((await fetch(`${p.url}/api/admin/lockouts`)).status).toBe(401);

    const unlock = await fetch(`${p.url}/api/admin/lockouts/bob`, { method: "DELETE", headers: admin });
    expect(unlock.status).toBe(204);
    expect((await auditOf(p, "user.unlocked")).map((r) => [r.actor, r.target])).toContainEqual([
      "admin",
      "bob",
    ]);
    expect(
      (await fetch(`${p.url}/api/admin/lockouts/bob`, { method: "DELETE", headers: admin })).status,
    ).toBe(404);
    const back = await new Browser(p).signIn("bob");
    expect(back.status).toBe(200);
    expect(((await back.json()) as { user: { id: number } }).user.id).toBe(bobId);
  });

  it("with the cookie and its CSRF token, a person sees themselves and makes a token that then works alone", async () => {
    const b = new Browser(p);
    await b.signIn("alice");
    const me = (await (await b.fetch("/api/user")).json()) as {
      username: string;
      via: string;
      scopes: unknown;
    };
    expect(me).toMatchObject({ username: "alice", via: "session", scopes: null });
    expect(
      (await b.fetch("/api/user/tokens", { method: "POST", json: { name: "x", scopes: ["repo:read"] } }))
        .status,
    ).toBe(403);
    const made = await b.send("/api/user/tokens", "POST", { name: "laptop", scopes: ["repo:read"] });
    expect(made.status).toBe(201);
    const { token } = (await made.json()) as { token: string };
    const asToken = await fetch(`${p.url}/api/user`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await asToken.json()) as { via: string }).via).toBe("token");
  });

  it("never accepts the cookie for git over HTTP", async () => {
    const b = new Browser(p);
    await b.signIn("alice");
    expect((await b.send("/api/repos", "POST", { name: "secret-repo", visibility: "private" })).status).toBe(
      201,
    );
    const refs = await b.fetch("/alice/secret-repo.git/info/refs?service=git-upload-pack");
    expect([401, 404]).toContain(refs.status);
  });

  it("says how to sign in", async () => {
    const res = await fetch(`${p.url}/api/auth/providers`);
    expect(await res.json()).toEqual({ password: true, signup: "invite" });
  });
});

// Replicas share sessions through the database and drop cached ones through NOTIFY. Needs a Postgres
// server (scripts/test.sh starts one; without it createPostgresDatabase fails saying so).
describe("two replicas on one Postgres", () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  const replicas: TestPlatform[] = [];
  const replica = async (): Promise<TestPlatform> => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-test-"));
    const config = loadConfig(
      { PLUE_DATA_DIR: dataDir, PLUE_SEED_DEMO: "false", LOG_LEVEL: "silent" },
      { port: 0 },
    );
    const db = await openDb({ url: database.url, poolSize: 4 });
    const platform = await startPlatform(config, { db, log: testLogger() });
    const r = { ...platform, token: platform.adminToken ?? "", dataDir };
    replicas.push(r);
    return r;
  };
  beforeAll(async () => {
    database = await createPostgresDatabase();
  });
  afterAll(async () => {
    for (const r of replicas) await r.close();
    await database?.drop();
  });

  it("a session and its CSRF token work on every replica, and sign-out on one ends it on the other at once", async () => {
    const a = await replica();
    const b = await replica();
    await addUser(a, "rita");
    const onA = new Browser(a);
    expect((await onA.signIn("rita")).status).toBe(200);
    const onB = new Browser(b);
    onB.jar = onA.jar;
    onB.csrf = onA.csrf;
    expect((await onB.fetch("/api/session")).status).toBe(200); // B caches the session now
    expect((await onB.send("/api/repos", "POST", { name: "from-b" })).status).toBe(201);
    const cookie = onA.jar.header();
    expect((await onA.send("/api/session", "DELETE")).status).toBe(204);
    const start = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - start < 2000) {
      status = (await fetch(`${b.url}/api/session`, { headers: { cookie } })).status;
    }
    expect(status).toBe(401); // well within the cache's 30 s lifetime
  });
});
