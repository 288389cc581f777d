/**
 * The account pages in a real browser against a real server: signing in with a password (an
 * HttpOnly cookie session, CSRF header on every change), a token created, shown once and revoked,
 * an admin creating a user who sets a password through the link, repository settings (a
 * collaborator, private), organizations, invites, the audit log with its filter and paging, and
 * signing out (the session is over on the server, not only in the browser).
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { audit } from "../../app/auth/audit";
import { hashPassword } from "../../app/auth/passwords";
import { createUser } from "../../app/auth/tokens";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";
import { launchBrowser, newContext, waitForTitle, withScreenshots } from "./browser";

let p: TestPlatform;
let browser: Browser;
/** Contexts signed in as the admin and as alice (one cookie jar each). */
let admin: BrowserContext & { errors: string[] };
let alice: BrowserContext & { errors: string[] };
const ADMIN_PASSWORD = "admin correct horse";
const ALICE_PASSWORD = "alice battery staple";

async function setPassword(username: string, password: string): Promise<void> {
  await p.ctx.db.query("UPDATE users SET password_hash = $1 WHERE username = $2", [
    await hashPassword(password),
    username,
  ]);
}

/** Signs a context in through /login, the way a person does. */
async function signInWithPassword(
  context: BrowserContext,
  username: string,
  password: string,
): Promise<Page> {
  const page = await context.newPage();
  await page.goto("/login");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  // Off /login (whose menu already names someone signed in before), to the home page.
  await page.waitForURL(`${p.url}/`);
  await page.getByText(`Signed in as ${username}`).waitFor();
  return page;
}

/** Waits until `read()` equals `expected` (the last value is asserted, so a failure shows it). */
async function eventually<T>(read: () => Promise<T>, expected: T, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let value = await read();
  while (JSON.stringify(value) !== JSON.stringify(expected) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    value = await read();
  }
  expect(value).toEqual(expected);
}

/**
 * Browser-side failures, without the console's note of each 4xx answer: those are the API's
 * refusals the tests provoke (a wrong password, an unknown user), which the page shows.
 */
const unexpected = (errors: string[]) =>
  errors.filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e));

/** Calls the API as a script would. */
const api = (path: string, init: RequestInit = {}) => fetch(p.url + path, init);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  [p, browser] = await Promise.all([startTestPlatform(), launchBrowser()]);
  await setPassword("admin", ADMIN_PASSWORD);
  await createUser(p.ctx.db, "alice");
  await setPassword("alice", ALICE_PASSWORD);
  [admin, alice] = await Promise.all([newContext(browser, p.url), newContext(browser, p.url)]);
});
afterAll(async () => {
  await browser?.close();
  await p?.close();
});

const test = (name: string, fn: () => Promise<void>) =>
  it(name, () => withScreenshots(alice, name, () => withScreenshots(admin, name, fn)));

