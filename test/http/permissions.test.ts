/**
 * The repository permission matrix (docs/accounts.md, "Repository permissions"), on a real server
 * with the real git CLI over HTTP (Basic `username:token`): every role against every action, on a
 * public and a private repository of an organization, each cell one asserted status code. Then the
 * changes that move a caller between rows take effect at once.
 */
import fs from "node:fs";
import path from "node:path";
import { createApiToken, userForToken } from "../../app/auth/tokens";
import { cloneUrl, GitClient } from "../git/client";
import { type AgentPlatform, type ApiClient, startAgentPlatform } from "../helpers/agents";

// biome-ignore lint/suspicious/noExplicitAny: tests read API answers freely
type Json = any;

const ROLES = [
  "anonymous",
  "stranger",
  "reader",
  "writer",
  "admin",
  "member",
  "team",
  "owner",
  "suspended",
] as const;
type RoleName = (typeof ROLES)[number];
const ACTIONS = ["clone", "push", "blob", "session", "dispatch", "settings"] as const;
type ActionName = (typeof ACTIONS)[number];

/**
 * The expected status of each cell. Rows: anonymous; stranger (signed in, no role); read, write
 * and admin collaborators; an organization member (read, by membership); a member of a team with
 * write; an organization owner; a write collaborator whom an admin suspended (every token of theirs
 * is refused: 401, public repository or not). clone/push: the status of git's ref discovery.
 */
const MATRIX: Record<"public" | "private", Record<RoleName, Record<ActionName, number>>> = {
  public: {
    anonymous: { clone: 200, push: 401, blob: 200, session: 401, dispatch: 401, settings: 401 },
    stranger: { clone: 200, push: 403, blob: 200, session: 201, dispatch: 403, settings: 403 },
    reader: { clone: 200, push: 403, blob: 200, session: 201, dispatch: 403, settings: 403 },
    writer: { clone: 200, push: 200, blob: 200, session: 201, dispatch: 201, settings: 403 },
    admin: { clone: 200, push: 200, blob: 200, session: 201, dispatch: 201, settings: 200 },
    member: { clone: 200, push: 403, blob: 200, session: 201, dispatch: 403, settings: 403 },
    team: { clone: 200, push: 200, blob: 200, session: 201, dispatch: 201, settings: 403 },
    owner: { clone: 200, push: 200, blob: 200, session: 201, dispatch: 201, settings: 200 },
    suspended: { clone: 401, push: 401, blob: 401, session: 401, dispatch: 401, settings: 401 },
  },
  private: {
    anonymous: { clone: 401, push: 401, blob: 404, session: 401, dispatch: 401, settings: 401 },
    stranger: { clone: 404, push: 404, blob: 404, session: 404, dispatch: 404, settings: 404 },
    reader: { clone: 200, push: 403, blob: 200, session: 201, dispatch: 403, settings: 403 },
    writer: { clone: 200, push: 200, blob: 200, session: 201, dispatch: 201, settings: 403 },
    admin: { clone: 200, push: 200, blob: 200, session: 201, dispatch: 201, settings: 200 },
    member: { clone: 200, push: 403, blob: 200, session: 201, dispatch: 403, settings: 403 },
    team: { clone: 200, push: 200, blob: 200, session: 201, dispatch: 201, settings: 403 },
    owner: { clone: 200, push: 200, blob: 200, session: 201, dispatch: 201, settings: 200 },
    suspended: { clone: 401, push: 401, blob: 401, session: 401, dispatch: 401, settings: 401 },
  },
};

const WORKFLOW = `from plue import workflow, manual\n\n@workflow(triggers=[manual()])\ndef go(ctx):\n    ctx.run(name="go", cmd="true")\n`;

let p: AgentPlatform;
const git = new GitClient();
const users = {} as Record<Exclude<RoleName, "anonymous">, ApiClient>;
let work: string;
let commit: string;

/** Each row's user is called after it; the first-start admin already holds "admin". */
const username = (role: RoleName) => (role === "admin" ? "admin-collab" : role);
const as = (role: RoleName) => (role === "anonymous" ? undefined : users[role]);

