/**
 * Who is calling. `Authorization: Bearer <token>` for the API; HTTP Basic `username:token` for git
 * clients (the username is the token owner's, or a placeholder: PLACEHOLDER_USERNAMES in
 * app/auth/tokens.ts). The user lands in `res.locals.user`; routes decide what they need
 * (`requireUser`, `requireAdmin`, `requireScope`).
 *
 * One parser for every route that reads the header (API, git smart HTTP, runner callbacks, the
 * pool, /metrics): no header is anonymous; a header that is present but not exactly one of the
 * accepted forms is a 401, never anonymous, so a client with a broken credential learns at once
 * instead of silently seeing only public data.
 */
import { serialize as serializeCookie } from "cookie";
import type { Request, RequestHandler, Response } from "express";
import { type BrowserSessions, SESSION_COOKIE } from "../auth/browser-sessions";
import { hasScope, missingScope, type Scope } from "../auth/scopes";
import type { TokenAuth, User } from "../auth/tokens";
import { type AppError, forbidden, unauthorized } from "../errors";
import { bindCsrfSession, checkCsrf, checkOrigin, isStateChanging, requestCookies } from "./csrf";

declare global {
  namespace Express {
    interface Locals {
      user?: User;
      /** Set when the caller was authenticated by the browser-session cookie: that session's hash. */
      browserSession?: { hash: string };
    }
  }
}

export interface Credentials {
  readonly scheme: "bearer" | "basic";
  /** The bearer token, or the password part of Basic. */
  readonly token: string;
  /** The user part of Basic (may be empty); absent for Bearer. */
  readonly username?: string;
}

/** An Authorization header that is present and cannot be used; its message never quotes it. */
export class MalformedAuthorization extends Error {
  override readonly name = "MalformedAuthorization";
}

/** `<scheme> <credentials>`: one space, visible ASCII only (RFC 9110 §11.4). */
const HEADER = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*) ([\x21-\x7e]+)$/;
/** Canonical base64 (padding required), as every git and curl sends. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})+$|^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)$/;
const MAX_HEADER = 4096;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The credentials an Authorization header carries; undefined when there is no header.
 * Throws MalformedAuthorization for anything else: an empty value, extra spaces, an unknown
 * scheme, an empty token, Basic that is not base64 of UTF-8 `user:password` with a
 * password (or Basic where only Bearer is accepted).
 */
export function parseAuthorization(
  header: string | undefined,
  accept: { basic?: boolean } = {},
): Credentials | undefined {
  if (header === undefined) return undefined;
  const expected = accept.basic ? '"Bearer <token>" or "Basic <base64 of user:token>"' : '"Bearer <token>"';
  const m = header.length <= MAX_HEADER ? HEADER.exec(header) : null;
  if (!m) throw new MalformedAuthorization(`malformed Authorization header: expected ${expected}`);
  const scheme = m[1]!.toLowerCase();
  const value = m[2]!;
  // Any visible ASCII (HEADER checked it), not only RFC 6750's b64token: the pool secret and the
  // metrics token are chosen by operators and may hold other symbols.
  if (scheme === "bearer") return { scheme, token: value };
  if (scheme === "basic" && accept.basic) return { scheme, ...basicCredentials(value) };
  throw new MalformedAuthorization(`unsupported Authorization scheme: expected ${expected}`);
}

function basicCredentials(value: string): { token: string; username: string } {
  if (!BASE64.test(value)) throw new MalformedAuthorization("malformed Basic credentials: not base64");
  let decoded: string;
  try {
    decoded = utf8.decode(Buffer.from(value, "base64"));
  } catch {
    throw new MalformedAuthorization("malformed Basic credentials: not UTF-8");
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) throw new MalformedAuthorization('malformed Basic credentials: expected "user:token"');
  const password = decoded.slice(colon + 1);
  if (password === "") throw new MalformedAuthorization("Basic credentials without a token as password");
  return { token: password, username: decoded.slice(0, colon) };
}

export interface TokenOptions {
  /** Accept HTTP Basic (token as password) as well as Bearer. @default false */
  readonly basic?: boolean;
  /** The 401 for a malformed header. @default `unauthorized(message)` (WWW-Authenticate: Bearer) */
  readonly challenge?: (message: string) => AppError;
}

/** The credentials a request carries, if any; a malformed header throws the route's 401. */
export function credentialsFrom(
  header: string | undefined,
  options: TokenOptions = {},
): Credentials | undefined {
  try {
    return parseAuthorization(header, options);
  } catch (err) {
    if (!(err instanceof MalformedAuthorization)) throw err;
    throw (options.challenge ?? unauthorized)(err.message);
  }
}

