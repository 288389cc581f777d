/**
 * Failed sign-ins, counted in the database (rate-limiter-flexible's RateLimiterPostgres on the
 * `signin_limits` table of migration 0009), so every replica sees the same counts:
 * - per account: ACCOUNT_FAILURES failures within WINDOW_S lock the account for LOCK_S, even for
 *   the right password (a 429 with Retry-After). Counted by the name tried, whether or not such an
 *   account exists, so a lockout tells nothing about which names exist;
 * - per client address: IP_FAILURES failures within WINDOW_S refuse that address for LOCK_S.
 * A successful sign-in clears the account's count. Admins see and lift lockouts.
 */
import type { RateLimiterPostgres, RateLimiterRes } from "rate-limiter-flexible";
import type { Queryable } from "../db";
import type { LockoutView } from "../wire/accounts";

export const ACCOUNT_FAILURES = 10;
export const IP_FAILURES = 50;
export const WINDOW_S = 15 * 60;
export const LOCK_S = 15 * 60;
const TABLE = "signin_limits";
const ACCOUNT_PREFIX = "signin_account";
const IP_PREFIX = "signin_ip";

/**
 * What RateLimiterPostgres calls (`client.query({name, text, values})` → `{rows, rowCount}`) over
 * our Db, PGlite or pg alike. Statement names are dropped (our pool prepares nothing by name), and
 * `expire` (bigint: a string from pg, a bigint from PGlite) becomes a number, as the library's
 * arithmetic expects.
 */
function storeClient(db: Queryable) {
  return {
    async query(q: { text: string; values?: unknown[] }) {
      const r = await db.query<{ points?: unknown; expire?: unknown }>(q.text, q.values);
      const rows = r.rows.map((row) => ({
        ...row,
        points: row.points === undefined ? undefined : Number(row.points),
        expire: row.expire === null || row.expire === undefined ? null : Number(row.expire),
      }));
      return { rows, rowCount: r.rowCount };
    },
  };
}

interface Limiters {
  account: RateLimiterPostgres;
  ip: RateLimiterPostgres;
}

/** rate-limiter-flexible loads on the first sign-in, not at start (its index is ~20 ms of imports). */
async function limiters(db: Queryable): Promise<Limiters> {
  const { RateLimiterPostgres } = await import("rate-limiter-flexible");
  const limiter = (keyPrefix: string, points: number) =>
    new RateLimiterPostgres({
      storeClient: storeClient(db),
      storeType: "pool",
      tableName: TABLE,
      tableCreated: true,
      // Rows of ended windows are overwritten by the next failure of the same key; no sweep timers.
      clearExpiredByTimeout: false,
      keyPrefix,
      points,
      duration: WINDOW_S,
    });
  return { account: limiter(ACCOUNT_PREFIX, ACCOUNT_FAILURES), ip: limiter(IP_PREFIX, IP_FAILURES) };
}

/** Names differ only in case (users_username_lower): one count per account. */
const accountKey = (username: string) => username.toLowerCase().slice(0, 200);

/** Seconds until `res` (a key's state) lets the next attempt through; 0: not blocked. */
function blockedFor(res: RateLimiterRes | null, points: number): number {
  if (!res || res.consumedPoints < points || res.msBeforeNext <= 0) return 0;
  return Math.ceil(res.msBeforeNext / 1000);
}

export class SigninLimits {
  private loaded?: Promise<Limiters>;

  constructor(private readonly db: Queryable) {}

  private limiters(): Promise<Limiters> {
    this.loaded ??= limiters(this.db);
    return this.loaded;
  }

  /** Seconds the account must wait (0: may try). */
  async accountLocked(username: string): Promise<number> {
    const { account } = await this.limiters();
    return blockedFor(await account.get(accountKey(username)), ACCOUNT_FAILURES);
  }

  async ipLocked(ip: string): Promise<number> {
    return blockedFor(await (await this.limiters()).ip.get(ip), IP_FAILURES);
  }

  /** Counts one failure against both; says whether this one locked the account. */
  async failed(username: string, ip: string): Promise<{ locked: boolean }> {
    const limit = await this.limiters();
    const key = accountKey(username);
    const [account, address] = await Promise.all([consume(limit.account, key), consume(limit.ip, ip)]);
    // The failure that reaches the limit starts a full LOCK_S lock (not just the window's rest).
    if (address.consumedPoints === IP_FAILURES) await limit.ip.block(ip, LOCK_S);
    if (account.consumedPoints !== ACCOUNT_FAILURES) return { locked: false };
    await limit.account.block(key, LOCK_S);
    return { locked: true };
  }

  async succeeded(username: string): Promise<void> {
    await (await this.limiters()).account.delete(accountKey(username));
  }

  /** Lifts an account's lockout; says whether there was anything to lift. */
  async unlock(username: string): Promise<boolean> {
    return (await this.limiters()).account.delete(accountKey(username));
  }

  lockouts(): Promise<LockoutView[]> {
    return lockouts(this.db);
  }
}

/** Accounts locked now (that exist), with when each lock ends: one query, no limiter needed. */
export async function lockouts(db: Queryable): Promise<LockoutView[]> {
  const r = await db.query<{ username: string; points: number; expire: string }>(
    `SELECT u.username, l.points, l.expire::text AS expire
       FROM signin_limits l JOIN users u ON l.key = $1 || lower(u.username)
      WHERE l.points >= $2 AND l.expire > $3 ORDER BY l.expire`,
    [`${ACCOUNT_PREFIX}:`, ACCOUNT_FAILURES, Date.now()],
  );
  return r.rows.map((row) => ({
    username: row.username,
    failures: Math.min(Number(row.points), ACCOUNT_FAILURES),
    until: new Date(Number(row.expire)).toISOString(),
  }));
}

/** consume() rejects with the limiter's state once over the limit; either way it counted. */
async function consume(l: RateLimiterPostgres, key: string): Promise<RateLimiterRes> {
  try {
    return await l.consume(key);
  } catch (err) {
    if (err instanceof Error) throw err;
    return err as RateLimiterRes;
  }
}

/** When failed sign-ins have locked `username` until (ISO), or null; for the admin users list. */
export async function lockedUntil(db: Queryable, username: string): Promise<string | null> {
  const seconds = await new SigninLimits(db).accountLocked(username);
  return seconds > 0 ? new Date(Date.now() + seconds * 1000).toISOString() : null;
}

/** Every account locked now, by username: when each lock ends (ISO); for the admin users list. */
export async function lockedUntilByName(db: Queryable): Promise<Map<string, string>> {
  return new Map((await lockouts(db)).map((l) => [l.username, l.until]));
}
