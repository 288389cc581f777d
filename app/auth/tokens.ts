/**
 * Users and API tokens. A token is 32 random bytes, shown once; only its sha256 is stored, and
 * lookups compare hashes (an index lookup on the digest, so nothing compares the secret itself).
 */
import { createHash, randomBytes } from "node:crypto";
import type { Queryable } from "../db";
import type { Scope } from "./scopes";

export const TOKEN_PREFIX = "plue_";

export interface User {
  id: number;
  username: string;
  is_admin: boolean;
  /** The scopes of the token this request came with; undefined: every scope (app/auth/scopes.ts). */
  scopes?: readonly Scope[];
}

export function newToken(prefix = TOKEN_PREFIX): string {
  return prefix + randomBytes(32).toString("base64url");
}

export function hashToken(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

export async function createUser(db: Queryable, username: string, isAdmin = false): Promise<User> {
  const r = await db.query<User>(
    "INSERT INTO users (username, is_admin) VALUES ($1, $2) RETURNING id::int AS id, username, is_admin",
    [username, isAdmin],
  );
  return r.rows[0]!;
}

/** Creates a token for a user and returns it in clear text: the only time it exists unhashed. */
export async function createApiToken(db: Queryable, userId: number, name: string): Promise<string> {
  const token = newToken();
  await db.query("INSERT INTO api_tokens (user_id, name, token_hash) VALUES ($1, $2, $3)", [
    userId,
    name,
    hashToken(token),
  ]);
  return token;
}

export async function userForToken(db: Queryable, token: string): Promise<User | undefined> {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return undefined;
  const hash = hashToken(token);
  const r = await db.query<User & { stale: boolean }>(
    `SELECT u.id::int AS id, u.username, u.is_admin,
            (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute') AS stale
       FROM api_tokens t JOIN users u ON u.id = t.user_id
      WHERE t.token_hash = $1 AND t.revoked_at IS NULL`,
    [hash],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  // Bookkeeping off the hot path: at most one write a minute per token, never awaited.
  if (row.stale) {
    db.query("UPDATE api_tokens SET last_used_at = now() WHERE token_hash = $1", [hash]).catch(() => {});
  }
  return { id: row.id, username: row.username, is_admin: row.is_admin };
}
