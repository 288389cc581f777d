/**
 * Users and personal access tokens (docs/accounts.md, "Tokens and scopes"). A token is 32 random
 * bytes, shown once; only its sha256 is stored, and lookups compare hashes (an index lookup on the
 * digest, so nothing compares the secret itself). A token carries scopes (null: every scope) and
 * may expire; it stops working when revoked, when it expires, and while its user is suspended.
 *
 * `TokenAuth` is the cached lookup every request goes through: entries are tagged with the token
 * and its user, so revoking the token or suspending the user (`AuthChanges.changed`) drops them on
 * every replica at once. Expiry is compared on every hit, so a cached token still expires on time.
 */
import { createHash, hash, randomBytes } from "node:crypto";
import type { Queryable } from "../db";
import type { TokenView } from "../wire/accounts";
import type { AuthCache, AuthChanges } from "./changes";
import type { Scope } from "./scopes";

export const TOKEN_PREFIX = "plue_";

export interface User {
  id: number;
  username: string;
  is_admin: boolean;
  /** The scopes of the token this request came with; undefined: every scope (app/auth/scopes.ts). */
  scopes?: readonly Scope[];
  /** How this request was authenticated (undefined: not through a request, e.g. a service call). */
  via?: "token" | "session";
  /** The token of this request, when `via` is "token". */
  tokenId?: number;
}

/**
 * Basic usernames git clients conventionally send with a token instead of a real name (GitHub's
 * `x-access-token`, GitLab's `oauth2`, and the generic ones). Any other username must be the
 * token owner's, so a token pasted under someone else's name is refused instead of silently acting
 * as its owner.
 */
export const PLACEHOLDER_USERNAMES: ReadonlySet<string> = new Set([
  "x-access-token",
  "oauth2",
  "token",
  "git",
]);

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

export interface TokenOptions {
  /** undefined or null: every scope (only for the first-start admin token and internal use). */
  scopes?: readonly Scope[] | null;
  /** undefined or null: never expires. */
  expiresAt?: Date | string | null;
}

interface TokenRow {
  id: number;
  name: string;
  scopes: Scope[] | null;
  created_at: Date;
  last_used_at: Date | null;
  expires_at: Date | null;
}

const TOKEN_COLUMNS = "id::int AS id, name, scopes, created_at, last_used_at, expires_at";

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

export const tokenView = (row: TokenRow): TokenView => ({
  id: row.id,
  name: row.name,
  scopes: row.scopes,
  created_at: iso(row.created_at)!,
  last_used_at: iso(row.last_used_at),
  expires_at: iso(row.expires_at),
});

/**
 * Stores a token; returns it in clear text (the only time it exists unhashed) with its view.
 * Scopes are taken as given: callers check them (app/auth/accounts.ts `checkTokenScopes`).
 */
export async function issueToken(
  db: Queryable,
  userId: number,
  name: string,
  { scopes = null, expiresAt = null }: TokenOptions = {},
): Promise<{ token: string; view: TokenView }> {
  const token = newToken();
  const r = await db.query<TokenRow>(
    `INSERT INTO api_tokens (user_id, name, token_hash, scopes, expires_at) VALUES ($1, $2, $3, $4, $5)
     RETURNING ${TOKEN_COLUMNS}`,
    [userId, name, hashToken(token), scopes ? [...scopes] : null, expiresAt ? new Date(expiresAt) : null],
  );
  return { token, view: tokenView(r.rows[0]!) };
}

/** Creates a token for a user and returns it in clear text: the only time it exists unhashed. */
export async function createApiToken(
  db: Queryable,
  userId: number,
  name: string,
  options: TokenOptions = {},
): Promise<string> {
  return (await issueToken(db, userId, name, options)).token;
}

/** A user's tokens that are not revoked (expired ones too: their expiry shows), newest first. */
export async function listTokens(db: Queryable, userId: number): Promise<TokenView[]> {
  const r = await db.query<TokenRow>(
    `SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id DESC`,
    [userId],
  );
  return r.rows.map(tokenView);
}

