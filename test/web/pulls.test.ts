/**
 * Pull requests in a real browser against a real server (real git pushes over HTTP):
 * a pushed branch → "New pull request" in the branch list → the compare view → the pull request;
 * Files changed unified and split (remembered), highlighted, a rename and a binary file
 * summarised, a line comment from the "+"; a reviewer approves; a required check blocks the
 * merge (the refusal's reasons shown in place) until its status, arriving live over SSE, passes;
 * squash-merged through the merge box, which closes the linked issue. Markdown with script is
 * inert; a 500-file diff shows its first 100 files fast. Screenshots of the pull request page and
 * its files tab go to /work/screenshots/.
 */
import fs from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { cloneUrl, createRepo, GitClient } from "../git/client";
import { createAccount, type TestAccount } from "../helpers/accounts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";
import { launchBrowser, newContext, signIn, waitForTitle, withScreenshots } from "./browser";

const SCREENSHOTS = "/work/screenshots";

let p: TestPlatform;
let browser: Browser;
let admin: BrowserContext & { errors: string[] };
let reviewer: TestAccount;
let work: string;
const git = new GitClient();

const api = async (method: string, url: string, body?: unknown, token = p.token) => {
  const res = await fetch(p.url + url, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
};

const write = (file: string, content: string | Buffer) => {
  fs.mkdirSync(path.dirname(path.join(work, file)), { recursive: true });
  fs.writeFileSync(path.join(work, file), content);
};
const push = (branch: string) =>
  git.ok(["push", "-q", cloneUrl(p.url, "admin", "shop", p.token), `${branch}:${branch}`], work);

/** Waits until `read()` passes `check` (the last value is asserted, so a failure shows it). */
async function eventually<T>(
  read: () => Promise<T>,
  check: (v: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = await read();
  while (!check(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    v = await read();
  }
  expect(check(v)).toBe(true);
  return v;
}

/** Browser-side failures other than the console's note of a 4xx the test provoked. */
const unexpected = (errors: string[]) =>
  errors.filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e));

const APP_TS = `export function greet(name: string): string {\n  return "hello " + name;\n}\n`;

beforeAll(async () => {
  [p, browser] = await Promise.all([startTestPlatform(), launchBrowser()]);
  await createRepo(p.url, p.token, { name: "shop" });
  work = await git.repoWith("shop", {
    "src/app.ts": APP_TS,
    "docs/old-name.md": "# Notes\n\nSome notes that move.\n",
    "README.md": "# shop\n",
  });
  await push("main");
  await git.ok(["checkout", "-q", "-b", "feature/login"], work);
  write("src/app.ts", `${APP_TS}\nexport const login = (user: string) => greet(user) + "!";\n`);
  await git.ok(["mv", "docs/old-name.md", "docs/new-name.md"], work);
  write("logo.png", Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 1, 2, 3, 0, 255]));
  await git.ok(["add", "-A"], work);
  await git.ok(["commit", "-q", "-m", "Add login\n\nA login helper."], work);
  await push("feature/login");
  reviewer = await createAccount(p);
  await api("PUT", `/api/repos/admin/shop/collaborators/${reviewer.user.username}`, { permission: "write" });
  admin = await newContext(browser, p.url);
  await signIn(admin, p.token);
});
afterAll(async () => {
  await browser?.close();
  await p?.close();
  git.cleanup();
});

const test = (name: string, fn: () => Promise<void>, timeout = 60_000) =>
  it(name, () => withScreenshots(admin, name, fn), timeout);

let page: Page;
let number: number;

