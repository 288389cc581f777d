/**
 * Cross-site request forgery defences for requests authenticated by the browser-session cookie
 * (docs/accounts.md, "Signing in"):
 * - the origin check: a state-changing request whose `Origin` is another origin, or that the
 *   browser marks `Sec-Fetch-Site: cross-site`, is a 403 `cross_origin`;
 * - a CSRF token (csrf-csrf, signed double submit): `GET`/`POST /api/session` answer it and set it
 *   in the `plue_csrf` cookie; a state-changing request sends it back as `X-CSRF-Token`, or is a
 *   403 `csrf_failed`. The token is an HMAC over the session's hash, so it works only with the
 *   session it was made for.
 *
 * The HMAC key is derived from the session cookie's own secret (HMAC-SHA256 under a fixed label):
 * every replica can compute it from the request alone, so no extra secret has to be configured or
 * shared between replicas, and nobody without the (HttpOnly) session cookie can know it.
 */
import { createHmac } from "node:crypto";
import { parse as parseCookies } from "cookie";
import { doubleCsrf } from "csrf-csrf";
import type { Request, Response } from "express";
import { SESSION_MAX_AGE_MS } from "../auth/browser-sessions";
import { forbidden } from "../errors";

export const CSRF_COOKIE = "plue_csrf";
export const CSRF_HEADER = "x-csrf-token";

/** The session a request acts in: its cookie secret and stored hash (set by cookie authentication). */
export interface CsrfSession {
  secret: string;
  hash: string;
}
const bound = new WeakMap<Request, CsrfSession>();

/** Ties `req` to a session: the one its cookie names, or the one a sign-in just created. */
export function bindCsrfSession(req: Request, session: CsrfSession): void {
  bound.set(req, session);
}

function sessionOf(req: Request): CsrfSession {
  const s = bound.get(req);
  if (!s) throw new Error("CSRF token asked for a request without a browser session");
  return s;
}

const { generateCsrfToken, validateRequest } = doubleCsrf({
  getSecret: (req) =>
    createHmac("sha256", sessionOf(req as Request).secret)
      .update("plue csrf v1")
      .digest("hex"),
  getSessionIdentifier: (req) => sessionOf(req as Request).hash,
  cookieName: CSRF_COOKIE,
  // As long-lived as the session cookie, so a browser restarted with a live session still has it.
  cookieOptions: { sameSite: "lax", path: "/", httpOnly: true, secure: true, maxAge: SESSION_MAX_AGE_MS },
  getCsrfTokenFromRequest: (req) => {
    const v = req.headers[CSRF_HEADER];
    return typeof v === "string" ? v : undefined;
  },
});

/** The request's cookies, parsed once (csrf-csrf reads `req.cookies`). */
export function requestCookies(req: Request): Record<string, string | undefined> {
  req.cookies ??= req.headers.cookie ? parseCookies(req.headers.cookie) : {};
  return req.cookies as Record<string, string | undefined>;
}

/** A token for the bound session (a fresh one after a sign-in), also set in the csrf cookie. */
export function csrfToken(
  req: Request,
  res: Response,
  { secure, fresh = false }: { secure: boolean; fresh?: boolean },
) {
  requestCookies(req);
  return generateCsrfToken(req, res, { cookieOptions: { secure }, overwrite: fresh });
}

/** 403 `csrf_failed` unless the request carries the bound session's token in header and cookie. */
export function checkCsrf(req: Request): void {
  requestCookies(req);
  if (!validateRequest(req)) {
    throw forbidden("missing or wrong CSRF token: send X-CSRF-Token from GET /api/session", "csrf_failed");
  }
}

export const isStateChanging = (method: string) => !["GET", "HEAD", "OPTIONS"].includes(method);

/**
 * 403 `cross_origin` when the browser says the request came from another site: `Origin` names
 * another origin than this server's (as configured, or as the request reached it), or is `null`.
 * A request without either header (curl, an old browser on a same-origin form) passes; the CSRF
 * token still guards those made with the cookie.
 */
export function checkOrigin(req: Request, publicUrl: string): void {
  if (req.headers["sec-fetch-site"] === "cross-site") {
    throw forbidden("cross-site requests may not use the session cookie", "cross_origin");
  }
  const origin = req.headers.origin;
  if (origin === undefined) return;
  const allowed = new Set([new URL(publicUrl).origin, `${req.protocol}://${req.get("host") ?? ""}`]);
  if (!allowed.has(origin))
    throw forbidden("requests from another origin may not use the session cookie", "cross_origin");
}