test("signs in with a password: a wrong one is refused in the server's words, the right one sets an HttpOnly cookie", async () => {
  const page = await alice.newPage();
  await page.goto("/login");
  await waitForTitle(page, "Sign in · Plue");
  // No IdP configured: no SSO button; the token sign-in is folded away.
  expect(await page.getByRole("link", { name: "Sign in with SSO" }).count()).toBe(0);
  expect(await page.getByLabel("API token").isVisible()).toBe(false);
  await page.getByLabel("Username").fill("alice");
  await page.getByLabel("Password", { exact: true }).fill("not the password");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("alert").filter({ hasText: "wrong username or password" }).waitFor();
  expect(await alice.cookies()).not.toContainEqual(expect.objectContaining({ name: "plue_session" }));

  await page.getByLabel("Password", { exact: true }).fill(ALICE_PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL(`${p.url}/`);
  await page.getByText("Signed in as alice").waitFor();
  const session = (await alice.cookies()).find((c) => c.name === "plue_session");
  expect(session).toMatchObject({ httpOnly: true, sameSite: "Lax" });
  // The script never holds a credential: nothing in localStorage, the cookie invisible to it.
  expect(await page.evaluate(() => [localStorage.length, document.cookie.includes("plue_session")])).toEqual([
    0,
    false,
  ]);
  expect(unexpected(alice.errors)).toEqual([]);
  await page.close();
});

test("creates a token, shows it once, and revokes it", async () => {
  const page = await alice.newPage();
  await page.goto("/settings/tokens");
  await page.getByText("You have no tokens.").waitFor();
  await page.getByLabel("Name").fill("laptop <b>git</b>");
  await page.getByRole("checkbox", { name: /^repo:write / }).check();
  await page.getByRole("button", { name: "Create token" }).click();
  const secret = page.locator(".shown-once input.secret");
  await secret.waitFor();
  const token = await secret.inputValue();
  expect(token).toMatch(/^plue_/);
  await page.getByText("it is shown only this once").waitFor();
  // The name is text, not markup; the list shows it with its scopes.
  const row = page.locator("table.tokens tbody tr", { hasText: "laptop <b>git</b>" });
  await row.waitFor();
  expect(await row.locator("td").nth(1).textContent()).toBe("repo:read, repo:write");
  expect(await page.locator("table.tokens b").count()).toBe(0);

  // A repo-only token may not manage tokens (scope `user`), but works for repositories.
  expect((await api("/api/user/tokens", { headers: bearer(token) })).status).toBe(403);
  expect((await api("/api/repos", { headers: bearer(token) })).status).toBe(200);

  // Shown once: a reload lists the token but never its secret.
  await page.reload();
  await row.waitFor();
  expect(await page.content()).not.toContain(token);

  await page.getByRole("button", { name: "Revoke laptop <b>git</b>" }).click();
  await page.getByText("You have no tokens.").waitFor();
  expect((await api("/api/repos", { headers: bearer(token) })).status).toBe(401);
  await page.close();
});

test("an admin creates a user and sees the password link once; the user sets a password with it", async () => {
  const page = await signInWithPassword(admin, "admin", ADMIN_PASSWORD);
  await page.goto("/admin/users");
  await page.locator("table.users tr[data-user=alice]").waitFor();
  await page.getByLabel("Username").fill("bob");
  await page.getByLabel("Full name (optional)").fill("Bob <img src=x onerror=alert(1)>");
  await page.getByRole("button", { name: "Create user" }).click();
  const link = page.locator(".shown-once input.secret");
  await link.waitFor();
  const url = await link.inputValue();
  expect(url).toMatch(new RegExp(`^${p.url}/password\\?token=`));
  const bob = page.locator("table.users tr[data-user=bob]");
  await bob.getByText("no password").waitFor();
  expect(await bob.locator("td").nth(1).textContent()).toBe("Bob <img src=x onerror=alert(1)>");
  expect(await page.locator("table.users img").count()).toBe(0);

  // Bob opens the link in his own browser: the secret leaves the address bar; he sets a password.
  const bobs = await newContext(browser, p.url);
  try {
    const bp = await bobs.newPage();
    await bp.goto(url);
    await bp.getByRole("heading", { name: "Set your password" }).waitFor();
    expect(bp.url()).toBe(`${p.url}/password`);
    await bp.getByLabel("Password", { exact: true }).fill("bob's long passphrase");
    await bp.getByLabel("Password again").fill("bob's long passphrase!");
    await bp.getByRole("button", { name: "Set password" }).click();
    await bp.getByRole("alert").filter({ hasText: "The two passwords differ." }).waitFor();
    await bp.getByLabel("Password again").fill("bob's long passphrase");
    await bp.getByRole("button", { name: "Set password" }).click();
    await bp.getByText("Signed in as bob").waitFor();
    // The link was single-use.
    await bp.goto(url);
    await bp.getByLabel("Password", { exact: true }).fill("another long passphrase");
    await bp.getByLabel("Password again").fill("another long passphrase");
    await bp.getByRole("button", { name: "Set password" }).click();
    await bp.getByRole("alert").filter({ hasText: "already used" }).waitFor();
  } finally {
    await bobs.close();
  }

  // Suspended, then back.
  await page.reload();
  await bob.getByText("active").waitFor();
  await page.getByRole("button", { name: "Suspend bob" }).click();
  await bob.getByText("suspended").waitFor();
  const row = await p.ctx.db.query<{ s: boolean }>(
    "SELECT suspended_at IS NOT NULL AS s FROM users WHERE username = 'bob'",
  );
  expect(row.rows[0]!.s).toBe(true);
  await page.getByRole("button", { name: "Unsuspend bob" }).click();
  await bob.getByText("active").waitFor();
  await page.close();
});

test("repository settings: a collaborator added, their permission changed, and the repository made private", async () => {
  await p.ctx.git.repos.create({ id: 1, username: "admin" }, { name: "proj" });
  const page = await admin.newPage();
  await page.goto("/admin/proj/settings");
  await waitForTitle(page, "Settings · admin/proj · Plue");
  await page.getByText("No collaborators yet.").waitFor();
  await page.getByLabel("Username").fill("alice");
  await page.getByLabel("Permission", { exact: true }).selectOption("read");
  await page.getByRole("button", { name: "Add collaborator" }).click();
  const perm = page.getByLabel("Permission of alice");
  await perm.waitFor();
  expect(await perm.inputValue()).toBe("read");
  await perm.selectOption("write");
  await page.waitForFunction(
    () => !document.querySelector("select[aria-label='Permission of alice']")?.hasAttribute("disabled"),
  );
  const collaborators = async () =>
    (await p.ctx.db.query<{ permission: string }>("SELECT permission FROM collaborators")).rows.map(
      (r) => r.permission,
    );
  await eventually(collaborators, ["write"]);

  // A user that does not exist: the API's message, next to the button.
  await page.getByLabel("Username").fill("nobody-here");
  await page.getByRole("button", { name: "Add collaborator" }).click();
  await page
    .getByRole("alert")
    .filter({ hasText: /nobody-here|no such user|not found/i })
    .waitFor();

  await page.getByLabel("Private: only people with access see it").check();
  await page.getByLabel("Description").fill("the <project>");
  await page.getByRole("button", { name: "Save settings" }).click();
  await page.getByText("Saved.").waitFor();
  await page.locator(".repo-header .badge-private").waitFor();
  expect((await api("/api/repos/admin/proj")).status).toBe(404);
  const repo = await (await api("/api/repos/admin/proj", { headers: bearer(p.token) })).json();
  expect(repo).toMatchObject({ visibility: "private", description: "the <project>" });
  expect(unexpected(admin.errors)).toEqual([]);

  // Alice, a collaborator with write, sees the private repository and who works on it, but may
  // not change its settings: the server's refusal, in place; nothing changed.
  const ap = await alice.newPage();
  await ap.goto("/admin/proj/settings");
  await ap.getByLabel("Permission of alice").waitFor();
  await ap.getByLabel("Description").fill("mine now");
  await ap.getByRole("button", { name: "Save settings" }).click();
  await ap.getByRole("alert").filter({ hasText: /admin/ }).waitFor();
  const after = await (await api("/api/repos/admin/proj", { headers: bearer(p.token) })).json();
  expect(after.description).toBe("the <project>");
  await ap.close();
  await page.close();
});

test("organizations: created from the page, members added, promoted and removed by an owner", async () => {
  const page = await admin.newPage();
  await page.goto("/orgs/new");
  await page.getByLabel("Name", { exact: true }).fill("acme");
  await page.getByRole("button", { name: "Create organization" }).click();
  await page.waitForURL(`${p.url}/acme`);
  await page.locator("table.members", { hasText: "admin" }).waitFor();
  await page.getByLabel("Username").fill("alice");
  await page.getByRole("button", { name: "Add member" }).click();
  const role = page.getByLabel("Role of alice");
  await role.waitFor();
  expect(await role.inputValue()).toBe("member");
  await role.selectOption("owner");
  const roles = async () =>
    (
      await p.ctx.db.query<{ role: string }>(
        "SELECT m.role FROM org_members m JOIN users u ON u.id = m.user_id WHERE u.username = 'alice'",
      )
    ).rows.map((r) => r.role);
  await eventually(roles, ["owner"]);
  await page.getByRole("button", { name: "Remove alice" }).click();
  await page.getByLabel("Role of alice").waitFor({ state: "detached" });
  await eventually(roles, []);

  // A member creates a repository owned by the organization (private by default).
  await page.getByLabel("Repository name").fill("site");
  await page.getByRole("button", { name: "Create repository" }).click();
  await page.waitForURL(`${p.url}/acme/site`);
  await page.locator(".repo-header .badge-private").waitFor();
  await page.goto("/acme");
  await page.getByRole("link", { name: "acme/site" }).waitFor();

  // A team: alice (a member again) gets write on acme/site through it, and sees the private repository.
  await page.getByLabel("Username").fill("alice");
  await page.getByRole("button", { name: "Add member" }).click();
  await page.getByLabel("Role of alice").waitFor();
  await page.getByLabel("Team name").fill("web devs");
  await page.getByLabel("Team permission").selectOption("write");
  await page.getByRole("button", { name: "Create team" }).click();
  const team = page.locator('li.team[data-team="web devs"]');
  await team.getByText("write").waitFor();
  await team.getByLabel("Add a member to web devs").fill("alice");
  await team.getByRole("button", { name: "Add" }).first().click();
  await team.getByRole("link", { name: "alice" }).waitFor();
  await team.getByLabel("Add a repository to web devs").fill("site");
  await team.getByRole("button", { name: "Add" }).nth(1).click();
  await team.getByRole("link", { name: "site" }).waitFor();
  const ap = await alice.newPage();
  await ap.goto("/acme/site");
  await ap.locator(".repo-header .badge-private").waitFor();
  await ap.goto("/acme");
  await ap.locator('li.team[data-team="web devs"]').waitFor();
  expect(await ap.getByRole("button", { name: "Create team" }).count()).toBe(0); // a member, not an owner
  await ap.close();
  await team.getByRole("button", { name: "Remove alice from web devs" }).click();
  await team.getByRole("link", { name: "alice" }).waitFor({ state: "detached" });
  await page.close();
});

test("invites: the link is shown once, listed, and signs a newcomer up", async () => {
  const page = await admin.newPage();
  await page.goto("/admin/invites");
  await page.getByRole("button", { name: "Create an invite link" }).click();
  const link = page.locator(".shown-once input.secret");
  await link.waitFor();
  const url = await link.inputValue();
  expect(url).toMatch(new RegExp(`^${p.url}/signup\\?invite=`));
  await page.locator("table.invites tbody tr", { hasText: "open" }).waitFor();

  const carol = await newContext(browser, p.url);
  try {
    const cp = await carol.newPage();
    await cp.goto(url);
    await cp.getByRole("heading", { name: "Create an account" }).waitFor();
    expect(cp.url()).toBe(`${p.url}/signup`);
    await cp.getByLabel("Username").fill("carol");
    await cp.getByLabel("Password", { exact: true }).fill("carol's passphrase");
    await cp.getByLabel("Password again").fill("carol's passphrase");
    await cp.getByRole("button", { name: "Create account" }).click();
    await cp.getByText("Signed in as carol").waitFor();
  } finally {
    await carol.close();
  }
  await page.reload();
  await page.locator("table.invites tbody tr", { hasText: "used" }).waitFor();
  await page.close();
});

test("an account locked by failed sign-ins shows as locked; the admin unlocks it", async () => {
  const attempt = (password: string) =>
    api("/api/session", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "carol", password }),
    });
  let last = 0;
  for (let i = 0; i < 12 && last !== 429; i++) last = (await attempt(`wrong ${i}`)).status;
  expect(last).toBe(429);
  const page = await admin.newPage();
  await page.goto("/admin/users");
  const carol = page.locator("table.users tr[data-user=carol]");
  await carol.getByText("locked").waitFor();
  await page.getByRole("button", { name: "Unlock carol" }).click();
  await carol.getByText("active").waitFor();
  expect(await carol.getByText("locked").count()).toBe(0);
  expect((await attempt("carol's passphrase")).status).toBe(200);
  await page.close();
});

