/**
 * Single sign-on from the sign-in page, in Chromium, against a real OpenID Provider (the
 * `oidc-provider` package) on loopback: "Sign in with SSO", the provider's own login and consent
 * pages, and back to Plue signed in, with an account created on first sign-on (PLUE_SIGNUP=open).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
// @ts-expect-error oidc-provider ships no type declarations
import Provider from "oidc-provider";
import type { Browser } from "playwright-core";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";
import { launchBrowser, newContext, withScreenshots } from "./browser";

const CLIENT_ID = "plue";
const CLIENT_SECRET = "a-client-secret-for-the-web-test";

let p: TestPlatform;
let browser: Browser;
let op: http.Server;
let issuer: string;

beforeAll(async () => {
  // The provider listens first: Plue needs its URL, the provider needs Plue's callback.
  let handler: http.RequestListener = (_req, res) => res.writeHead(503).end();
  op = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => op.listen(0, "127.0.0.1", resolve));
  issuer = `http://127.0.0.1:${(op.address() as AddressInfo).port}`;
  [p, browser] = await Promise.all([
    startTestPlatform({
      PLUE_OIDC_ISSUER: issuer,
      PLUE_OIDC_CLIENT_ID: CLIENT_ID,
      PLUE_OIDC_CLIENT_SECRET: CLIENT_SECRET,
      PLUE_SIGNUP: "open",
    }),
    launchBrowser(),
  ]);
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [`${p.url}/auth/oidc/callback`],
        response_types: ["code"],
        grant_types: ["authorization_code"],
        token_endpoint_auth_method: "client_secret_post",
      },
    ],
    claims: { openid: ["sub"], profile: ["preferred_username", "name"], email: ["email"] },
    async findAccount(_ctx: unknown, id: string) {
      return {
        accountId: id,
        claims: async () => ({
          sub: id,
          preferred_username: "dana",
          email: "dana@example.com",
          name: "Dana D",
        }),
      };
    },
    pkce: { required: () => true },
    cookies: { keys: ["test-cookie-key"] },
  });
  handler = provider.callback();
});
afterAll(async () => {
  await browser?.close();
  await p?.close();
  await new Promise<void>((resolve) => (op ? op.close(() => resolve()) : resolve()));
});

it("signs in with SSO from /login and comes back signed in, the account created on first sign-on", async () => {
  const context = await newContext(browser, p.url);
  try {
    await withScreenshots(context, "sso", async () => {
      const page = await context.newPage();
      await page.goto("/login");
      const sso = page.getByRole("link", { name: "Sign in with SSO" });
      await sso.waitFor();
      await page.getByText(issuer).waitFor();
      expect(context.errors).toEqual([]);
      await sso.click();
      // The provider's pages (its origin, its forms).
      await page.waitForURL(`${issuer}/**`);
      await page.locator('input[name="login"]').fill("sub-dana");
      await page.locator('input[name="password"]').fill("anything");
      await page.getByRole("button", { name: "Sign-in" }).click();
      await page.getByRole("button", { name: "Continue" }).click();
      await page.waitForURL(`${p.url}/`);
      await page.getByText("Signed in as dana").waitFor();
      const cookie = (await context.cookies(p.url)).find((c) => c.name === "plue_session");
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Lax" });
      const row = await p.ctx.db.query<{ oidc_sub: string }>(
        "SELECT oidc_sub FROM users WHERE username = 'dana'",
      );
      expect(row.rows).toEqual([{ oidc_sub: "sub-dana" }]);
      // The provider's pages log their own failures (a favicon, a web font): Plue's are clean.
      context.errors.length = 0;
      await page.goto("/settings/tokens");
      await page.getByText("You have no tokens.").waitFor();
      expect(context.errors).toEqual([]);
    });
  } finally {
    await context.close();
  }
});
