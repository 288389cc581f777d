/**
 * The file browser in a real browser: the demo repository, directories, a file with line
 * numbers, the README rendered, the branch switcher, a binary file offered for download, and a
 * second visit to a file answered by the browser cache (no request reaches the server for the
 * SHA-addressed URL). Also the first steps of a newcomer without ANTHROPIC_API_KEY: sign in,
 * start a chat, and read what is missing (the runner's own error in place: agents.test.ts).
 */
import type { IncomingMessage } from "node:http";
import type { Browser, BrowserContext } from "playwright-core";
import { writeCommit } from "../../app/git/write";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";
import { launchBrowser, newContext, signIn, waitForTitle, withScreenshots } from "./browser";

let p: TestPlatform;
let browser: Browser;
let context: BrowserContext & { errors: string[] };
/** Every URL the server was asked for, in order. */
const hits: string[] = [];
const savedKey = process.env.ANTHROPIC_API_KEY;

beforeAll(async () => {
  delete process.env.ANTHROPIC_API_KEY; // what `npm start` looks like without a model key
  [p, browser] = await Promise.all([startTestPlatform({ PLUE_SEED_DEMO: "true" }), launchBrowser()]);
  // First in line: the app's middleware rewrites req.url (Express strips a mount path like /api).
  p.server.prependListener("request", (req: IncomingMessage) => hits.push(req.url ?? ""));
  const repo = (await p.ctx.git.repos.find("demo", "hello"))!;
  await writeCommit(p.ctx.git.repos.gitDir(repo), {
    branch: "feature/logo",
    message: "logo\n",
    files: {
      "README.md": "# hello, feature\n",
      "logo.png": Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3]),
    },
  });
  context = await newContext(browser, p.url);
});
afterAll(async () => {
  await browser?.close();
  await p?.close();
  if (savedKey !== undefined) process.env.ANTHROPIC_API_KEY = savedKey;
});

const test = (name: string, fn: () => Promise<void>) => it(name, () => withScreenshots(context, name, fn));

test("browses demo/hello: README, directories, a file with line numbers", async () => {
  const page = await context.newPage();
  await page.goto("/demo/hello");
  const rows = page.locator("table.tree tbody tr");
  await page.locator("table.tree").waitFor();
  expect(await rows.locator("td.name").allInnerTexts()).toEqual(["docs", "src", "package.json", "README.md"]);
  // The README, rendered under the tree.
  await page.locator(".readme .markdown h1", { hasText: "hello" }).waitFor();
  await waitForTitle(page, "demo/hello · Plue");

  await page.getByRole("link", { name: "src", exact: true }).click();
  await page.getByRole("link", { name: "lib", exact: true }).click();
  await page.getByRole("link", { name: "greet.ts" }).click();
  await page.waitForURL("**/demo/hello/blob/main/src/lib/greet.ts");
  const code = page.locator(".code .lines");
  await code.waitFor();
  expect(await code.textContent()).toContain("export function greet(name: string): string {");
  expect((await page.locator(".code .gutter").textContent())!.split("\n")).toEqual(["1", "2", "3", "4"]);
  expect(await page.locator(".breadcrumbs li").allInnerTexts()).toEqual(["hello", "src", "lib", "greet.ts"]);
  expect(await page.locator('.breadcrumbs [aria-current="page"]').textContent()).toBe("greet.ts");
  await waitForTitle(page, "src/lib/greet.ts · demo/hello · Plue");

  // Back goes to the directory, without a page load.
  await page.goBack();
  await page.waitForURL("**/demo/hello/tree/main/src/lib");
  await page.getByRole("link", { name: "greet.ts" }).waitFor();
  expect(context.errors).toEqual([]);
  await page.close();
});

test("switches branches and offers a binary file for download", async () => {
  const page = await context.newPage();
  await page.goto("/demo/hello");
  await page.locator("table.tree").waitFor();
  await page.getByLabel("Branch or tag").selectOption("feature/logo");
  await page.waitForURL("**/demo/hello/tree/feature/logo");
  await page.locator(".readme h1", { hasText: "hello, feature" }).waitFor();
  await page.getByRole("link", { name: "logo.png" }).click();
  await page.getByText("This is a binary file.").waitFor();
  const download = page.getByRole("link", { name: "Download" });
  expect(await download.getAttribute("href")).toMatch(/^\/api\/demo\/hello\/blob\/[0-9a-f]{40}\/logo\.png$/);
  // A ref with a slash in its name, taken apart from the path by the ref list.
  await page.goto("/demo/hello/blob/feature/logo/README.md");
  await page.locator(".file .markdown h1", { hasText: "hello, feature" }).waitFor();
  await page.goto("/demo/hello/tree/no-such-branch");
  await page.getByText("There is no branch, tag or commit 'no-such-branch'").waitFor();
  await page.close();
});

