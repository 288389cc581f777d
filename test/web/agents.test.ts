/**
 * Agents and workflows in a real browser, on the whole local platform (real runner processes in
 * the sandbox, the fake Anthropic model), one platform and one browser for the file:
 * - chat: started from the repository page, tokens arriving one by one, a tool call that opens,
 *   Stop mid-answer with a clear stopped state, the conversation after a reload, and a model
 *   error shown where the answer would have been;
 * - runs: push a workflow and watch its run page go green (DAG, durations, live logs), re-run it,
 *   cancel a long run.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { cloneUrl, createRepo, GitClient } from "../git/client";
import { type FakeAnthropic, startFakeModelForRunners } from "../helpers/fake-anthropic";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";
import { launchBrowser, newContext, signIn, waitForTitle, withScreenshots } from "./browser";

let p: TestPlatform;
let fake: FakeAnthropic;
let browser: Browser;
let context: BrowserContext & { errors: string[] };
let page: Page;
const git = new GitClient();

beforeAll(async () => {
  fake = await startFakeModelForRunners(); // the runners call it
  const launching = launchBrowser();
  p = await startTestPlatform({ PLUE_SEED_DEMO: "true" });
  // As `plue dev` does: the first run then starts as fast as later ones.
  const warming = p.ctx.dispatcher.executor.warmUp?.();
  [browser] = await Promise.all([launching, warming]);
  context = await newContext(browser, p.url);
  await signIn(context, p.token);
  page = await context.newPage();
});
afterAll(async () => {
  await browser?.close();
  await p?.close();
  await fake?.close();
  git.cleanup();
});

const test = (name: string, fn: () => Promise<void>) =>
  it(name, () => {
    fake.reset();
    return withScreenshots(context, name, fn);
  });

/** Records the text of the newest answer each time the page changes it. */
function recordAnswers(): Promise<void> {
  return page.evaluate(() => {
    const w = window as unknown as { answers: string[] };
    w.answers = [];
    new MutationObserver(() => {
      const all = document.querySelectorAll(".msg-assistant .msg-text");
      const last = all[all.length - 1]?.textContent ?? "";
      if (w.answers[w.answers.length - 1] !== last) w.answers.push(last);
    }).observe(document.querySelector(".transcript")!, {
      subtree: true,
      childList: true,
      characterData: true,
    });
  });
}

async function send(text: string): Promise<void> {
  await page.getByLabel("Message").fill(text);
  await page.getByLabel("Message").press("Enter");
}

const FINAL = "The repository has a README, a package.json, and the docs and src directories.";

test("chats from the repository page: tokens stream in, the tool call opens", async () => {
  fake.enqueue(
    {
      content: [
        { type: "text", text: "I'll list the files." },
        { type: "tool_use", name: "list_files", input: { path: "." } },
      ],
    },
    { content: [{ type: "text", text: FINAL }], delayMs: 40 },
  );
  await page.goto("/demo/hello");
  await page.getByRole("button", { name: "Chat with an agent about this repository" }).click();
  await page.waitForURL(/\/sessions\/[0-9a-f-]{36}$/);
  await waitForTitle(page, "Chat about demo/hello · Plue");
  await recordAnswers();
  await send("List files in current directory");

  await page.locator(".msg-user", { hasText: "List files in current directory" }).waitFor();
  await page.locator(".msg-assistant .msg-text", { hasText: FINAL }).waitFor({ timeout: 30_000 });
  await page.locator(".run-status", { hasText: "Done." }).waitFor();
  // The answer grew word by word as tokens arrived, not all at once.
  const answers = await page.evaluate(() => (window as unknown as { answers: string[] }).answers);
  const partial = answers.filter((a) => a.length > 0 && a.length < FINAL.length && FINAL.startsWith(a));
  expect(partial.length).toBeGreaterThan(3);

  const tool = page.locator("details.tool", { hasText: "list_files" });
  expect(await tool.locator(".tool-status").textContent()).toBe("done");
  expect(await tool.getAttribute("open")).toBeNull();
  await tool.locator("summary").click();
  expect(await tool.locator("pre").first().textContent()).toContain('"path": "."');
  expect(await tool.locator("pre").nth(1).textContent()).toContain("README.md");
  await expect(page.getByRole("button", { name: "Send" }).isEnabled()).resolves.toBe(true);
  await expect(page.getByRole("button", { name: "Stop" }).isDisabled()).resolves.toBe(true);
  expect(context.errors).toEqual([]);

  // Another browser (nothing in its storage but the token) lists the chat on the home page.
  const chatUrl = new URL(page.url()).pathname;
  const elsewhere = await newContext(browser, p.url);
  try {
    await signIn(elsewhere, p.token);
    const home = await elsewhere.newPage();
    await home.goto("/");
    const recent = home.locator("ul.recent a", { hasText: "Chat about demo/hello" }).first();
    expect(await recent.getAttribute("href")).toBe(chatUrl);
  } finally {
    await elsewhere.close();
  }
});

