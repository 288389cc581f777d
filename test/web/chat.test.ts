/**
 * Agent chat in a real browser, against the whole local platform (real runner processes in the
 * sandbox) and the fake Anthropic model: a chat started from the repository page, tokens that
 * arrive one by one, a tool call that can be opened, Stop mid-run with a clear stopped state, and
 * the same conversation after a reload.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { type FakeAnthropic, startFakeAnthropic } from "../helpers/fake-anthropic";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";
import { launchBrowser, newContext, signIn, withScreenshots } from "./browser";

let p: TestPlatform;
let fake: FakeAnthropic;
let browser: Browser;
let context: BrowserContext & { errors: string[] };
let page: Page;
const saved = { key: process.env.ANTHROPIC_API_KEY, url: process.env.ANTHROPIC_BASE_URL };

beforeAll(async () => {
  fake = await startFakeAnthropic();
  // Runners inherit the SDK's standard variables from the server's environment.
  process.env.ANTHROPIC_API_KEY = "sk-test";
  process.env.ANTHROPIC_BASE_URL = fake.url;
  [p, browser] = await Promise.all([startTestPlatform({ PLUE_SEED_DEMO: "true" }), launchBrowser()]);
  context = await newContext(browser, p.url);
  await signIn(context, p.token);
  page = await context.newPage();
});
afterAll(async () => {
  await browser?.close();
  await p?.close();
  await fake?.close();
  for (const [k, v] of [
    ["ANTHROPIC_API_KEY", saved.key],
    ["ANTHROPIC_BASE_URL", saved.url],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

const test = (name: string, fn: () => Promise<void>) => it(name, () => withScreenshots(context, name, fn));

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
  expect(await page.title()).toBe("Chat about demo/hello · Plue");
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
});

test("Stop ends a run mid-answer and the page says it stopped", async () => {
  fake.enqueue({
    content: [{ type: "text", text: "Thinking about this for a long while" }],
    delayMs: 20,
    hang: true,
  });
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