test("opens a pull request from the branch list through the compare view", async () => {
  const issue = await api("POST", "/api/repos/admin/shop/issues", { title: "Users cannot log in" });
  page = await admin.newPage();
  await page.goto("/admin/shop");
  await page.getByText("Branches (2)").click();
  await page.locator('[data-branch="feature/login"]').getByRole("link", { name: "New pull request" }).click();
  await page.waitForURL(/\/admin\/shop\/compare\/main\.\.\.feature\/login$/);
  await page.locator("li.commit", { hasText: "Add login" }).waitFor();
  await page.locator('.diff-file[data-path="src/app.ts"]').waitFor();
  // One commit: its title and body fill the form.
  expect(await page.getByLabel("Title").inputValue()).toBe("Add login");
  await page.getByLabel("Description (Markdown)").fill(`A login helper.\n\nFixes #${issue.number}`);
  await page.getByRole("button", { name: "Create pull request" }).click();
  await page.waitForURL(/\/admin\/shop\/pulls\/\d+$/);
  number = Number(new URL(page.url()).pathname.split("/").pop());
  await waitForTitle(page, `Add login #${number} · admin/shop · Plue`);
  expect(await page.locator(".pull-header [data-state]").textContent()).toBe("Open");
  expect(await page.locator(".pull-summary").textContent()).toContain("into main from feature/login");
  await page.locator(".merge-box").waitFor();
  await page.locator(".checks-box").waitFor();
  const pull = await api("GET", `/api/repos/admin/shop/pulls/${number}`);
  expect(pull).toMatchObject({ head: { ref: "feature/login" }, base: { ref: "main" }, state: "open" });
  // Comparing the same branches again leads to it instead of a second form.
  await page.goto("/admin/shop/compare/main...feature/login");
  await page.getByRole("link", { name: `Add login #${number}` }).click();
  await waitForTitle(page, `Add login #${number} · admin/shop · Plue`);
  expect(await page.getByRole("button", { name: "Create pull request" }).count()).toBe(0);
  expect(unexpected(admin.errors)).toEqual([]);
});

test("Files changed: unified and split (remembered), highlighted, a rename and a binary file summarised", async () => {
  await page.getByRole("link", { name: /Files changed/ }).click();
  await page.waitForURL(new RegExp(`/pulls/${number}/files$`));
  const app = page.locator('.diff-file[data-path="src/app.ts"]');
  await app.waitFor();
  await app.locator("table.diff-unified").waitFor();
  await app.locator("td.line-add", { hasText: "export const login" }).waitFor();
  // highlight.js ran on the file in view: its escaped output has hljs- classes.
  await app.locator("td.code [class^='hljs-']").first().waitFor();
  expect(
    await page
      .locator(".diff-file", { hasText: "docs/old-name.md" })
      .locator(".diff-file-name")
      .textContent(),
  ).toBe("docs/old-name.md → docs/new-name.md");
  await page.locator('.diff-file[data-path="logo.png"]', { hasText: "Binary file" }).waitFor();

  await page.getByRole("button", { name: "Split" }).click();
  await app.locator("table.diff-split").waitFor();
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}/pull-files-split.png`, fullPage: true });
  expect(await app.locator("table.diff-split tr").first().locator("td").count()).toBeGreaterThanOrEqual(1);
  await page.reload();
  await page.locator('.diff-file[data-path="src/app.ts"] table.diff-split').waitFor();
  await page.getByRole("button", { name: "Split" }).waitFor();
  expect(await page.getByRole("button", { name: "Split" }).getAttribute("aria-pressed")).toBe("true");
  await page.getByRole("button", { name: "Unified" }).click();
  await app.locator("table.diff-unified").waitFor();
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}/pull-files.png`, fullPage: true });
});

test("a line comment from the + shows under its line", async () => {
  const app = page.locator('.diff-file[data-path="src/app.ts"]');
  const row = app.locator("tr", { has: page.locator("td.line-add", { hasText: "export const login" }) });
  await row.getByRole("button", { name: /^Comment on line 5 \(new\)/ }).click();
  await page.getByLabel("Comment on src/app.ts line 5").fill("Should this **trim** the name?");
  await page.getByRole("button", { name: "Add comment" }).click();
  await app.locator(".row-comments .comment", { hasText: "Should this trim the name?" }).waitFor();
  const comments = await api("GET", `/api/repos/admin/shop/pulls/${number}/comments`);
  expect(comments).toEqual([
    expect.objectContaining({ path: "src/app.ts", line: 5, side: "RIGHT", outdated: false }),
  ]);
  // After a reload it is still under its line.
  await page.reload();
  await page
    .locator('.diff-file[data-path="src/app.ts"] .row-comments .comment', { hasText: "the name?" })
    .waitFor();
});

