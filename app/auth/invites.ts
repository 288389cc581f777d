/**
 * Single-use links: an invite to create an account (PLUE_SIGNUP=invite), or, with a user, a link
 * for that user to set a password (the first admin's, a user an admin created without one). Stored
 * hashed like tokens; taking one marks it used in the same statement, so two uses race to one win.
 */
import type { Queryable } from "../db";
import { AppError } from "../errors";
import { hashToken, newToken } from "./tokens";

export const INVITE_PREFIX = "plinv_";
export const INVITE_TTL_MS = 7 * 24 * 3600_000;
export const PASSWORD_LINK_TTL_MS = 24 * 3600_000;

export interface Invite {
  id: number;
  /** Set: a password-setting link for this user; null: an invite to sign up. */
  userId: number | null;
  createdAt: string;
  expiresAt: string;
}

/** Creates a link and returns its secret in clear text (the only time it exists unhashed). */
export async function createInvite(
  db: Queryable,
  {
    userId = null,
    createdBy = null,
    ttlMs,
  }: { userId?: number | null; createdBy?: number | null; ttlMs?: number },
): Promise<{ invite: Invite; secret: string }> {
  const secret = newToken(INVITE_PREFIX);
  const ttl = ttlMs ?? (userId === null ? INVITE_TTL_MS : PASSWORD_LINK_TTL_MS);
  const r = await db.query<{ id: number; created_at: Date; expires_at: Date }>(
    `INSERT INTO invites (token_hash, user_id, created_by, expires_at)
     VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING id::int AS id, created_at, expires_at`,
    [hashToken(secret), userId, createdBy, ttl / 1000],
  );
  const row = r.rows[0]!;
  return {
    invite: {
      id: row.id,
      userId,
      createdAt: new Date(row.created_at).toISOString(),
      expiresAt: new Date(row.expires_at).toISOString(),
    },
    secret,
  };
}

/**
 * Marks the link used by `usedBy` and returns it; a link that is unknown, used or expired is a 410
 * that says which, and changes nothing. Call inside the transaction that does what the link allows.
 */
export async function takeInvite(
  tx: Queryable,
  secret: string,
  kind: "signup" | "password",
  usedBy: number | null = null,
): Promise<Invite> {
  const r = await tx.query<{
    id: number;
    user_id: number | null;
    created_at: Date;
    expires_at: Date;
    used_at: Date | null;
    expired: boolean;
  }>(
    `SELECT id::int AS id, user_id::int AS user_id, created_at, expires_at, used_at, expires_at <= now() AS expired
       FROM invites WHERE token_hash = $1 FOR UPDATE`,
    [hashToken(secret)],
  );
  const row = r.rows[0];
  const what = kind === "signup" ? "invite" : "password link";
  if (!row || (kind === "signup") !== (row.user_id === null)) {
    throw new AppError(410, "invite_invalid", `this ${what} is not valid`);
  }
  if (row.used_at) throw new AppError(410, "invite_used", `this ${what} was already used`);
  if (row.expired)
    throw new AppError(410, "invite_expired", `this ${what} has expired; ask an admin for a new one`);
  await tx.query("UPDATE invites SET used_at = now(), used_by = $2 WHERE id = $1", [
    row.id,
    usedBy ?? row.user_id,
  ]);
  return {
    id: row.id,
    userId: row.user_id,
    createdAt: new Date(row.created_at).toISOString(),
    expiresAt: new Date(row.expires_at).toISOString(),
  };
}
