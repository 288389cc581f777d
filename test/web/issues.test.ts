/**
 * Issues in a real browser against a real server (PGlite or Postgres, real git): open an issue
 * from the form, label it (the chip's colour from the label), comment, close and reopen it; the
 * list filtered by state, label and author and paged; Markdown with script rendered inert; a
 * reader sees the issue but no comment box. A screenshot of the issue page goes to
 * /work/screenshots/ for the closing note.
 */
import fs from "node:fs";
import type { Browser, BrowserContext } from "playwright-core";
import { parseRoute } from "../../web/src/routes";
import { cloneUrl, createRepo, GitClient } from "../git/client";
import { createAccount, type TestAccount } from "../helpers/accounts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";
import { launchBrowser, newContext, signIn, waitForTitle, withScreenshots } from "./browser";

const SCREENSHOTS = "/work/screenshots";

let p: TestPlatform;
let browser: Browser;
let admin: BrowserContext & { errors: string[] };
let reader: TestAccount;
const git = new GitClient();

const api = async (method: string, path: string, body?: unknown, token = p.token) => {
  const res = await fetch(p.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
};

/** Browser-side failures other than the console's note of a 4xx the test provoked. */
const unexpected = (errors: string[]) =>
  errors.filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e));

beforeAll(async () => {
  [p, browser] = await Promise.all([startTestPlatform(), launchBrowser()]);
  await createRepo(p.url, p.token, { name: "tracker" });
  const dir = await git.repoWith("tracker", { "README.md": "# tracker\n" });
  await git.ok(["push", "-q", cloneUrl(p.url, "admin", "tracker", p.token), "main"], dir);
  reader = await createAccount(p);
  admin = await newContext(browser, p.url);
  await signIn(admin, p.token);
});
afterAll(async () => {
  await browser?.close();
  await p?.close();
  git.cleanup();
});

const test = (name: string, fn: () => Promise<void>) =>
  it(name, () => withScreenshots(admin, name, fn), 60_000);