test("a second visit to a file is served from the browser cache", async () => {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  const urls = new Map<string, string>();
  const fromCache = new Set<string>();
  cdp.on("Network.requestWillBeSent", (e) => urls.set(e.requestId, e.request.url));
  cdp.on("Network.requestServedFromCache", (e) => fromCache.add(urls.get(e.requestId) ?? ""));
  cdp.on("Network.responseReceived", (e) => {
    if (e.response.fromDiskCache) fromCache.add(e.response.url);
  });

  const showFile = async () => {
    await page.goto("/demo/hello/blob/main/docs/guide.md");
    await page.locator(".file .markdown h1", { hasText: "Browsing by commit" }).waitFor();
  };
  await showFile();
  const blobHits = () =>
    hits.filter((u) => /^\/api\/repos\/demo\/hello\/markdown\/[0-9a-f]{40}\/docs\/guide\.md$/.test(u));
  const treeHits = () => hits.filter((u) => /^\/api\/demo\/hello\/tree\/[0-9a-f]{40}\/docs$/.test(u));
  expect(blobHits()).toHaveLength(1);
  expect(treeHits()).toHaveLength(1);
  const [contentUrl] = blobHits();

  await page.goto("/demo/hello"); // somewhere else, then back by a fresh page load
  await page.locator("table.tree").waitFor();
  await showFile();
  expect(blobHits()).toHaveLength(1); // the server was not asked again
  expect(treeHits()).toHaveLength(1);
  expect(fromCache).toContain(p.url + contentUrl);

  // The raw bytes too: the source view fetches the blob by commit, once.
  await page.getByRole("button", { name: "Source" }).click();
  await page.locator(".code .lines", { hasText: "Resolve a ref once" }).waitFor();
  await showFile();
  await page.getByRole("button", { name: "Source" }).click();
  await page.locator(".code .lines", { hasText: "Resolve a ref once" }).waitFor();
  expect(
    hits.filter((u) => /^\/api\/demo\/hello\/blob\/[0-9a-f]{40}\/docs\/guide\.md$/.test(u)),
  ).toHaveLength(1);
  await page.close();
});

test("signed in, a private repository browses with the token; signed out it is not found", async () => {
  const admin = { id: 1, username: "admin" };
  const secret = await p.ctx.git.repos.create(admin, { name: "secret", visibility: "private" });
  await writeCommit(p.ctx.git.repos.gitDir(secret), {
    branch: "main",
    message: "s\n",
    files: { "s.txt": "classified\n" },
  });
  const anon = await context.newPage();
  await anon.goto("/admin/secret");
  await anon.getByRole("heading", { name: "Repository not found" }).waitFor();
  await anon.close();

  const signedIn = await newContext(browser, p.url);
  await signIn(signedIn, p.token);
  const page = await signedIn.newPage();
  await page.goto("/admin/secret/blob/main/s.txt");
  await page.locator(".code .lines", { hasText: "classified" }).waitFor();
  await page.getByText("Signed in as admin").waitFor();
  await signedIn.close();
});

test("the owner deletes a repository from its page, after typing its name; others are not offered it", async () => {
  const admin = { id: 1, username: "admin" };
  const doomed = await p.ctx.git.repos.create(admin, { name: "doomed" });
  await writeCommit(p.ctx.git.repos.gitDir(doomed), {
    branch: "main",
    message: "d\n",
    files: { "d.txt": "bye\n" },
  });
  const anon = await context.newPage();
  await anon.goto("/admin/doomed");
  await anon.locator("table.tree").waitFor();
  await anon.waitForLoadState("networkidle");
  expect(await anon.locator(".delete-repo").count()).toBe(0);
  await anon.close();

  const owner = await newContext(browser, p.url);
  try {
    await signIn(owner, p.token);
    const page = await owner.newPage();
    await page.goto("/admin/doomed");
    await page.locator(".delete-repo summary").click();
    await page.getByLabel("Type admin/doomed to confirm").fill("admin/doom");
    await page.getByRole("button", { name: "Delete this repository" }).click();
    await page.getByRole("alert").filter({ hasText: "Type admin/doomed exactly" }).waitFor();
    expect(await p.ctx.git.repos.find("admin", "doomed")).toBeDefined();

    await page.getByLabel("Type admin/doomed to confirm").fill("admin/doomed");
    await page.getByRole("button", { name: "Delete this repository" }).click();
    await page.waitForURL(`${p.url}/`);
    expect(await p.ctx.git.repos.find("admin", "doomed")).toBeUndefined();
    expect(owner.errors).toEqual([]);
  } finally {
    await owner.close();
  }
});

test("without ANTHROPIC_API_KEY, home and a new chat say what is missing", async () => {
  const fresh = await newContext(browser, p.url);
  const page = await fresh.newPage();
  try {
    await page.goto("/login");
    await page.getByText("Use an API token instead").click();
    await page.getByLabel("API token").fill("plue_wrong");
    await page.getByRole("button", { name: "Sign in with token" }).click();
    await page.getByText("That token is not valid").waitFor();
    await page.getByLabel("API token").fill(p.token);
    await page.getByRole("button", { name: "Sign in with token" }).click();
    await page.getByRole("heading", { name: "Agent chat" }).waitFor();
    await page.getByText("ANTHROPIC_API_KEY is not set").first().waitFor();

    await page.getByLabel("Repository", { exact: true }).selectOption("demo/hello");
    await page.getByRole("button", { name: "Start a chat" }).click();
    await page.waitForURL(/\/sessions\/[0-9a-f-]{36}$/);
    await page.locator(".notice-warning", { hasText: "ANTHROPIC_API_KEY is not set" }).waitFor();
    await page.getByRole("button", { name: "Send" }).waitFor();
  } finally {
    await fresh.close();
  }
});