test("Stop ends a run mid-answer and the page says it stopped", async () => {
  // A long answer, streaming: the runner hears of the abort on its next report.
  const long = `Thinking about this for a long while ${"and then some more ".repeat(300)}`;
  fake.enqueue({ content: [{ type: "text", text: long }], delayMs: 30 });
  await send("Take your time");
  await page
    .locator(".msg-assistant .msg-text", { hasText: "for a long while" })
    .waitFor({ timeout: 30_000 });
  await page.locator(".run-status", { hasText: "The agent is working" }).waitFor();
  await page.getByRole("button", { name: "Stop" }).click();
  await page.locator(".run-stopped", { hasText: "Stopped" }).waitFor({ timeout: 15_000 });
  await page.locator(".run-status", { hasText: "Stopped." }).waitFor();
  await expect(page.getByRole("button", { name: "Send" }).isEnabled()).resolves.toBe(true);

  // After a reload: the whole conversation, the first answer in one piece, the stop kept.
  await page.reload();
  await page.locator(".run-stopped").waitFor({ timeout: 15_000 });
  const answers = page.locator(".msg-assistant");
  await expect(answers.count()).resolves.toBe(2);
  expect(await answers.first().textContent()).toContain(FINAL);
  expect(await answers.nth(1).textContent()).toContain("for a long while");
  expect(context.errors).toEqual([]);
});

test("a model error is shown where the answer would have been, with what to do", async () => {
  fake.enqueue({ error: { status: 401, type: "authentication_error", message: "invalid x-api-key" } });
  await send("Are you there?");
  const error = page.locator(".msg-assistant").last().locator(".notice-error");
  await error.waitFor({ timeout: 30_000 });
  expect(await error.textContent()).toMatch(
    /The run failed: .*refused the credentials \(401\).*Check ANTHROPIC_API_KEY/,
  );
  await page.locator(".run-status", { hasText: "The run failed." }).waitFor();
  await expect(page.getByRole("button", { name: "Send" }).isEnabled()).resolves.toBe(true);
});

// ---- workflow runs ----

test("a message in a chat about a repository links the chat workflow run it started", async () => {
  await createRepo(p.url, p.token, { name: "talk" });
  const workflow = `from plue import workflow, chat\n\n@workflow(triggers=[chat()])\ndef greet(ctx):\n    ctx.run(name="hello", cmd="echo hello")\n`;
  const dir = await git.repoWith("talk", { ".plue/workflows/chat.py": workflow });
  await git.ok(["push", "-q", cloneUrl(p.url, "admin", "talk", p.token), "main"], dir);
  fake.enqueue({ content: [{ type: "text", text: "Hello there." }] });

  await page.goto("/admin/talk");
  await page.getByRole("button", { name: "Chat with an agent about this repository" }).click();
  await page.waitForURL(/\/sessions\/[0-9a-f-]{36}$/);
  await send("Hi");
  const started = page.locator(".msg-user .started-runs a", { hasText: "greet" });
  await started.waitFor();
  await page.locator(".run-status", { hasText: "Done." }).waitFor({ timeout: 30_000 });
  await started.click();
  await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
  await page.locator(".run-facts", { hasText: "chat" }).waitFor();
  await page.locator('.run-title [data-status="success"]').waitFor({ timeout: 45_000 });
  expect(context.errors).toEqual([]);
});

const CI = `from plue import workflow, push, manual

@workflow(triggers=[push()])
def ci(ctx):
    setup = ctx.run(name="setup", cmd='echo "setting up"')
    ctx.run(name="lint", cmd='echo "lint ok"', needs=[setup])
    ctx.run(name="test", cmd='sleep 2; echo "Hello from CI"', needs=[setup])

@workflow(triggers=[manual()])
def slow(ctx):
    ctx.run(name="wait", cmd='echo "waiting"; for i in $(seq 1 300); do echo "tick $i"; sleep 0.2; done')
`;

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
  // The push is evaluated in a worker after git answers; the page lists what exists when it loads.
  for (let i = 0; i < 300 && (await api("GET", "/api/repos/admin/ci/runs")).runs.length === 0; i++)
    await new Promise((r) => setTimeout(r, 100));

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
  await waitForTitle(page, "ci Succeeded · admin/ci · Plue");

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
