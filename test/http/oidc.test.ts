/**
 * Single sign-on against a real OpenID Provider (the `oidc-provider` package) on loopback: the
 * browser's whole trip is driven by hand with fetch, cookies and the provider's own forms.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createInvite } from "../../app/auth/invites";
import { CookieJar } from "../helpers/cookies";
import { startTestPlatform } from "../helpers/platform";

const CLIENT_ID = "plue";
const CLIENT_SECRET = "a-client-secret-for-tests";

interface Account {
  preferred_username?: string;
  email?: string;
  name?: string;
}

type ProviderClass = new (issuer: string, config: object) => { callback(): http.RequestListener };

/** oidc-provider, without its development warnings (Node 20, in-memory adapter, dev keys: all meant here). */
async function quietly<T>(fn: () => T | Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!String(args[0]).startsWith("oidc-provider WARNING")) warn(...args);
  };
  try {
    return await fn();
  } finally {
    console.warn = warn;
  }
}
// @ts-expect-error oidc-provider ships no type declarations
const Provider = (await quietly(() => import("oidc-provider"))).default as ProviderClass;

/** A provider whose issuer is `issuer` (defaults to where it listens), with these accounts. */
async function startProvider(accounts: Record<string, Account>) {
  let handler: http.RequestListener = (_req, res) => res.writeHead(503).end();
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    /** Configures the provider once Plue's callback URL is known; `issuer` may differ from `url`. */
    async configure(redirectUri: string, issuer = url) {
      const provider = await quietly(
        () =>
          new Provider(issuer, {
            clients: [
              {
                client_id: CLIENT_ID,
                client_secret: CLIENT_SECRET,
                redirect_uris: [redirectUri],
                response_types: ["code"],
                grant_types: ["authorization_code"],
                token_endpoint_auth_method: "client_secret_post",
              },
            ],
            claims: { openid: ["sub"], profile: ["preferred_username", "name"], email: ["email"] },
            async findAccount(_ctx: unknown, id: string) {
              const account = accounts[id];
              if (!account) return undefined;
              return { accountId: id, claims: async () => ({ sub: id, ...account }) };
            },
            pkce: { required: () => true },
            cookies: { keys: ["test-cookie-key"] },
            ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
          }),
      );
      handler = provider.callback();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** One browser: a jar per origin, redirects followed by hand. */
class Browser {
  private readonly jars = new Map<string, CookieJar>();

  jar(origin: string): CookieJar {
    let jar = this.jars.get(origin);
    if (!jar) {
      jar = new CookieJar();
      this.jars.set(origin, jar);
    }
    return jar;
  }

  async get(url: string, init: RequestInit = {}): Promise<Response> {
    const jar = this.jar(new URL(url).origin);
    const headers = new Headers(init.headers);
    if (jar.cookies.size > 0) headers.set("cookie", jar.header());
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    jar.take(res);
    return res;
  }

  /**
   * Follows redirects and the provider's login and consent forms (logging in as `login`) until a
   * response comes from `stopAt` (Plue's callback): answers that URL without requesting it.
   */
  async signOnUntil(start: string, login: string, stopAt: string): Promise<string> {
    let res = await this.get(start);
    let url = start;
    for (let hops = 0; hops < 20; hops++) {
      if (res.status >= 300 && res.status < 400) {
        url = new URL(res.headers.get("location")!, url).href;
        if (url.startsWith(stopAt)) return url;
        res = await this.get(url);
        continue;
      }
      const html = await res.text();
      if (res.status !== 200) throw new Error(`provider answered ${res.status}: ${html.slice(0, 300)}`);
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
      const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
      if (!action || !prompt) throw new Error(`no form in: ${html.slice(0, 300)}`);
      const form = new URLSearchParams({ prompt, ...(prompt === "login" ? { login, password: "x" } : {}) });
      url = new URL(action, url).href;
      res = await this.get(url, {
        method: "POST",
        body: form,
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
    }
    throw new Error("too many redirects");
  }
}

const ACCOUNTS: Record<string, Account> = {
  "sub-alice": { preferred_username: "alice", email: "alice@example.com", name: "Alice A" },
  "sub-other-alice": { preferred_username: "alice", email: "alice2@example.com" },
  "sub-mail": { email: "mailer.x@example.com" },
};

async function setup(env: Record<string, string>, issuer?: (url: string) => string) {
  const op = await startProvider(ACCOUNTS);
  const p = await startTestPlatform({
    PLUE_OIDC_ISSUER: issuer ? issuer(op.url) : op.url,
    PLUE_OIDC_CLIENT_ID: CLIENT_ID,
    PLUE_OIDC_CLIENT_SECRET: CLIENT_SECRET,
    ...env,
  });
  await op.configure(`${p.url}/auth/oidc/callback`);
  return { op, p, callback: `${p.url}/auth/oidc/callback` };
}

const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

describe("OIDC single sign-on (PLUE_SIGNUP=open)", () => {
  let env: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    env = await setup({ PLUE_SIGNUP: "open" });
  });
  afterAll(async () => {
    await env.p.close();
    await env.op.close();
  });
  const users = async (sub: string) =>
    (
      await env.p.ctx.db.query<{
        username: string;
        email: string | null;
        full_name: string;
        oidc_issuer: string;
      }>("SELECT username, email, full_name, oidc_issuer FROM users WHERE oidc_sub = $1", [sub])
    ).rows;

  it("offers single sign-on", async () => {
    const res = await fetch(`${env.p.url}/api/auth/providers`);
    expect(await res.json()).toEqual({
      password: true,
      signup: "open",
      sso: { url: `${env.p.url}/auth/oidc/start`, issuer: env.op.url },
    });
  });

  it("signs a new person in through the provider, creates the account once, and matches it after", async () => {
    const b = new Browser();
    const back = await b.signOnUntil(`${env.p.url}/auth/oidc/start`, "sub-alice", env.callback);
    expect(new URL(back).searchParams.get("code")).toBeTruthy();
    const done = await b.get(back);
    expect(done.status).toBe(303);
    expect(done.headers.get("location")).toBe("/");
    expect(b.jar(env.p.url).get("plue_oidc")).toBeUndefined(); // the flow cookie is gone
    const session = await b.get(`${env.p.url}/api/session`);
    expect(session.status).toBe(200);
    const view = (await session.json()) as { user: { username: string; email: string } };
    expect(view.user).toMatchObject({ username: "alice", email: "alice@example.com" });
    expect(await users("sub-alice")).toEqual([
      { username: "alice", email: "alice@example.com", full_name: "Alice A", oidc_issuer: env.op.url },
    ]);

    // Again, in another browser: the same account (matched by issuer and subject), no new one.
    const again = new Browser();
    await again.get(await again.signOnUntil(`${env.p.url}/auth/oidc/start`, "sub-alice", env.callback));
    expect((await again.get(`${env.p.url}/api/session`)).status).toBe(200);
    expect(await users("sub-alice")).toHaveLength(1);
  });

  it("derives a unique username: a taken preferred_username gets a suffix, an email its local part", async () => {
    const b = new Browser();
    await b.get(await b.signOnUntil(`${env.p.url}/auth/oidc/start`, "sub-other-alice", env.callback));
    expect((await users("sub-other-alice")).map((u) => u.username)).toEqual(["alice-2"]);
    const m = new Browser();
    await m.get(await m.signOnUntil(`${env.p.url}/auth/oidc/start`, "sub-mail", env.callback));
    expect((await users("sub-mail")).map((u) => u.username)).toEqual(["mailer.x"]);
  });

  it("refuses a callback whose state does not match, and signs nobody in", async () => {
    const b = new Browser();
    const back = new URL(await b.signOnUntil(`${env.p.url}/auth/oidc/start`, "sub-alice", env.callback));
    back.searchParams.set("state", "forged-state");
    const res = await b.get(back.href);
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe("oidc_failed");
    expect(b.jar(env.p.url).get("plue_session")).toBeUndefined();
    expect((await b.get(`${env.p.url}/api/session`)).status).toBe(401);
  });

  it("refuses a callback without the browser's flow cookie (another browser's code)", async () => {
    const b = new Browser();
    const back = await b.signOnUntil(`${env.p.url}/auth/oidc/start`, "sub-alice", env.callback);
    const res = await fetch(back, { redirect: "manual" });
    expect(res.status).toBe(400);
    expect(res.headers.getSetCookie().some((c) => c.startsWith("plue_session="))).toBe(false);
  });

  it("refuses a replayed callback, even with the flow cookie kept", async () => {
    const b = new Browser();
    const back = await b.signOnUntil(`${env.p.url}/auth/oidc/start`, "sub-alice", env.callback);
    const flow = b.jar(env.p.url).header();
    expect((await b.get(back)).status).toBe(303);
    const replay = await fetch(back, { headers: { cookie: flow }, redirect: "manual" });
    expect(replay.status).toBe(400);
    expect(await errorCode(replay)).toBe("oidc_failed");
    expect(replay.headers.getSetCookie().some((c) => c.startsWith("plue_session="))).toBe(false);
  });
});

describe("OIDC sign-up rules and issuer checks", () => {
  it("invite mode: a first sign-on needs an invite passed through start; closed refuses", async () => {
    const env = await setup({ PLUE_SIGNUP: "invite" });
    try {
      const b = new Browser();
      const refused = await b.get(
        await b.signOnUntil(`${env.p.url}/auth/oidc/start`, "sub-alice", env.callback),
      );
      expect(refused.status).toBe(403);
      expect(await errorCode(refused)).toBe("invite_required");
      const { secret, invite } = await createInvite(env.p.ctx.db, {});
      const start = `${env.p.url}/auth/oidc/start?invite=${encodeURIComponent(secret)}`;
      const ok = await b.get(await b.signOnUntil(start, "sub-alice", env.callback));
      expect(ok.status).toBe(303);
      expect((await b.get(`${env.p.url}/api/session`)).status).toBe(200);
      const used = await env.p.ctx.db.query(
        "SELECT used_at FROM invites WHERE id = $1 AND used_at IS NOT NULL",
        [invite.id],
      );
      expect(used.rows).toHaveLength(1);
    } finally {
      await env.p.close();
      await env.op.close();
    }
    const closed = await setup({ PLUE_SIGNUP: "closed" });
    try {
      const b = new Browser();
      const res = await b.get(
        await b.signOnUntil(`${closed.p.url}/auth/oidc/start`, "sub-alice", closed.callback),
      );
      expect(res.status).toBe(403);
      expect(await errorCode(res)).toBe("signup_closed");
      expect(
        (await closed.p.ctx.db.query("SELECT 1 FROM users WHERE oidc_sub IS NOT NULL")).rows,
      ).toHaveLength(0);
    } finally {
      await closed.p.close();
      await closed.op.close();
    }
  });

  it("refuses a provider whose metadata names another issuer than configured", async () => {
    // Configured as localhost, the provider calls itself 127.0.0.1: discovery must fail.
    const env = await setup({ PLUE_SIGNUP: "open" }, (url) => url.replace("127.0.0.1", "localhost"));
    try {
      const res = await fetch(`${env.p.url}/auth/oidc/start`, { redirect: "manual" });
      expect(res.status).toBe(502);
      expect(await errorCode(res)).toBe("oidc_unavailable");
    } finally {
      await env.p.close();
      await env.op.close();
    }
  });
});
