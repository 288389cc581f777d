/**
 * Signing in from a browser (docs/accounts.md, "Signing in"): password sign-in and sign-out, the
 * session and its CSRF token, sign-up, password links, single sign-on, and the lockouts admins
 * see. Sessions are cookies (app/auth/browser-sessions.ts); failed attempts are counted in the
 * database (app/auth/signin-limits.ts).
 */
import { serialize as serializeCookie } from "cookie";
import { type Request, type Response, Router } from "express";
import { z } from "zod";
import { audit } from "../auth/audit";
import { SESSION_COOKIE, SESSION_MAX_AGE_MS } from "../auth/browser-sessions";
import { decodeFlow, encodeFlow, OidcSignIn } from "../auth/oidc";
import { MAX_PASSWORD, verifyPassword } from "../auth/passwords";
import { hasScope, missingScope } from "../auth/scopes";
import { SigninLimits } from "../auth/signin-limits";
import { freeUsername, setPasswordWithLink, signUp, signUpWithPassword } from "../auth/signup";
import type { User } from "../auth/tokens";
import type { AppContext } from "../compose";
import { AppError, forbidden, notFound, tooManyRequests, unauthorized } from "../errors";
import type { BrowserSessionView, SelfView, SignInOptions } from "../wire/accounts";
import { clearedCookie, secureCookies } from "./auth";
import { bindCsrfSession, CSRF_COOKIE, csrfToken, requestCookies } from "./csrf";
import { parseBody } from "./errors";

const SignInBody = z.object({
  username: z.string().min(1).max(200),
  password: z.string().min(1).max(MAX_PASSWORD),
});
const SignUpBody = z.object({
  username: z.string().max(200),
  password: z.string().max(MAX_PASSWORD),
  invite: z.string().max(200).optional(),
});
const PasswordBody = z.object({ token: z.string().min(1).max(200), password: z.string().max(MAX_PASSWORD) });

const FLOW_COOKIE = "plue_oidc";
const FLOW_PATH = "/auth/oidc";
const FLOW_MAX_AGE_S = 600;