test("the audit log lists entries as text, filters by action and pages to older ones", async () => {
  // More than a page (100) of entries, one with a hostile target.
  for (let i = 0; i < 105; i++) {
    await audit(p.ctx.db, {
      action: "repo.settings_changed",
      target: i === 0 ? "<img src=x onerror=alert(1)>" : `o/r${i}`,
    });
  }
  const page = await admin.newPage();
  await page.goto("/admin/audit");
  await waitForTitle(page, "Audit log · Plue");
  const rows = page.locator("table.audit tbody tr");
  await rows.first().waitFor();
  expect(await rows.count()).toBe(100);
  await page.getByRole("button", { name: "Older entries" }).click();
  await eventually(async () => (await rows.count()) > 100, true);
  await page.locator("table.audit td", { hasText: "<img src=x onerror=alert(1)>" }).waitFor();
  expect(await page.locator("table.audit img").count()).toBe(0);

  await page.getByLabel("Action").selectOption("signin.failed");
  // alice's one wrong password, and carol's until her lockout: nothing else.
  const actions = async () => [...new Set(await rows.locator("td:nth-child(3)").allTextContents())];
  await eventually(actions, ["signin.failed"]);
  expect(await rows.count()).toBeGreaterThan(1);
  const targets = await rows.locator("td:nth-child(4)").allTextContents();
  expect(new Set(targets)).toEqual(new Set(["alice", "carol"]));
  expect(page.url()).toBe(`${p.url}/admin/audit?action=signin.failed`);
  await page.getByLabel("Action").selectOption("token.created");
  await eventually(actions, ["token.created"]);
  await page.locator("table.audit tbody tr", { hasText: "alice" }).first().waitFor();
  expect(unexpected(admin.errors)).toEqual([]);

  // Not an admin: the page says so, and shows nothing.
  const ap = await alice.newPage();
  await ap.goto("/admin/audit");
  await ap.getByText("This page is for administrators.").waitFor();
  await ap.close();
  await page.close();
});

