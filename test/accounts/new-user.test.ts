/**
 * Issue 17's "done when", tried as a new user would, against two replicas on one Postgres: the admin
 * invites a second user, who signs up and signs in with a password, creates a `repo:read` token and
 * clones a private repository shared with them as `read`. A push with that token fails naming the
 * missing scope; given `write` (and a `repo:write` token) they push; removed, they get 404 on the
 * other replica within a second. The audit log shows each step. Real git, real HTTP, real Postgres.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../../app/config";
import { openDb } from "../../app/db";
import { type Platform, startPlatform } from "../../app/platform";
import type { AuditPage, BrowserSessionView, CreatedInvite, CreatedToken } from "../../app/wire/accounts";
import { cloneUrl, createRepo, GitClient } from "../git/client";
import { CookieJar } from "../helpers/cookies";
import { createPostgresDatabase } from "../helpers/db";
import { testLogger } from "../helpers/platform";

let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
let a: Platform;
let b: Platform;
let admin: string;
let dataDir: string;
const git = new GitClient();

/** Replicas share the database and the repositories' volume, as in a deployment. */
const replica = async () =>
  startPlatform(
    loadConfig(
      { PLUE_DATA_DIR: dataDir, PLUE_SEED_DEMO: "false", LOG_LEVEL: "silent", DATABASE_URL: database.url },
      { port: 0 },
    ),
    { db: await openDb({ url: database.url, poolSize: 4 }), log: testLogger() },
  );

beforeAll(async () => {
  database = await createPostgresDatabase();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-accounts-"));
  a = await replica();
  b = await replica();
  admin = a.adminToken!;
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await database?.drop();
  git.cleanup();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function api<T>(
  base: string,
  method: string,
  p: string,
  init: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${base}${p}`, {
    method,
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  return { status: res.status, res, body: (text ? JSON.parse(text) : undefined) as T };
}

/** A browser on one origin: its cookies (session and CSRF) and the CSRF token it was given. */
class Browser {
  readonly jar = new CookieJar();
  csrf = "";
  constructor(readonly base: string) {}

  async send<T>(method: string, p: string, body?: unknown) {
    const headers: Record<string, string> = { origin: this.base };
    if (this.jar.cookies.size > 0) headers.cookie = this.jar.header();
    if (this.csrf && method !== "GET") headers["x-csrf-token"] = this.csrf;
    const r = await api<T>(this.base, method, p, { body, headers });
    this.jar.take(r.res);
    return r;
  }
}

it("invite → sign up → sign in → read token clones → push refused naming repo:write → write pushes → removed is 404 on the other replica", async () => {
  // The admin invites Bob.
  const invite = await api<CreatedInvite>(a.url, "POST", "/api/admin/invites", { token: admin, body: {} });
  expect(invite.status).toBe(201);
  const secret = new URL(invite.body.url).searchParams.get("invite")!;

  // Bob signs up with the invite, then signs in with his password in a fresh browser.
  const password = "correct horse battery staple";
  const signup = await new Browser(a.url).send("POST", "/api/signup", {
    invite: secret,
    username: "bob",
    password,
  });
  expect(signup.status).toBe(201);
  const browser = new Browser(a.url);
  const signin = await browser.send<BrowserSessionView>("POST", "/api/session", {
    username: "bob",
    password,
  });
  expect(signin.status).toBe(200);
  expect(browser.jar.get("plue_session")).toBeDefined();
  browser.csrf = signin.body.csrf_token;

  // A read-only token, made in the browser.
  const read = await browser.send<CreatedToken>("POST", "/api/user/tokens", {
    name: "laptop",
    scopes: ["repo:read"],
  });
  expect(read.status).toBe(201);
  expect(read.body.scopes).toEqual(["repo:read"]);

  // The admin's private repository, shared with Bob as read.
  await createRepo(a.url, admin, { name: "secret", visibility: "private" });
  const src = await git.repoWith("src", { "README.md": "# secret\n" });
  await git.ok(["push", "-q", cloneUrl(a.url, "admin", "secret", admin, "admin"), "main"], src);
  expect(
    (
      await api(a.url, "PUT", "/api/repos/admin/secret/collaborators/bob", {
        token: admin,
        body: { permission: "read" },
      })
    ).status,
  ).toBe(200);

  // Bob clones with username:token and the read token.
  const clone = path.join(git.home, "bob-clone");
  await git.ok(["clone", "-q", cloneUrl(b.url, "admin", "secret", read.body.token, "bob"), clone]);
  expect(fs.readFileSync(path.join(clone, "README.md"), "utf8")).toBe("# secret\n");

  // His push with that token is refused, and git shows why.
  fs.writeFileSync(path.join(clone, "CHANGE.md"), "bob was here\n");
  await git.ok(["add", "-A"], clone);
  await git.ok(["commit", "-q", "-m", "bob's change"], clone);
  const refused = await git.run(["push", "-q", "origin", "main"], clone);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain("repo:write");

  // Given write, and a token that may write, he pushes.
  expect(
    (
      await api(a.url, "PUT", "/api/repos/admin/secret/collaborators/bob", {
        token: admin,
        body: { permission: "write" },
      })
    ).status,
  ).toBe(200);
  const write = await browser.send<CreatedToken>("POST", "/api/user/tokens", {
    name: "push",
    scopes: ["repo:write"],
  });
  expect(write.status).toBe(201);
  await git.ok(["push", "-q", cloneUrl(b.url, "admin", "secret", write.body.token, "bob"), "main"], clone);

  // Removed on replica A, he sees 404 on replica B within a second.
  const readOnB = () => api(b.url, "GET", "/api/repos/admin/secret", { token: write.body.token });
  expect((await readOnB()).status).toBe(200); // B has cached his access
  expect(
    (await api(a.url, "DELETE", "/api/repos/admin/secret/collaborators/bob", { token: admin })).status,
  ).toBe(204);
  const removedAt = Date.now();
  let status = (await readOnB()).status;
  while (status !== 404 && Date.now() - removedAt < 1000) {
    await new Promise((r) => setTimeout(r, 20));
    status = (await readOnB()).status;
  }
  expect(status).toBe(404);
  expect(
    (await git.run(["ls-remote", cloneUrl(b.url, "admin", "secret", write.body.token, "bob")])).code,
  ).not.toBe(0);

  // The audit log shows every step, and no secret.
  const audit = await api<AuditPage>(b.url, "GET", "/api/admin/audit", { token: admin });
  expect(audit.status).toBe(200);
  const steps = audit.body.entries.map((e) => `${e.action} ${e.target ?? ""}`.trim()).reverse();
  for (const step of [
    "invite.created",
    "invite.used",
    "signin.succeeded bob",
    "token.created",
    "repo.created admin/secret",
    "collaborator.set admin/secret",
    "collaborator.removed admin/secret",
  ]) {
    expect(steps.some((s) => s.startsWith(step))).toBe(true);
  }
  const text = JSON.stringify(audit.body);
  for (const secretValue of [password, read.body.token, write.body.token, secret])
    expect(text).not.toContain(secretValue);
});
