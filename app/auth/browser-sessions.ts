/**
 * Browser sessions (docs/accounts.md, "Signing in"). The `plue_session` cookie holds 32 random
 * bytes; only their sha256 is stored (`browser_sessions.id_hash`), so a database leak yields no
 * usable cookie. A session lives at most SESSION_MAX_AGE_MS from sign-in, and ends earlier when
 * unused for SESSION_IDLE_MS. Sign-out deletes the row and drops the cached entry on every replica
 * (tag `session:<hash>`); suspending a user (tag `user:<id>`) ends their sessions the same way.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Queryable } from "../db";
import type { AuthCache, AuthChanges } from "./changes";
import type { User } from "./tokens";

export const SESSION_COOKIE = "plue_session";
export const SESSION_PREFIX = "plses_";
/** The longest a session lives, however busy: 30 days from sign-in. */
export const SESSION_MAX_AGE_MS = 30 * 24 * 3600_000;
/** A session unused this long has ended: 7 days. */
export const SESSION_IDLE_MS = 7 * 24 * 3600_000;
/** last_seen_at is written at most this often per session (bookkeeping, not a per-request write). */
const TOUCH_MS = 5 * 60_000;

/** A signed-in browser: who, and the stored hash that names the session (hex). */
export interface BrowserSession {
  hash: string;
  user: User;
  /** When it ends (ms since epoch): the absolute cap or the idle limit, whichever comes first. */
  endsAt: number;
}

export interface BrowserSessionsDeps {
  db: Queryable;
  auth: AuthChanges;
}

const SECRET = /^plses_[A-Za-z0-9_-]{43}$/;

export const sessionHash = (secret: string): string => createHash("sha256").update(secret).digest("hex");

export class BrowserSessions {
  private readonly cache: AuthCache<BrowserSession | null>;

  constructor(private readonly deps: BrowserSessionsDeps) {
    this.cache = deps.auth.cache<BrowserSession | null>({ ttlMs: 30_000 });
  }

  /** Signs `userId` in: a new session, returned with its secret (the cookie value, shown once). */
  async create(
    userId: number,
    from: { ip?: string; userAgent?: string } = {},
  ): Promise<{ secret: string; hash: string }> {
    const secret = SESSION_PREFIX + randomBytes(32).toString("base64url");
    const hash = sessionHash(secret);
    const { db } = this.deps;
    // Ended sessions of this user go as a new one begins: the table holds no dead rows for long.
    await db.query(
      `DELETE FROM browser_sessions WHERE user_id = $1
          AND (expires_at <= now() OR last_seen_at <= now() - make_interval(secs => $2))`,
      [userId, SESSION_IDLE_MS / 1000],
    );
    await db.query(
      `INSERT INTO browser_sessions (id_hash, user_id, expires_at, ip, user_agent)
       VALUES ($1, $2, now() + make_interval(secs => $3), $4, $5)`,
      [
        Buffer.from(hash, "hex"),
        userId,
        SESSION_MAX_AGE_MS / 1000,
        from.ip ?? null,
        from.userAgent?.slice(0, 300) ?? null,
      ],
    );
    return { secret, hash };
  }

  /** The live session a cookie value names; undefined for anything else (never throws for bad input). */
  async resolve(secret: string | undefined): Promise<BrowserSession | undefined> {
    if (!secret || !SECRET.test(secret)) return undefined;
    const hash = sessionHash(secret);
    // A miss is cached too (tagged with its session only): secrets are random, so a hash that names
    // no session now never will, and a flood of bad cookies costs one query each at most.
    const session = await this.cache.get(hash, async () => {
      const value = await this.load(hash);
      const tags = value
        ? ([`session:${hash}`, `user:${value.user.id}`] as const)
        : ([`session:${hash}`] as const);
      return { value, tags };
    });
    if (!session || Date.now() >= session.endsAt) return undefined;
    return session;
  }

  private async load(hash: string): Promise<BrowserSession | null> {
    const { db } = this.deps;
    const id = Buffer.from(hash, "hex");
    const r = await db.query<{
      user_id: number;
      username: string;
      is_admin: boolean;
      live: boolean;
      suspended: boolean;
      ends_in_ms: number;
      stale: boolean;
    }>(
      `SELECT s.user_id::int AS user_id, u.username, u.is_admin,
              (s.expires_at > now() AND s.last_seen_at > now() - make_interval(secs => $2)) AS live,
              (u.suspended_at IS NOT NULL OR u.kind <> 'user') AS suspended,
              (extract(epoch FROM s.expires_at - now()) * 1000)::float8 AS ends_in_ms,
              s.last_seen_at < now() - make_interval(secs => $3) AS stale
         FROM browser_sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id_hash = $1`,
      [id, SESSION_IDLE_MS / 1000, TOUCH_MS / 1000],
    );
    const row = r.rows[0];
    if (!row) return null;
    if (!row.live || row.suspended) {
      await db.query("DELETE FROM browser_sessions WHERE id_hash = $1", [id]);
      return null;
    }
    if (row.stale) {
      db.query("UPDATE browser_sessions SET last_seen_at = now() WHERE id_hash = $1", [id]).catch(() => {});
    }
    const endsAt = Date.now() + Math.min(Number(row.ends_in_ms), SESSION_IDLE_MS);
    return { hash, user: { id: row.user_id, username: row.username, is_admin: row.is_admin }, endsAt };
  }

  /** Signs one session out, here and on every replica, at once. */
  async end(hash: string): Promise<void> {
    await this.deps.db.query("DELETE FROM browser_sessions WHERE id_hash = $1", [Buffer.from(hash, "hex")]);
    await this.deps.auth.changed(`session:${hash}`);
  }

  /** Ends every session of a user but `keep` (a password was set: other browsers sign in again). */
  async endAllOf(userId: number, keep?: string): Promise<void> {
    await this.deps.db.query(
      "DELETE FROM browser_sessions WHERE user_id = $1 AND ($2::bytea IS NULL OR id_hash <> $2)",
      [userId, keep ? Buffer.from(keep, "hex") : null],
    );
    await this.deps.auth.changed(`user:${userId}`);
  }
}