test("a reviewer approves from the files tab; the conversation shows it", async () => {
  const ctx = await newContext(browser, p.url);
  try {
    await signIn(ctx, reviewer.token);
    const rp = await ctx.newPage();
    await rp.goto(`/admin/shop/pulls/${number}/files`);
    await rp.locator('.diff-file[data-path="src/app.ts"]').waitFor();
    await rp.getByText("Review changes").click();
    await rp.getByLabel("Review summary (Markdown)").fill("Looks good to me.");
    await rp.getByRole("radio", { name: "Approve" }).check();
    await rp.getByRole("button", { name: "Submit review" }).click();
    await rp.getByRole("link", { name: /Conversation/ }).click();
    await rp.locator(".review[data-state=approved]", { hasText: "approved these changes" }).waitFor();
    expect(unexpected(ctx.errors)).toEqual([]);
  } finally {
    await ctx.close();
  }
  const reviews = await api("GET", `/api/repos/admin/shop/pulls/${number}/reviews`);
  expect(reviews).toEqual([
    expect.objectContaining({
      state: "approved",
      user: expect.objectContaining({ username: reviewer.user.username }),
    }),
  ]);
});

test("a required check blocks the merge, arrives live, and a squash merge goes through", async () => {
  await api("POST", "/api/repos/admin/shop/branch-protections", {
    pattern: "main",
    required_checks: ["ci/external"],
  });
  const pull = await api("GET", `/api/repos/admin/shop/pulls/${number}`);
  await page.goto(`/admin/shop/pulls/${number}`);
  await page.locator(".merge-box").waitFor();
  // An outside system reports, pending then success: the page shows both without a reload.
  const status = (state: string) =>
    api("POST", `/api/repos/admin/shop/statuses/${pull.head.sha}`, {
      context: "ci/external",
      state,
      description: `external ${state}`,
      target_url: "https://ci.example.com/build/1",
    });
  await status("pending");
  await page
    .locator('.check[data-check="ci/external"][data-status=running]', { hasText: "In progress" })
    .waitFor();
  expect(await page.locator('.check[data-check="ci/external"] a').getAttribute("href")).toBe(
    "https://ci.example.com/build/1",
  );

  await page.getByLabel("Merge method").selectOption("squash");
  expect(await page.getByLabel("Commit title").inputValue()).toBe(`Add login (#${number})`);
  await page.getByRole("button", { name: "Merge pull request" }).click();
  // Refused while the required check is pending: the reasons are shown in the box, nothing merged.
  await page.locator(".merge-box .blockers li", { hasText: "ci/external" }).first().waitFor();
  await page.locator(".merge-box .inline-error").filter({ hasText: /./ }).waitFor();
  expect((await api("GET", `/api/repos/admin/shop/pulls/${number}`)).merged).toBe(false);

  await status("success");
  await page
    .locator('.check[data-check="ci/external"][data-status=success]', { hasText: "Successful" })
    .waitFor();
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}/pull-page.png`, fullPage: true });

  await page.getByLabel("Merge method").selectOption("squash");
  await page.getByLabel(/Delete the branch feature\/login/).check();
  await page.getByRole("button", { name: "Merge pull request" }).click();
  await page.locator(".pull-header [data-state=merged]", { hasText: "Merged" }).waitFor();
  await page.locator(".merge-box h2", { hasText: "Merged" }).waitFor();

  const merged = await api("GET", `/api/repos/admin/shop/pulls/${number}`);
  expect(merged).toMatchObject({ merged: true, state: "closed" });
  const main = await git.ok(["ls-remote", cloneUrl(p.url, "admin", "shop", p.token)], work);
  expect(main).toContain(`${merged.merge_commit_sha}\trefs/heads/main`);
  expect(main).not.toContain("refs/heads/feature/login");
  // A squash: one commit with one parent, titled as the box said.
  await git.ok(["fetch", "-q", cloneUrl(p.url, "admin", "shop", p.token), "main"], work);
  expect(await git.ok(["log", "-1", "--format=%s %p", "FETCH_HEAD"], work)).toMatch(
    new RegExp(`^Add login \\(#${number}\\) [0-9a-f]+$`),
  );
  // "Fixes #1" in the merged pull request closed the issue.
  await eventually(
    () => api("GET", "/api/repos/admin/shop/issues/1"),
    (i) => i.state === "closed",
  );
  expect(unexpected(admin.errors)).toEqual([]);
});