/** Revokes one of the user's own live tokens; false when there is none with that id. */
export async function revokeToken(
  db: Queryable,
  userId: number,
  tokenId: number,
): Promise<TokenView | undefined> {
  const r = await db.query<TokenRow>(
    `UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL
     RETURNING ${TOKEN_COLUMNS}`,
    [tokenId, userId],
  );
  return r.rows[0] ? tokenView(r.rows[0]) : undefined;
}

/** What a token lookup finds; cached by TokenAuth. */
export interface TokenGrant {
  user: User;
  tokenId: number;
  /** Epoch milliseconds; null: never. */
  expiresAt: number | null;
}

const plausible = (token: string) => token.startsWith(TOKEN_PREFIX) && token.length <= 200;

/**
 * The live token with this secret, of a user who is not suspended (an organization never signs in):
 * undefined for unknown, revoked and expired tokens and for suspended users' tokens.
 */
export async function grantForToken(db: Queryable, token: string): Promise<TokenGrant | undefined> {
  if (!plausible(token)) return undefined;
  const r = await db.query<{
    id: number;
    username: string;
    is_admin: boolean;
    token_id: number;
    scopes: Scope[] | null;
    expires_at: Date | null;
  }>(
    `SELECT u.id::int AS id, u.username, u.is_admin, t.id::int AS token_id, t.scopes, t.expires_at
       FROM api_tokens t JOIN users u ON u.id = t.user_id
      WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
        AND u.suspended_at IS NULL AND u.kind = 'user'`,
    [hashToken(token)],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  const user: User = {
    id: row.id,
    username: row.username,
    is_admin: row.is_admin,
    via: "token",
    tokenId: row.token_id,
  };
  if (row.scopes) user.scopes = Object.freeze([...row.scopes]);
  return {
    user,
    tokenId: row.token_id,
    expiresAt: row.expires_at ? new Date(row.expires_at).getTime() : null,
  };
}

/** The uncached lookup (tests, one-off tools); requests go through TokenAuth. */
export async function userForToken(db: Queryable, token: string): Promise<User | undefined> {
  return (await grantForToken(db, token))?.user;
}

/** Whether a Basic username may go with a token of `owner`: the owner's name or a placeholder. */
export function usernameFits(username: string | undefined, owner: string): boolean {
  if (username === undefined || username === "") return true;
  const lower = username.toLowerCase();
  return lower === owner.toLowerCase() || PLACEHOLDER_USERNAMES.has(lower);
}

/** How often, at most, a token's last_used_at is written (per replica). */
const TOUCH_EVERY_MS = 60_000;

/** The cached token lookup of every request (API and git). */
export class TokenAuth {
  private readonly cache: AuthCache<TokenGrant>;
  /** When this replica last wrote each token's last_used_at. */
  private readonly touched = new Map<number, number>();

  constructor(
    private readonly db: Queryable,
    changes: AuthChanges,
  ) {
    this.cache = changes.cache<TokenGrant>();
  }

  /**
   * The user a token stands for, with its scopes; undefined (→ 401) for a token that is unknown,
   * revoked, expired or of a suspended user, and for a Basic `username` that is neither the
   * owner's nor a placeholder.
   */
  async user(token: string, username?: string): Promise<User | undefined> {
    if (!plausible(token)) return undefined;
    // The one-shot hash: a fifth of createHash's cost, on every authenticated request.
    const grant = await this.cache.get(hash("sha256", token, "base64"), async () => {
      const found = await grantForToken(this.db, token);
      // Misses are not stored: an unsuspended user's token works again at once.
      return found && { value: found, tags: [`token:${found.tokenId}`, `user:${found.user.id}`] };
    });
    if (!grant) return undefined;
    if (grant.expiresAt !== null && grant.expiresAt <= Date.now()) return undefined;
    if (!usernameFits(username, grant.user.username)) return undefined;
    this.touch(grant.tokenId);
    return { ...grant.user }; // a copy: the cached one is shared by every request
  }

  /** last_used_at, off the hot path: at most one write a minute per token per replica, never awaited. */
  private touch(tokenId: number): void {
    const now = Date.now();
    if (now - (this.touched.get(tokenId) ?? 0) < TOUCH_EVERY_MS) return;
    if (this.touched.size > 10_000) this.touched.clear();
    this.touched.set(tokenId, now);
    this.db
      .query(
        "UPDATE api_tokens SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        [tokenId],
      )
      .catch(() => {});
  }
}
