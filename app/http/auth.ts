/**
 * Who is calling. `Authorization: Bearer <token>` for the API; HTTP Basic with the token as the
 * password for git clients. The user lands in `res.locals.user`; routes decide what they need.
 *
 * One parser for every route that reads the header (API, git smart HTTP, runner callbacks, the
 * pool, /metrics): no header is anonymous; a header that is present but not exactly one of the
 * accepted forms is a 401, never anonymous, so a client with a broken credential learns at once
 * instead of silently seeing only public data.
 */
import type { RequestHandler } from "express";
import { type User, userForToken } from "../auth/tokens";
import type { Queryable } from "../db";
import { type AppError, unauthorized } from "../errors";

declare global {
  namespace Express {
    interface Locals {
      user?: User;
    }
  }
}

export interface Credentials {
  readonly scheme: "bearer" | "basic";
  /** The bearer token, or the password part of Basic. */
  readonly token: string;
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
  if (scheme === "basic" && accept.basic) return { scheme, token: basicPassword(value) };
  throw new MalformedAuthorization(`unsupported Authorization scheme: expected ${expected}`);
}

function basicPassword(value: string): string {
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
  return password;
}

export interface TokenOptions {
  /** Accept HTTP Basic (token as password) as well as Bearer. @default false */
  readonly basic?: boolean;
  /** The 401 for a malformed header. @default `unauthorized(message)` (WWW-Authenticate: Bearer) */
  readonly challenge?: (message: string) => AppError;
}

/** The token a request carries, if any; a malformed header throws the route's 401. */
export function tokenFrom(header: string | undefined, options: TokenOptions = {}): string | undefined {
  try {
    return parseAuthorization(header, options)?.token;
  } catch (err) {
    if (!(err instanceof MalformedAuthorization)) throw err;
    throw (options.challenge ?? unauthorized)(err.message);
  }
}

/** Resolves the caller if a token is present; a present but wrong token is a 401, never anonymous. */
export function authenticate(db: Queryable): RequestHandler {
  return async (req, res, next) => {
    const token = tokenFrom(req.headers.authorization, { basic: true });
    if (token === undefined) return next();
    const user = await userForToken(db, token);
    if (!user) throw unauthorized("invalid or revoked token");
    res.locals.user = user;
    next();
  };
}

export const requireUser: RequestHandler = (_req, res, next) => {
  if (!res.locals.user) throw unauthorized();
  next();
};