test("opens an issue from the form, labels it, comments, closes and reopens it", async () => {
  await api("POST", "/api/repos/admin/tracker/labels", {
    name: "bug",
    color: "d73a4a",
    description: "broken",
  });
  const page = await admin.newPage();
  await page.goto("/admin/tracker");
  await page.getByRole("link", { name: "Issues" }).click();
  await page.waitForURL(/\/admin\/tracker\/issues$/);
  await page.getByText("No issues match.").waitFor();
  await page.getByRole("link", { name: "New issue" }).click();
  await page.getByLabel("Title").fill("The <b>button</b> is broken");
  await page.getByLabel("Description (Markdown)").fill("It **fails** when clicked.");
  await page.getByRole("button", { name: "Open issue" }).click();
  await page.waitForURL(/\/admin\/tracker\/issues\/1$/);
  await waitForTitle(page, "The <b>button</b> is broken #1 · admin/tracker · Plue");
  // The title is text; the body is the server's rendered Markdown.
  expect(await page.locator("h1 b").count()).toBe(0);
  expect(await page.locator(".comment-body-first .markdown strong").textContent()).toBe("fails");
  expect(await page.locator(".issue-header [data-state]").textContent()).toBe("Open");

  await page.getByText("Edit labels").click();
  await page.getByRole("checkbox", { name: "bug" }).check();
  await page.getByRole("button", { name: "Apply labels" }).click();
  const chip = page.locator(".labels-section .labels .label", { hasText: "bug" });
  await chip.waitFor();
  expect(await chip.evaluate((el) => getComputedStyle(el).backgroundColor)).toBe("rgb(215, 58, 74)");
  await page.locator(".timeline-event[data-kind=labeled]", { hasText: "added the bug label" }).waitFor();

  // Assignees: an unknown name is refused with its reason and nothing changes; then admin.
  await page.getByText("Edit assignees").click();
  await page.getByLabel("Usernames, comma-separated").fill("nobody-by-this-name");
  await page.getByRole("button", { name: "Apply assignees" }).click();
  await page.getByText('no user named "nobody-by-this-name"').waitFor();
  expect((await api("GET", "/api/repos/admin/tracker/issues/1")).assignees).toEqual([]);
  await page.getByLabel("Usernames, comma-separated").fill("admin");
  await page.getByRole("button", { name: "Apply assignees" }).click();
  await page.locator(".assignees-section > p", { hasText: "admin" }).waitFor();
  await page.locator(".timeline-event[data-kind=assigned]").waitFor();

  await page.getByLabel("Add a comment (Markdown)").fill("Seen it too, with `code`.");
  await page.getByRole("button", { name: "Comment", exact: true }).click();
  await page.locator(".conversation .comment", { hasText: "Seen it too" }).locator("code").waitFor();

  await page.getByRole("button", { name: "Close issue" }).click();
  await page.locator(".issue-header [data-state=closed]", { hasText: "Closed" }).waitFor();
  await page.locator(".timeline-event[data-kind=closed]").waitFor();
  await page.getByRole("button", { name: "Reopen issue" }).waitFor();
  const issue = await api("GET", "/api/repos/admin/tracker/issues/1");
  expect(issue).toMatchObject({
    state: "closed",
    comments: 1,
    labels: [{ name: "bug" }],
    assignees: [{ username: "admin" }],
  });

  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}/issue-page.png`, fullPage: true });

  // Closed, it leaves the open list and is in the closed one.
  await page.goto("/admin/tracker/issues");
  await page.getByText("No issues match.").waitFor();
  await page.getByLabel("State").selectOption("closed");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/state=closed/);
  await page.locator(".issue-row[data-number='1']", { hasText: "The <b>button</b> is broken" }).waitFor();
  expect(unexpected(admin.errors)).toEqual([]);
  await page.close();
});

test("Markdown with script and an onerror image renders inert", async () => {
  const evil = `Hello <script>window.__pwned = 1; alert(1)</script>\n\n<img src="x" onerror="window.__pwned = 2; alert(2)">\n\n<a href="javascript:alert(3)">click</a>`;
  const { number } = await api("POST", "/api/repos/admin/tracker/issues", {
    title: "<img src=x onerror=alert(9)>",
    body: evil,
  });
  await api("POST", `/api/repos/admin/tracker/issues/${number}/comments`, { body: evil });
  const page = await admin.newPage();
  const dialogs: string[] = [];
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await page.goto(`/admin/tracker/issues/${number}`);
  await page.locator(".conversation .comment").waitFor();
  await page.waitForTimeout(300); // give a broken page the chance to run something
  expect(dialogs).toEqual([]);
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  expect(await page.locator("main script").count()).toBe(0);
  expect(await page.locator("main [onerror]").count()).toBe(0);
  expect(await page.locator('main a[href^="javascript:"]').count()).toBe(0);
  expect(await page.locator("main h1 img").count()).toBe(0);

  // A writer renames it in place; the new title is text too, and the timeline says so.
  await page.getByRole("button", { name: "Edit title" }).click();
  await page.getByLabel("Title").fill("Renamed <i>safely</i>");
  await page.getByRole("button", { name: "Save" }).click();
  await waitForTitle(page, `Renamed <i>safely</i> #${number} · admin/tracker · Plue`);
  expect(await page.locator("main h1 i").count()).toBe(0);
  await page.locator(".timeline-event[data-kind=edited]", { hasText: "changed the title from" }).waitFor();
  await page.close();
});

test("the list filters by label and author and is paged", async () => {
  const other = await createAccount(p);
  await api("PUT", `/api/repos/admin/tracker/collaborators/${other.user.username}`, { permission: "write" });
  for (let i = 0; i < 31; i++) await api("POST", "/api/repos/admin/tracker/issues", { title: `Bulk ${i}` });
  await other.api("POST", "/api/repos/admin/tracker/issues", {
    title: "From another author",
    labels: ["bug"],
  });
  const page = await admin.newPage();
  await page.goto("/admin/tracker/issues");
  await page.locator(".issue-row").first().waitFor();
  expect(await page.locator(".issue-row").count()).toBe(30);
  await page.getByRole("link", { name: "Next page" }).click();
  await page.waitForURL(/page=2/);
  await page.locator(".issue-row").first().waitFor();
  expect(await page.locator(".issue-row").count()).toBeGreaterThan(0);
  await page.getByRole("link", { name: "Previous page" }).waitFor();

  await page.goto(`/admin/tracker/issues?author=${other.user.username}`);
  await page.locator(".issue-row", { hasText: "From another author" }).waitFor();
  expect(await page.locator(".issue-row").count()).toBe(1);
  await page.goto("/admin/tracker/issues?labels=bug");
  await page.locator(".issue-row", { hasText: "From another author" }).waitFor();
  expect(await page.locator(".issue-row").count()).toBe(1);
  expect(await page.getByLabel("Labels").inputValue()).toBe("bug");
  await page.close();
});