test("signed in by cookie, the older pages change things too: a repository, a chat and its first message", async () => {
  const page = await alice.newPage();
  await page.goto("/");
  await page.getByRole("heading", { name: "Your repositories" }).waitFor();
  // alice is in acme: it is offered as an owner, after herself (the default).
  await page.getByLabel("Owner").waitFor();
  expect(await page.getByLabel("Owner").locator("option").allTextContents()).toEqual(["alice", "acme"]);
  await page.locator("#repo-name").fill("notes");
  await page.getByRole("button", { name: "Create repository" }).click();
  await page.waitForURL(`${p.url}/alice/notes`);
  expect(await p.ctx.git.repos.find("alice", "notes")).toBeDefined();

  await page.goto("/");
  await page.getByRole("button", { name: "Start a chat" }).click();
  await page.waitForURL(/\/sessions\/[0-9a-f-]{36}$/);
  // The client library's POST carries the CSRF header too (through the page's fetch).
  const run = page.waitForResponse((r) => r.request().method() === "POST" && r.url().endsWith("/run"));
  await page.getByLabel("Message").fill("hello");
  await page.getByLabel("Message").press("Enter");
  expect((await run).status()).toBeLessThan(400);
  expect(unexpected(alice.errors)).toEqual([]);
  await page.close();
});

