/**
 * Who is calling. `Authorization: Bearer <token>` for the API; HTTP Basic with the token as the
 * password for git clients. The user lands in `res.locals.user`; routes decide what they need.
 */
import type { RequestHandler } from "express";
import { type User, userForToken } from "../auth/tokens";
import type { Queryable } from "../db";
import { unauthorized } from "./errors";

declare global {
  namespace Express {
    interface Locals {
      user?: User;
    }
  }
}

/** The token a request carries, from Bearer or Basic (password part), if any. */
export function tokenFrom(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.split(" ", 2);
  if (!value) return undefined;
  if (/^bearer$/i.test(scheme ?? "")) return value.trim();
  if (/^basic$/i.test(scheme ?? "")) {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    return colon >= 0 ? decoded.slice(colon + 1) : undefined;
  }
  return undefined;
}

/** Resolves the caller if a token is present; a present but wrong token is a 401, never anonymous. */
export function authenticate(db: Queryable): RequestHandler {
  return async (req, res, next) => {
    const token = tokenFrom(req.headers.authorization);
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