test("Markdown with script in a pull request body renders inert; a draft is made ready", async () => {
  await git.ok(["checkout", "-q", "-b", "evil", "main"], work);
  write("evil.txt", "x\n");
  await git.ok(["add", "-A"], work);
  await git.ok(["commit", "-q", "-m", "evil"], work);
  await push("evil");
  const pr = await api("POST", "/api/repos/admin/shop/pulls", {
    title: "<script>alert(1)</script>",
    head: "evil",
    draft: true,
    body: `<script>window.__pwned = 1</script>\n\n<img src=x onerror="window.__pwned = 2">`,
  });
  const ep = await admin.newPage();
  const dialogs: string[] = [];
  ep.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await ep.goto(`/admin/shop/pulls/${pr.number}`);
  await ep.locator(".comment-body-first").waitFor();
  await ep.waitForTimeout(300);
  expect(dialogs).toEqual([]);
  expect(await ep.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  expect(await ep.locator("main script, main [onerror]").count()).toBe(0);
  expect(await ep.locator(".pull-header h1").textContent()).toContain("<script>alert(1)</script>");
  // A reaction to the pull request itself, from the opening post's picker.
  await ep.locator(".comment-body-first .reaction-picker summary").click();
  await ep.getByRole("button", { name: "React with hooray" }).click();
  await ep.locator('.comment-body-first .reaction[aria-label="hooray: 1"]').waitFor();
  expect((await api("GET", `/api/repos/admin/shop/pulls/${pr.number}`)).reactions).toEqual({ hooray: 1 });
  // A draft says so, and is made ready from the merge box.
  expect(await ep.locator(".pull-header [data-state]").textContent()).toBe("Draft");
  await ep.getByRole("button", { name: "Ready for review" }).click();
  await ep.locator(".pull-header [data-state=open]", { hasText: "Open" }).waitFor();
  expect((await api("GET", `/api/repos/admin/shop/pulls/${pr.number}`)).draft).toBe(false);
  await ep.close();
});

test("a 500-file diff shows its first 100 files fast, then more on request", async () => {
  await git.ok(["checkout", "-q", "-b", "big", "main"], work);
  for (let i = 0; i < 500; i++)
    write(`many/file-${String(i).padStart(3, "0")}.ts`, `export const n${i} = ${i};\n`);
  await git.ok(["add", "-A"], work);
  await git.ok(["commit", "-q", "-m", "500 files"], work);
  await push("big");
  const pr = await api("POST", "/api/repos/admin/shop/pulls", { title: "Many files", head: "big" });
  const bp = await admin.newPage();
  const started = Date.now();
  await bp.goto(`/admin/shop/pulls/${pr.number}/files`);
  await bp.locator(".diff-file").nth(99).waitFor({ state: "attached" });
  const ms = Date.now() - started;
  // The first page: 100 files; the benchmark (docs/pulls.md) measures the time, this guards it.
  expect(await bp.locator(".diff-file").count()).toBe(100);
  expect(await bp.locator(".diff-summary").textContent()).toContain("500 files changed");
  expect(ms).toBeLessThan(5000);
  console.log(`500-file pull request: first 100 files rendered in ${ms} ms`);
  await bp.getByRole("button", { name: /Load more files \(100 of 500 shown\)/ }).click();
  await bp.locator(".diff-file").nth(199).waitFor({ state: "attached" });
  expect(await bp.locator(".diff-file").count()).toBe(200);
  await bp.close();
}, 120_000);

it("the compare API answers commits and files, and refuses hostile or unknown branch names", async () => {
  await git.ok(["checkout", "-q", "-b", "topic", "main"], work);
  write("topic.md", "# topic\n");
  await git.ok(["add", "-A"], work);
  await git.ok(["commit", "-q", "-m", "Topic notes"], work);
  await push("topic");
  const ok = await api("GET", "/api/repos/admin/shop/compare/main...topic");
  expect(ok.commits.map((c: { title: string }) => c.title)).toEqual(["Topic notes"]);
  expect(ok.files).toMatchObject({ total: 1, items: [{ filename: "topic.md", status: "added" }] });

  const refs = await git.ok(["ls-remote", cloneUrl(p.url, "admin", "shop", p.token)], work);
  const status = async (spec: string) => {
    const res = await fetch(`${p.url}/api/repos/admin/shop/compare/${spec}`, {
      headers: { authorization: `Bearer ${p.token}` },
    });
    return [res.status, (await res.json()).error?.code];
  };
  expect(await status("main...--upload-pack=touch%20x")).toEqual([422, "invalid_branch"]);
  expect(await status("-x...main")).toEqual([422, "invalid_branch"]);
  expect(await status("main...a..b")).toEqual([422, "invalid_branch"]);
  expect(await status("main...has%20space")).toEqual([422, "invalid_branch"]);
  expect(await status("main...topic%0a--all")).toEqual([422, "invalid_branch"]);
  expect(await status("maintopic")).toEqual([422, "invalid_compare"]);
  expect(await status("main...no-such-branch")).toEqual([404, "not_found"]);
  // Nothing moved.
  expect(await git.ok(["ls-remote", cloneUrl(p.url, "admin", "shop", p.token)], work)).toBe(refs);
});

const CI = `from plue import workflow, pull_request

@workflow(triggers=[pull_request()])
def ci(ctx):
    ctx.run(name="test", cmd='sleep 1; echo "tests pass"')
    return ctx.success(approved=True)
`;

test("a workflow on pull_request shows as a check that goes green live, linked to its run", async () => {
  await createRepo(p.url, p.token, { name: "ci-shop" });
  const dir = await git.repoWith("ci-shop", { ".plue/workflows/ci.py": CI, "README.md": "# ci\n" });
  const remote = cloneUrl(p.url, "admin", "ci-shop", p.token);
  await git.ok(["push", "-q", remote, "main"], dir);
  await git.ok(["checkout", "-q", "-b", "change"], dir);
  fs.writeFileSync(path.join(dir, "README.md"), "# ci\n\nchanged\n");
  await git.ok(["commit", "-q", "-am", "Change the README"], dir);
  await git.ok(["push", "-q", remote, "change"], dir);
  await p.ctx.dispatcher.executor.warmUp?.();
  const pr = await api("POST", "/api/repos/admin/ci-shop/pulls", { title: "Change", head: "change" });
  const cp = await admin.newPage();
  await cp.goto(`/admin/ci-shop/pulls/${pr.number}`);
  const check = cp.locator('.check[data-check="ci"]');
  await check.waitFor({ timeout: 30_000 });
  await cp
    .locator('.check[data-check="ci"][data-status=success]', { hasText: "Successful" })
    .waitFor({ timeout: 60_000 });
  expect(await cp.locator(".checks-overall").textContent()).toBe("All checks have passed");
  // The run's outputs are on the check.
  await check.locator(".check-outputs", { hasText: "approved: true" }).waitFor();
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await cp.screenshot({ path: `${SCREENSHOTS}/pull-checks.png`, fullPage: true });
  const href = await check.getByRole("link", { name: "Details" }).getAttribute("href");
  expect(href).toMatch(/^\/runs\/[0-9a-f-]{36}$/);
  await cp.close();
}, 120_000);