test("a page whose CSRF token went stale (signed in again in another tab) asks for a new one and goes on", async () => {
  const page = await alice.newPage();
  await page.goto("/settings/tokens");
  const create = async (name: string) => {
    await page.getByLabel("Name").fill(name);
    await page.getByRole("button", { name: "Create token" }).click();
    await page.locator("table.tokens tbody tr", { hasText: name }).waitFor();
  };
  await create("first");
  const before = (await alice.cookies()).find((c) => c.name === "plue_session")!.value;
  await (await signInWithPassword(alice, "alice", ALICE_PASSWORD)).close();
  expect((await alice.cookies()).find((c) => c.name === "plue_session")!.value).not.toBe(before);
  await create("second");
  expect(await page.getByRole("alert").filter({ hasText: /\S/ }).count()).toBe(0);
  await page.close();
});

test("signs out: the session ends on the server, not only in this browser", async () => {
  const cookie = (await alice.cookies()).find((c) => c.name === "plue_session")!;
  const page = await alice.newPage();
  await page.goto("/");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("navigation", { name: "Account" }).getByRole("link", { name: "Sign in" }).waitFor();
  const old = await api("/api/session", { headers: { cookie: `plue_session=${cookie.value}` } });
  expect(old.status).toBe(401);
  await page.goto("/settings/tokens");
  await page.locator("#main").getByRole("link", { name: "Sign in" }).waitFor();
  await page.close();
});