/** An API request as `role` (Bearer token; none for anonymous); JSON bodies are parsed. */
async function call(
  role: RoleName,
  method: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const headers: Record<string, string> = body === undefined ? {} : { "content-type": "application/json" };
  const client = as(role);
  if (client) headers.authorization = `Bearer ${client.token}`;
  const res = await fetch(p.url + url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const json = res.headers.get("content-type")?.startsWith("application/json");
  return { status: res.status, body: json && text ? JSON.parse(text) : text };
}

/** git's ref discovery for `service`, as git sends it (Basic username:token). */
async function discovery(
  role: RoleName,
  repo: string,
  service: string,
): Promise<{ status: number; text: string }> {
  const client = as(role);
  const headers: Record<string, string> = client
    ? { authorization: `Basic ${Buffer.from(`${username(role)}:${client.token}`).toString("base64")}` }
    : {};
  const res = await fetch(`${p.url}/acme/${repo}.git/info/refs?service=${service}`, { headers });
  return { status: res.status, text: await res.text() };
}

const gitUrl = (role: RoleName, repo: string) =>
  cloneUrl(p.url, "acme", repo, as(role)?.token, username(role));

beforeAll(async () => {
  p = await startAgentPlatform();
  p.executor.script = async (r) => void (await r.event("done", { reason: "completed", outputs: {} }));
  for (const role of ROLES) if (role !== "anonymous") users[role] = await p.user(username(role));
  const owner = users.owner;
  await owner.ok("POST", "/api/orgs", { name: "acme", full_name: "Acme Inc." });
  await owner.ok("PUT", "/api/orgs/acme/members/member", { role: "member" });
  await owner.ok("PUT", "/api/orgs/acme/members/team", { role: "member" });
  await owner.ok("POST", "/api/orgs/acme/teams", { name: "writers", permission: "write" });
  await owner.ok("PUT", "/api/orgs/acme/teams/writers/members/team");
  work = await git.repoWith("work", { "README.md": "# acme\n", ".plue/workflows/go.py": WORKFLOW });
  commit = await git.ok(["rev-parse", "HEAD"], work);
  for (const [name, visibility] of [
    ["pub", "public"],
    ["priv", "private"],
  ]) {
    await owner.ok("POST", "/api/repos", { owner: "acme", name, visibility });
    await git.ok(["push", "-q", gitUrl("owner", name!), "main"], work);
    await owner.ok("PUT", `/api/orgs/acme/teams/writers/repos/${name}`);
    for (const role of ["reader", "writer", "admin", "suspended"] as const) {
      const permission = { reader: "read", writer: "write", admin: "admin", suspended: "write" }[role];
      await owner.ok("PUT", `/api/repos/acme/${name}/collaborators/${username(role)}`, { permission });
    }
  }
  const suspend = await fetch(`${p.url}/api/admin/users/suspended/suspend`, {
    method: "POST",
    headers: { authorization: `Bearer ${p.adminToken}` },
  });
  expect(suspend.status).toBe(200);
}, 60_000);
afterAll(async () => {
  await p?.close();
  git.cleanup();
});

async function perform(role: RoleName, repo: string, action: ActionName): Promise<number> {
  switch (action) {
    case "clone":
      return (await discovery(role, repo, "git-upload-pack")).status;
    case "push":
      return (await discovery(role, repo, "git-receive-pack")).status;
    case "blob":
      return (await call(role, "GET", `/api/acme/${repo}/blob/${commit}/README.md`)).status;
    case "session":
      return (await call(role, "POST", "/api/sessions", { repo: `acme/${repo}` })).status;
    case "dispatch":
      return (await call(role, "POST", `/api/repos/acme/${repo}/workflows/go/dispatch`, {})).status;
    case "settings":
      return (await call(role, "PATCH", `/api/repos/acme/${repo}`, { description: `set by ${role}` })).status;
  }
}

describe.each([
  ["public", "pub"],
  ["private", "priv"],
] as const)("on a %s repository", (visibility, repo) => {
  const cells = ROLES.flatMap((role) => ACTIONS.map((action) => [role, action] as const));
  it.each(cells)("%s: %s", async (role, action) => {
    expect({ role, action, status: await perform(role, repo, action) }).toEqual({
      role,
      action,
      status: MATRIX[visibility][role][action],
    });
  });

  it.each(ROLES)("the git CLI agrees for %s (clone, then push a branch)", async (role) => {
    const dest = path.join(git.home, `clone-${repo}-${role}`);
    const clone = await git.run(["clone", "-q", gitUrl(role, repo), dest]);
    // git sends credentials only once challenged: a public clone is anonymous, whoever asks.
    const cloneable = MATRIX[visibility].anonymous.clone === 200 || MATRIX[visibility][role].clone === 200;
    expect(clone.code === 0).toBe(cloneable);
    const push = await git.run(["push", "-q", gitUrl(role, repo), `HEAD:refs/heads/by-${role}`], work);
    expect(push.code === 0).toBe(MATRIX[visibility][role].push === 200);
    if (MATRIX[visibility][role].push === 403) {
      // git shows the text/plain body of a refused ref discovery as `remote: …`.
      expect(push.stderr).toContain(`you need write access to acme/${repo}`);
    }
    fs.rmSync(dest, { recursive: true, force: true });
  });
});

it("a repository's view names the caller's role", async () => {
  const expected = {
    anonymous: "read",
    stranger: "read",
    reader: "read",
    writer: "write",
    admin: "admin",
  } as const;
  const more = { member: "read", team: "write", owner: "admin" } as const;
  for (const [role, permission] of Object.entries({ ...expected, ...more })) {
    const got = await call(role as RoleName, "GET", "/api/repos/acme/pub");
    expect({ role, permission: got.body.permission }).toEqual({ role, permission });
  }
});

it("posting to a session about a repository needs write; reading it needs read", async () => {
  p.executor.script = async (r) => void (await r.event("done", { reason: "end_turn" }));
  for (const [role, expected] of [
    ["reader", 403],
    ["member", 403],
    ["writer", 202],
    ["team", 202],
  ] as const) {
    const session = await users[role].ok("POST", "/api/sessions", { repo: "acme/priv" });
    expect((await call(role, "GET", `/api/sessions/${session.id}/messages`)).status).toBe(200);
    const posted = await call(role, "POST", `/api/sessions/${session.id}/run`, { message: "hi" });
    expect({ role, status: posted.status }).toEqual({ role, status: expected });
    if (expected === 403) expect(posted.body.error.message).toBe("you need write access to acme/priv");
  }
});

describe("changes take effect at once", () => {
  it("a removed collaborator loses access to the private repository and its sessions", async () => {
    await users.owner.ok("PUT", "/api/repos/acme/priv/collaborators/stranger", { permission: "read" });
    expect((await call("stranger", "GET", `/api/acme/priv/blob/${commit}/README.md`)).status).toBe(200);
    const session = await users.stranger.ok("POST", "/api/sessions", { repo: "acme/priv" });
    const listed = await users.stranger.ok("GET", "/api/sessions");
    expect(listed.sessions.map((s: Json) => s.id)).toContain(session.id);
    await users.owner.ok("DELETE", "/api/repos/acme/priv/collaborators/stranger");
    expect((await call("stranger", "GET", `/api/acme/priv/blob/${commit}/README.md`)).status).toBe(404);
    expect((await call("stranger", "GET", `/api/sessions/${session.id}`)).status).toBe(404);
    const after = await users.stranger.ok("GET", "/api/sessions");
    expect(after.sessions.map((s: Json) => s.id)).not.toContain(session.id);
  });

  it("a repository made private is private at once, and public again at once", async () => {
    const blob = `/api/acme/pub/blob/${commit}/README.md`;
    expect((await call("anonymous", "GET", blob)).status).toBe(200);
    expect((await call("owner", "PATCH", "/api/repos/acme/pub", { visibility: "private" })).status).toBe(200);
    expect((await call("anonymous", "GET", blob)).status).toBe(404);
    expect((await call("anonymous", "GET", "/api/repos/acme/pub")).status).toBe(404);
    expect((await discovery("anonymous", "pub", "git-upload-pack")).status).toBe(401);
    expect((await call("owner", "PATCH", "/api/repos/acme/pub", { visibility: "public" })).status).toBe(200);
    expect((await call("anonymous", "GET", blob)).status).toBe(200);
  });

  it("a member removed from the organization loses its private repositories", async () => {
    await users.owner.ok("PUT", "/api/orgs/acme/members/stranger", { role: "member" });
    expect((await call("stranger", "GET", "/api/repos/acme/priv")).status).toBe(200);
    const mine = await users.stranger.ok("GET", "/api/repos");
    expect(mine.map((r: Json) => `${r.owner}/${r.name}`)).toEqual(["acme/priv", "acme/pub"]);
    await users.owner.ok("DELETE", "/api/orgs/acme/members/stranger");
    expect((await call("stranger", "GET", "/api/repos/acme/priv")).status).toBe(404);
    expect(await users.stranger.ok("GET", "/api/repos")).toEqual([]);
  });

  it("a team's permission changed or the team deleted changes its members' roles at once", async () => {
    await users.owner.ok("POST", "/api/orgs/acme/teams", { name: "temps", permission: "admin" });
    await users.owner.ok("PUT", "/api/orgs/acme/teams/temps/members/member");
    await users.owner.ok("PUT", "/api/orgs/acme/teams/temps/repos/priv");
    const settings = () => call("member", "PATCH", "/api/repos/acme/priv", { description: "x" });
    expect((await settings()).status).toBe(200);
    const changed = await users.owner.ok("PATCH", "/api/orgs/acme/teams/temps", { permission: "write" });
    expect(changed).toMatchObject({
      name: "temps",
      permission: "write",
      members: ["member"],
      repos: ["priv"],
    });
    expect((await settings()).status).toBe(403);
    expect((await discovery("member", "priv", "git-receive-pack")).status).toBe(200);
    expect((await users.member.request("DELETE", "/api/orgs/acme/teams/temps")).status).toBe(403);
    expect((await users.owner.request("DELETE", "/api/orgs/acme/teams/temps")).status).toBe(204);
    expect((await discovery("member", "priv", "git-receive-pack")).status).toBe(403);
    expect((await users.owner.request("DELETE", "/api/orgs/acme/teams/temps")).status).toBe(404);
  });

  it("a team taken off a repository stops granting write", async () => {
    await users.owner.ok("DELETE", "/api/orgs/acme/teams/writers/repos/priv");
    expect((await discovery("team", "priv", "git-receive-pack")).status).toBe(403);
    await users.owner.ok("PUT", "/api/orgs/acme/teams/writers/repos/priv");
    expect((await discovery("team", "priv", "git-receive-pack")).status).toBe(200);
  });
});

describe("token scopes", () => {
  it("a read-only token of a write collaborator may clone but its push is refused naming repo:write", async () => {
    const writer = (await userForToken(p.ctx.db, users.writer.token))!;
    const token = await createApiToken(p.ctx.db, writer.id, "read-only", { scopes: ["repo:read"] });
    const basic = { authorization: `Basic ${Buffer.from(`writer:${token}`).toString("base64")}` };
    const refs = (service: string) =>
      fetch(`${p.url}/acme/priv.git/info/refs?service=${service}`, { headers: basic });
    expect((await refs("git-upload-pack")).status).toBe(200);
    const refused = await refs("git-receive-pack");
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain("repo:write");
    const url = cloneUrl(p.url, "acme", "priv", token, "writer");
    const dest = path.join(git.home, "scoped-clone");
    expect((await git.run(["clone", "-q", url, dest])).code).toBe(0);
    const push = await git.run(["push", "-q", url, "HEAD:refs/heads/scoped"], work);
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain("repo:write");
    // The API refuses it the same way.
    const dispatch = await fetch(`${p.url}/api/repos/acme/priv/workflows/go/dispatch`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(dispatch.status).toBe(403);
    expect(await dispatch.json()).toMatchObject({
      error: { code: "missing_scope", missing_scope: "repo:write" },
    });
  });

  it("a role without the scope is refused with missing_scope (the rule itself)", async () => {
    const repo = (await p.ctx.git.repos.find("acme", "priv"))!;
    const writer = (await userForToken(p.ctx.db, users.writer.token))!;
    const perms = p.ctx.permissions;
    await expect(
      perms.authorize({ user: { ...writer, scopes: ["repo:read"] } }, repo, "write"),
    ).rejects.toMatchObject({ status: 403, code: "missing_scope" });
    await expect(
      perms.authorize({ user: { ...writer, scopes: ["repo:read"] } }, repo, "read"),
    ).resolves.toBeUndefined();
    await expect(
      perms.authorize({ user: { ...writer, scopes: ["user"] } }, repo, "read"),
    ).rejects.toMatchObject({
      status: 403,
      code: "missing_scope",
    });
    expect(await perms.can({ user: writer }, repo, "admin")).toBe(false);
    // A workload's task token reads its own repository, and nothing else.
    const pub = (await p.ctx.git.repos.find("acme", "pub"))!;
    expect(await perms.role({ taskRepoId: repo.id }, repo)).toBe("read");
    await expect(perms.authorize({ taskRepoId: repo.id }, repo, "write")).rejects.toMatchObject({
      status: 403,
    });
    await expect(perms.authorize({ taskRepoId: pub.id }, repo, "read")).rejects.toMatchObject({
      status: 404,
      message: "repository acme/priv not found",
    });
  });
});

describe("the collaborators, organizations and settings APIs", () => {
  it("refuses unknown users (404), organizations as collaborators (422), bad permissions (400)", async () => {
    const owner = users.owner;
    expect(
      (await owner.request("PUT", "/api/repos/acme/priv/collaborators/nobody", { permission: "read" }))
        .status,
    ).toBe(404);
    expect(
      (await owner.request("PUT", "/api/repos/acme/priv/collaborators/acme", { permission: "read" })).status,
    ).toBe(422);
    expect(
      (await owner.request("PUT", "/api/repos/acme/priv/collaborators/stranger", { permission: "root" }))
        .status,
    ).toBe(400);
    const list = await users.writer.ok("GET", "/api/repos/acme/priv/collaborators");
    expect(list).toEqual([
      { username: "admin-collab", permission: "admin" },
      { username: "reader", permission: "read" },
      { username: "suspended", permission: "write" },
      { username: "writer", permission: "write" },
    ]);
    expect((await users.reader.request("GET", "/api/repos/acme/priv/collaborators")).status).toBe(403);
  });

  it("never removes or demotes the last owner (409), and org names share the users' namespace", async () => {
    const owner = users.owner;
    expect((await owner.request("DELETE", "/api/orgs/acme/members/owner")).status).toBe(409);
    expect((await owner.request("PUT", "/api/orgs/acme/members/owner", { role: "member" })).status).toBe(409);
    expect((await owner.request("POST", "/api/orgs", { name: "READER" })).status).toBe(409);
    expect((await owner.request("POST", "/api/orgs", { name: "ACME" })).status).toBe(409);
    expect((await owner.request("POST", "/api/orgs", { name: "bad/name" })).status).toBe(400);
    expect(
      (await users.member.request("PUT", "/api/orgs/acme/members/stranger", { role: "owner" })).status,
    ).toBe(403);
    expect((await users.member.ok("GET", "/api/orgs")).map((o: Json) => o.username)).toEqual(["acme"]);
    expect(await users.stranger.ok("GET", "/api/orgs")).toEqual([]);
    expect(await users.stranger.ok("GET", "/api/orgs/acme")).toMatchObject({
      kind: "org",
      full_name: "Acme Inc.",
    });
    expect((await users.stranger.request("GET", "/api/orgs/reader")).status).toBe(404);
    const teams = await users.member.ok("GET", "/api/orgs/acme/teams");
    expect(teams).toEqual([
      {
        id: expect.any(Number),
        name: "writers",
        permission: "write",
        members: ["team"],
        repos: ["priv", "pub"],
      },
    ]);
  });

  it("members may create repositories in the organization; strangers may not", async () => {
    expect(
      (await users.member.request("POST", "/api/repos", { owner: "acme", name: "by-member" })).status,
    ).toBe(201);
    expect(
      (await users.stranger.request("POST", "/api/repos", { owner: "acme", name: "by-stranger" })).status,
    ).toBe(403);
    expect(
      (await users.stranger.request("POST", "/api/repos", { owner: "reader", name: "theirs" })).status,
    ).toBe(403);
  });

  it("validates settings and audits every change", async () => {
    const owner = users.owner;
    expect(
      (await owner.request("PATCH", "/api/repos/acme/priv", { default_branch: "bad..name" })).status,
    ).toBe(400);
    expect((await owner.request("PATCH", "/api/repos/acme/priv", { visibility: "secret" })).status).toBe(400);
    const set = await owner.ok("PATCH", "/api/repos/acme/priv", {
      default_branch: "trunk",
      description: "d",
    });
    expect(set).toMatchObject({ default_branch: "trunk", description: "d", visibility: "private" });
    const repo = (await p.ctx.git.repos.find("acme", "priv"))!;
    expect(fs.readFileSync(path.join(p.ctx.git.repos.gitDir(repo), "HEAD"), "utf8")).toBe(
      "ref: refs/heads/trunk\n",
    );
    const r = await p.ctx.db.query<{ action: string }>(
      "SELECT DISTINCT action FROM audit_log ORDER BY action",
    );
    expect(r.rows.map((x) => x.action)).toEqual(
      expect.arrayContaining([
        "collaborator.removed",
        "collaborator.set",
        "org.created",
        "org.member_removed",
        "org.member_set",
        "repo.created",
        "repo.settings_changed",
        "repo.visibility_changed",
        "team.changed",
      ]),
    );
  });
});
