/**
 * Workflow runs in a real browser, on the local platform (real runner processes and sandbox):
 * push a workflow and watch its run page go from queued/running to green, with the step DAG,
 * durations and live logs; re-run it from the page; cancel a long run from the page.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { cloneUrl, createRepo, GitClient } from "../git/client";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";
import { launchBrowser, newContext, signIn, withScreenshots } from "./browser";

let p: TestPlatform;
let browser: Browser;
let context: BrowserContext & { errors: string[] };
let page: Page;
const git = new GitClient();

const CI = `from plue import workflow, push, manual

@workflow(triggers=[push()])
def ci(ctx):
    setup = ctx.run(name="setup", cmd='echo "setting up"')
    ctx.run(name="lint", cmd='echo "lint ok"', needs=[setup])
    ctx.run(name="test", cmd='sleep 2; echo "Hello from CI"', needs=[setup])

@workflow(triggers=[manual()])
def slow(ctx):
    ctx.run(name="wait", cmd='echo "waiting"; sleep 60')
`;

beforeAll(async () => {
  [p, browser] = await Promise.all([startTestPlatform(), launchBrowser()]);
  context = await newContext(browser, p.url);
  await signIn(context, p.token);
  page = await context.newPage();
});
afterAll(async () => {
  await browser?.close();
  await p?.close();
  git.cleanup();
});

const test = (name: string, fn: () => Promise<void>) => it(name, () => withScreenshots(context, name, fn));
const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(p.url + path, {
    method,
    headers: { authorization: `Bearer ${p.token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
};

/** Records every status the run's badge shows, so a test can tell it watched the run live. */
async function recordStatuses(): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { statuses: string[] };
    w.statuses = [];
    const note = () => {
      const s = document.querySelector(".run-title [data-status]")?.getAttribute("data-status");
      if (s && w.statuses[w.statuses.length - 1] !== s) w.statuses.push(s);
    };
    note();
    new MutationObserver(note).observe(document.getElementById("main")!, { subtree: true, childList: true });
  });
}

const runStatus = (status: string) => page.locator(`.run-title [data-status="${status}"]`);
const stepStatuses = () =>
  page
    .locator(".dag .step")
    .evaluateAll((els) => els.map((e) => [e.getAttribute("data-step"), e.getAttribute("data-status")]));

let firstRun: string;

test("a pushed workflow's run page goes green: DAG, durations, live logs", async () => {
  await createRepo(p.url, p.token, { name: "ci" });
  const dir = await git.repoWith("ci", { ".plue/workflows/ci.py": CI, "README.md": "# ci\n" });
  await git.ok(["push", "-q", cloneUrl(p.url, "admin", "ci", p.token), "main"], dir);

  await page.goto("/admin/ci/runs");
  const link = page.locator("table.runs-table").getByRole("link", { name: "ci", exact: true });
  await link.waitFor({ timeout: 15_000 }); // the list refreshes itself while runs are live
  await link.click();
  await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
  firstRun = page.url().split("/").pop()!;
  await recordStatuses();
  await page.locator(".run-facts", { hasText: "push" }).waitFor();

  await runStatus("success").waitFor({ timeout: 45_000 });
  const seen = await page.evaluate(() => (window as unknown as { statuses: string[] }).statuses);
  expect(seen[seen.length - 1]).toBe("success");
  expect(seen.some((s) => s === "queued" || s === "running")).toBe(true); // watched live, not loaded done
  expect(await page.title()).toBe("ci Succeeded · admin/ci · Plue");

  // The DAG: setup first, then lint and test side by side.
  const columns = await page
    .locator(".dag-column")
    .evaluateAll((cols) =>
      cols.map((c) => [...c.querySelectorAll(".step")].map((s) => s.getAttribute("data-step"))),
    );
  expect(columns).toEqual([["setup"], ["lint", "test"]]);
  expect(await stepStatuses()).toEqual([
    ["setup", "success"],
    ["lint", "success"],
    ["test", "success"],
  ]);
  const testDuration = await page.locator('.step[data-step="test"] .step-duration').textContent();
  expect(testDuration).toMatch(/^\d+(\.\d)? s$/); // about two seconds of sleep
  expect(await page.locator("#log-test .log-body").textContent()).toContain("Hello from CI");
  expect(await page.locator("#log-setup .log-body").textContent()).toContain("setting up");
  // The commit links into the file browser at that commit.
  const commit = await page.locator(".run-facts a[title]").getAttribute("title");
  expect(commit).toMatch(/^[0-9a-f]{40}$/);
  expect(await page.getByRole("button", { name: "Cancel run" }).isDisabled()).toBe(true);
  expect(context.errors).toEqual([]);
});

test("Re-run starts a new run of the same commit and it goes green", async () => {
  await page.goto(`/runs/${firstRun}`);
  await runStatus("success").waitFor();
  await page.getByRole("button", { name: "Re-run" }).click();
  await page.waitForURL(
    (url) => /\/runs\/[0-9a-f-]{36}$/.test(url.pathname) && !url.pathname.endsWith(firstRun),
  );
  await page.locator(".run-facts", { hasText: "Re-run of" }).waitFor();
  await runStatus("success").waitFor({ timeout: 45_000 });
  expect((await stepStatuses()).map(([, s]) => s)).toEqual(["success", "success", "success"]);
});

test("Cancel stops a running run and the page shows it cancelled", async () => {
  const run = await api("POST", "/api/repos/admin/ci/workflows/slow/dispatch", {});
  await page.goto(`/runs/${run.id}`);
  await page.locator("#log-wait .log-body", { hasText: "waiting" }).waitFor({ timeout: 30_000 });
  await runStatus("running").waitFor();
  await page.getByRole("button", { name: "Cancel run" }).click();
  await runStatus("cancelled").waitFor({ timeout: 30_000 });
  expect(await stepStatuses()).toEqual([["wait", "cancelled"]]);
  expect(await page.getByRole("button", { name: "Re-run" }).isEnabled()).toBe(true);
});
