/**
 * A real browser for the page tests: Debian's Chromium driven by playwright-core, headless, one
 * per test file, with a fresh profile. When a test fails, a screenshot of each open page goes to
 * `artifacts/web/` (ignored by git) for a look afterwards.
 */
import fs from "node:fs";
import path from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.PLUE_CHROMIUM ?? "/usr/bin/chromium";
const ARTIFACTS = path.resolve("artifacts/web");

export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM}: install it (apt-get install chromium) or set PLUE_CHROMIUM`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-dev-shm-usage",
    ],
  });
}

/**
 * A context whose pages report browser-side failures: console errors, uncaught exceptions (a
 * CSP violation shows up as a console error) and any request to another host. Requests are
 * watched, not intercepted: Playwright's routing would turn the HTTP cache off.
 */
export async function newContext(
  browser: Browser,
  baseURL: string,
): Promise<BrowserContext & { errors: string[] }> {
  const context = (await browser.newContext({ baseURL })) as BrowserContext & { errors: string[] };
  context.errors = [];
  const origin = new URL(baseURL).origin;
  context.on("request", (req) => {
    const url = new URL(req.url());
    if (url.protocol.startsWith("http") && url.origin !== origin)
      context.errors.push(`request to another host: ${url}`);
  });
  context.on("page", (page) => watch(page, context.errors));
  return context;
}

function watch(page: Page, errors: string[]): void {
  page.on("pageerror", (err) => errors.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(`console: ${msg.text()}`);
  });
}

/** Runs `fn`; if it throws, screenshots every page of the context first. */
export async function withScreenshots<T>(
  context: BrowserContext,
  name: string,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const safe = name.replace(/[^\w-]+/g, "_").slice(0, 80);
    await Promise.all(
      context
        .pages()
        .map((p, i) =>
          p
            .screenshot({ path: path.join(ARTIFACTS, `${safe}-${i}.png`), fullPage: true })
            .catch(() => undefined),
        ),
    );
    throw err;
  }
}

/** Signs every page of the context in, the way /login does: the token in localStorage. */
export async function signIn(context: BrowserContext, token: string): Promise<void> {
  await context.addInitScript((t) => {
    try {
      localStorage.setItem("plue.token", t);
    } catch {
      // about:blank and other opaque origins have no storage
    }
  }, token);
}

/** Waits until the page's title is `title`: pages set it once their data has loaded. */
export async function waitForTitle(page: Page, title: string): Promise<void> {
  await page.waitForFunction((t) => document.title === t, title, { timeout: 15_000 });
}