test("a reader sees the issue but no comment box, labels editor or New issue", async () => {
  const ctx = await newContext(browser, p.url);
  try {
    await signIn(ctx, reader.token);
    // Reading is enough to react; the page shows the counts.
    expect(
      (await reader.api("POST", "/api/repos/admin/tracker/issues/1/reactions", { content: "heart" })).status,
    ).toBe(201);
    const page = await ctx.newPage();
    await page.goto("/admin/tracker/issues/1");
    await page.locator(".issue-header h1").waitFor();
    expect(await page.locator(".comment-body-first .reaction").getAttribute("aria-label")).toBe("heart: 1");
    // The reader's own heart is a toggle: taken back, then a rocket from the picker.
    await page.locator(".comment-body-first .reaction").click();
    await page.locator(".comment-body-first .reaction").waitFor({ state: "detached" });
    await page.locator(".comment-body-first .reaction-picker summary").click();
    await page.getByRole("button", { name: "React with rocket" }).click();
    await page.locator('.comment-body-first .reaction[aria-label="rocket: 1"]').waitFor();
    const issue = await reader.api("GET", "/api/repos/admin/tracker/issues/1");
    expect([issue.body.reactions.heart ?? 0, issue.body.reactions.rocket]).toEqual([0, 1]);
    expect(await page.locator("#comment-body").count()).toBe(0);
    expect(await page.getByText("Edit labels").count()).toBe(0);
    await page.goto("/admin/tracker/issues");
    await page.locator(".issue-list .issue-row, .issue-list .empty").first().waitFor();
    expect(await page.getByRole("link", { name: "New issue" }).count()).toBe(0);
    // An unknown number says so.
    await page.goto("/admin/tracker/issues/999");
    await page.getByText("There is no issue #999.").waitFor();
    expect(unexpected(ctx.errors)).toEqual([]);
  } finally {
    await ctx.close();
  }
});

describe("routes of the issue and pull request pages", () => {
  it.each([
    ["/o/r/issues", { page: "issues", owner: "o", repo: "r" }],
    ["/o/r/issues/new", { page: "issue-new", owner: "o", repo: "r" }],
    ["/o/r/issues/12", { page: "issue", owner: "o", repo: "r", number: 12 }],
    ["/o/r/pulls", { page: "pulls", owner: "o", repo: "r" }],
    ["/o/r/pulls/3", { page: "pull", owner: "o", repo: "r", number: 3, tab: "conversation" }],
    ["/o/r/pulls/3/files", { page: "pull", owner: "o", repo: "r", number: 3, tab: "files" }],
    ["/o/r/pulls/3/commits", { page: "pull", owner: "o", repo: "r", number: 3, tab: "commits" }],
    [
      "/o/r/compare/main...feature/x",
      { page: "compare", owner: "o", repo: "r", base: "main", head: "feature/x" },
    ],
    ["/o/r/compare/feature/x", { page: "compare", owner: "o", repo: "r", base: "", head: "feature/x" }],
    ["/o/r/compare", { page: "compare", owner: "o", repo: "r", base: "", head: "" }],
    // A branch called `issues` is browsed under /tree/, never mistaken for the page.
    ["/o/r/tree/issues", { page: "repo", owner: "o", repo: "r", view: "tree", rest: ["issues"] }],
  ])("%s", (path, route) => {
    expect(parseRoute(path)).toEqual(route);
  });

  it.each([
    "/o/r/issues/0",
    "/o/r/issues/01",
    "/o/r/issues/abc",
    "/o/r/issues/1/x",
    "/o/r/issues/12345678901",
    "/o/r/pulls/1/diff",
    "/o/r/pulls/-1",
    "/o/r/compare/main...",
  ])("%s is not a page", (path) => {
    expect(parseRoute(path)).toBeUndefined();
  });

  it("serves the shell for the pages and the API's 404 for what is not one", async () => {
    const page = await fetch(`${p.url}/admin/tracker/issues/new`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const missing = await fetch(`${p.url}/admin/tracker/issues/abc`);
    expect(missing.status).toBe(404);
    expect((await missing.json()).error.code).toBeDefined();
  });
});