export function signinRouter(ctx: AppContext): Router {
  const router = Router();
  const { db, config } = ctx;
  const sessions = ctx.browserSessions;
  const limits = new SigninLimits(db);
  const sso = config.PLUE_OIDC_ISSUER
    ? new OidcSignIn({
        issuer: config.PLUE_OIDC_ISSUER,
        clientId: config.PLUE_OIDC_CLIENT_ID!,
        clientSecret: config.PLUE_OIDC_CLIENT_SECRET!,
        redirectUri: () => `${ctx.publicUrl()}${FLOW_PATH}/callback`,
      })
    : undefined;
  const secure = (req: Request) => secureCookies(req, ctx.publicUrl());

  /** Signs `user` in: a new session, its cookie, and a CSRF token bound to it. */
  async function startSession(req: Request, res: Response, user: User): Promise<BrowserSessionView> {
    const { secret, hash } = await sessions.create(user.id, { ip: req.ip, userAgent: req.get("user-agent") });
    res.append(
      "Set-Cookie",
      serializeCookie(SESSION_COOKIE, secret, {
        httpOnly: true,
        sameSite: "lax",
        path: "/",
        secure: secure(req),
        maxAge: SESSION_MAX_AGE_MS / 1000,
      }),
    );
    bindCsrfSession(req, { secret, hash });
    return {
      user: await selfView(user.id),
      csrf_token: csrfToken(req, res, { secure: secure(req), fresh: true }),
    };
  }

  async function selfView(id: number): Promise<SelfView> {
    const r = await db.query<Omit<SelfView, "scopes" | "via" | "created_at"> & { created_at: Date }>(
      `SELECT id::int AS id, username, full_name, kind, is_admin AS admin, created_at, email
         FROM users WHERE id = $1`,
      [id],
    );
    const row = r.rows[0];
    if (!row) throw unauthorized();
    return { ...row, created_at: new Date(row.created_at).toISOString(), scopes: null, via: "session" };
  }

  router.get("/api/auth/providers", (_req, res) => {
    const options: SignInOptions = {
      password: true,
      signup: config.PLUE_SIGNUP,
      ...(sso ? { sso: { url: `${ctx.publicUrl()}${FLOW_PATH}/start`, issuer: sso.issuer } } : {}),
    };
    res.json(options);
  });

  router.post("/api/session", async (req, res) => {
    const { username, password } = parseBody(SignInBody, req.body ?? {});
    const ip = req.ip ?? "unknown";
    const wait = Math.max(await limits.accountLocked(username), await limits.ipLocked(ip));
    if (wait > 0) {
      await audit(db, { action: "signin.failed", target: username, ip, details: { reason: "locked" } });
      throw tooManyRequests(`too many failed sign-ins: try again in ${Math.ceil(wait / 60)} minutes`, wait);
    }
    const r = await db.query<User & { password_hash: string | null; suspended: boolean }>(
      `SELECT id::int AS id, username, is_admin, password_hash, suspended_at IS NOT NULL AS suspended
         FROM users WHERE lower(username) = lower($1) AND kind = 'user'`,
      [username],
    );
    const found = r.rows[0];
    // verifyPassword hashes whether or not the account exists: both failures take the same time.
    if (!(await verifyPassword(found?.password_hash, password)) || !found) {
      const { locked } = await limits.failed(username, ip);
      await audit(db, { action: "signin.failed", target: username, ip, details: { reason: "password" } });
      if (locked) await audit(db, { action: "signin.locked", target: username, ip });
      throw unauthorized("wrong username or password");
    }
    // Only someone who knows the password learns the account is suspended.
    if (found.suspended) {
      await audit(db, {
        action: "signin.failed",
        target: found.username,
        ip,
        details: { reason: "suspended" },
      });
      throw forbidden("this account is suspended", "suspended");
    }
    await limits.succeeded(username);
    const user = { id: found.id, username: found.username, is_admin: found.is_admin };
    await audit(db, {
      actor: user,
      action: "signin.succeeded",
      target: user.username,
      ip,
      details: { via: "password" },
    });
    res.json(await startSession(req, res, user));
  });

  router.get("/api/session", async (req, res) => {
    const user = res.locals.user;
    if (!user || !res.locals.browserSession) throw unauthorized("not signed in");
    const view: BrowserSessionView = {
      user: await selfView(user.id),
      csrf_token: csrfToken(req, res, { secure: secure(req) }),
    };
    res.set("Cache-Control", "no-store").json(view);
  });

  router.delete("/api/session", async (req, res) => {
    const session = res.locals.browserSession;
    const user = res.locals.user;
    if (session && user) {
      await sessions.end(session.hash);
      await audit(db, { actor: user, action: "signout", target: user.username, ip: req.ip });
    }
    res.append("Set-Cookie", clearedCookie(SESSION_COOKIE, secure(req)));
    res.append("Set-Cookie", clearedCookie(CSRF_COOKIE, secure(req)));
    res.status(204).end();
  });

  router.post("/api/signup", async (req, res) => {
    const body = parseBody(SignUpBody, req.body ?? {});
    const user = await signUpWithPassword(db, config.PLUE_SIGNUP, body, req.ip);
    res.status(201).json(await startSession(req, res, user));
  });

  router.post("/api/password", async (req, res) => {
    const { token, password } = parseBody(PasswordBody, req.body ?? {});
    const user = await setPasswordWithLink(db, token, password, req.ip);
    // A new password signs every other browser of this user out.
    await sessions.endAllOf(user.id);
    await limits.succeeded(user.username);
    if (user.suspended) return void res.status(204).end();
    res.json(await startSession(req, res, user));
  });

  // ---- lockouts (site admins) ----
  const requireAdmin = (res: Response): User => {
    const user = res.locals.user;
    if (!user) throw unauthorized();
    if (!user.is_admin) throw forbidden("only site admins may see or lift lockouts");
    if (!hasScope(user.scopes, "admin")) throw missingScope("admin");
    return user;
  };
  router.get("/api/admin/lockouts", async (_req, res) => {
    requireAdmin(res);
    res.json({ lockouts: await limits.lockouts() });
  });
  router.delete("/api/admin/lockouts/:user", async (req, res) => {
    const admin = requireAdmin(res);
    const name = String(req.params.user);
    if (name.length > 200 || !(await limits.unlock(name)))
      throw notFound(`${name.slice(0, 100)} is not locked`);
    await audit(db, { actor: admin, action: "user.unlocked", target: name, ip: req.ip });
    res.status(204).end();
  });

  // ---- single sign-on ----
  router.get(`${FLOW_PATH}/start`, async (req, res) => {
    if (!sso) throw notFound("single sign-on is not configured here (PLUE_OIDC_ISSUER)");
    const invite =
      typeof req.query.invite === "string" && req.query.invite.length <= 200 ? req.query.invite : undefined;
    const { url, flow } = await sso.start(invite);
    res.append("Set-Cookie", flowCookie(encodeFlow(flow), secure(req), FLOW_MAX_AGE_S));
    res.set("Cache-Control", "no-store").redirect(303, url);
  });

  router.get(`${FLOW_PATH}/callback`, async (req, res) => {
    if (!sso) throw notFound("single sign-on is not configured here (PLUE_OIDC_ISSUER)");
    const flow = decodeFlow(requestCookies(req)[FLOW_COOKIE]);
    // The flow is single-use: its cookie goes whatever happens next.
    res.append("Set-Cookie", flowCookie("", secure(req), 0));
    if (!flow)
      throw new AppError(
        400,
        "oidc_failed",
        "no single sign-on in progress here (or it took too long): start again",
      );
    const callback = new URL(req.originalUrl, `${ctx.publicUrl()}/`);
    const who = await sso.finish(callback, flow);
    const user = await oidcUser(who, flow.invite, req.ip);
    await audit(db, {
      actor: user,
      action: "signin.succeeded",
      target: user.username,
      ip: req.ip,
      details: { via: "sso" },
    });
    await startSession(req, res, user);
    res.set("Cache-Control", "no-store").redirect(303, "/");
  });

  /** The account of (issuer, sub), created on first sign-on when sign-up allows it. */
  async function oidcUser(
    who: { issuer: string; sub: string; nameHint: string; email: string | null; fullName: string },
    invite: string | undefined,
    ip: string | undefined,
  ): Promise<User> {
    const r = await db.query<User & { suspended: boolean }>(
      `SELECT id::int AS id, username, is_admin, suspended_at IS NOT NULL AS suspended
         FROM users WHERE oidc_issuer = $1 AND oidc_sub = $2 AND kind = 'user'`,
      [who.issuer, who.sub],
    );
    const found = r.rows[0];
    if (found?.suspended) throw forbidden("this account is suspended", "suspended");
    if (found) return { id: found.id, username: found.username, is_admin: found.is_admin };
    const oidc = { issuer: who.issuer, sub: who.sub };
    const person = { email: who.email, fullName: who.fullName, oidc, invite };
    try {
      return await signUp(
        db,
        config.PLUE_SIGNUP,
        { ...person, username: await freeUsername(db, who.nameHint) },
        ip,
      );
    } catch (err) {
      // Two first sign-ons raced to one derived name: the loser takes the next one.
      if (!(err instanceof AppError) || err.code !== "username_taken") throw err;
      return signUp(
        db,
        config.PLUE_SIGNUP,
        { ...person, username: await freeUsername(db, who.nameHint) },
        ip,
      );
    }
  }

  return router;
}

function flowCookie(value: string, secure: boolean, maxAge: number): string {
  return serializeCookie(FLOW_COOKIE, value, {
    httpOnly: true,
    sameSite: "lax",
    path: FLOW_PATH,
    secure,
    maxAge,
  });
}