/** The token a request carries, if any; a malformed header throws the route's 401. */
export function tokenFrom(header: string | undefined, options: TokenOptions = {}): string | undefined {
  return credentialsFrom(header, options)?.token;
}

/** What token authentication needs: the cached token lookup (the cookie path takes CookieSessions). */
export interface AuthDeps {
  readonly tokens: TokenAuth;
}

/**
 * Resolves the caller if credentials are present; present but unusable ones (unknown, revoked or
 * expired token, a suspended user, a Basic username that is not the token's) are a 401, never
 * anonymous. Without an Authorization header, the browser-session cookie (when `cookies` is
 * given: the API; git and /internal never take it).
 */
export function authenticate(deps: AuthDeps, cookies?: CookieSessions): RequestHandler {
  return async (req, res, next) => {
    const user = await tokenCaller(deps, req.headers.authorization);
    if (user) res.locals.user = user;
    else if (cookies && req.headers.authorization === undefined) await cookieAuthenticate(req, res, cookies);
    next();
  };
}

/**
 * The user an Authorization header (Bearer, or Basic `username:token`) stands for: undefined
 * without one; the 401 for one that names nobody. What `authenticate` and the file fast path ask.
 */
export async function tokenCaller(deps: AuthDeps, header: string | undefined): Promise<User | undefined> {
  const credentials = credentialsFrom(header, { basic: true });
  if (credentials === undefined) return undefined;
  const user = await deps.tokens.user(credentials.token, credentials.username);
  if (!user) throw unauthorized("invalid, expired or revoked token");
  return user;
}

export const requireUser: RequestHandler = (_req, res, next) => {
  if (!res.locals.user) throw unauthorized();
  next();
};

/** A signed-in site admin (401 anonymous, 403 otherwise). */
export const requireAdmin: RequestHandler = (_req, res, next) => {
  const user = res.locals.user;
  if (!user) throw unauthorized();
  if (!user.is_admin) throw forbidden("only a site admin may do this", "admin_only");
  next();
};

/**
 * A caller whose token holds `scope` (a browser session holds every scope). For the routes that
 * are not about one repository: `user` for /api/user/*, `admin` for /api/admin/*; repository
 * scopes are decided with the role, in app/auth/permissions.ts.
 */
export function requireScope(scope: Scope): RequestHandler {
  return (_req, res, next) => {
    const user = res.locals.user;
    if (!user) throw unauthorized();
    if (!hasScope(user.scopes, scope)) throw missingScope(scope);
    next();
  };
}

// ---- the browser-session cookie (docs/accounts.md, "Signing in") ---------------------------

export interface CookieSessions {
  readonly sessions: BrowserSessions;
  readonly publicUrl: () => string;
}

/** POSTs that authenticate by password or link themselves: the cookie's user is not theirs. */
const CREDENTIAL_PATHS = new Set(["/session", "/signup", "/password"]);

/** Whether cookies set for this request should be `Secure`. */
export const secureCookies = (req: Request, publicUrl: string) =>
  req.secure || publicUrl.startsWith("https:");

/** The session cookie's value, if any (and `req.cookies`, which the CSRF check reads). */
export function sessionCookie(req: Request): string | undefined {
  const v = requestCookies(req)[SESSION_COOKIE];
  return typeof v === "string" ? v : undefined;
}

/**
 * The cookie path of `authenticate`: a live session makes the caller its user, with every scope
 * (no `scopes`). A state-changing request must come from this origin (403 `cross_origin`) and,
 * made with the cookie, carry the session's CSRF token (403 `csrf_failed`), before any route runs.
 * A cookie that names no live session is anonymous, and is cleared.
 */
async function cookieAuthenticate(req: Request, res: Response, { sessions, publicUrl }: CookieSessions) {
  const secret = sessionCookie(req);
  const unsafe = isStateChanging(req.method);
  const credentials = req.method === "POST" && CREDENTIAL_PATHS.has(req.path);
  if (unsafe && (secret !== undefined || credentials)) checkOrigin(req, publicUrl());
  if (secret === undefined) return;
  const session = await sessions.resolve(secret);
  if (!session) {
    res.append("Set-Cookie", clearedCookie(SESSION_COOKIE, secureCookies(req, publicUrl())));
    return;
  }
  bindCsrfSession(req, { secret, hash: session.hash });
  if (credentials) return;
  if (unsafe) checkCsrf(req);
  res.locals.user = { ...session.user, via: "session" };
  res.locals.browserSession = { hash: session.hash };
}

export function clearedCookie(name: string, secure: boolean): string {
  return serializeCookie(name, "", { httpOnly: true, sameSite: "lax", path: "/", secure, maxAge: 0 });
}
