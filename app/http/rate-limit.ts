/**
 * Per-user rate limits counted in the database (table `rate_limits`), so every replica shares
 * one count: a fixed window per (action, user), incremented with one atomic upsert and timed by
 * the database's clock. In-memory counters (e.g. rate-limiter-flexible's memory store) would give
 * each replica its own allowance; its Postgres store needs a `pg` pool and its own table, and does
 * not run on the embedded PGlite. Creations are rare, so one statement per creation is cheap.
 */
import type { Queryable } from "../db";
import { tooManyRequests } from "../errors";
import type { Logger } from "../log";

export interface RateLimit {
  /** What is limited, in messages and keys: "repository creation". */
  action: string;
  /** Allowed per window; 0 = no limit. */
  limit: number;
  /** The env variable that sets `limit`, named in the refusal. */
  variable: string;
  windowSeconds?: number;
}

const HOUR = 3600;
const PRUNE_EVERY_MS = 10 * 60_000;
let lastPrune = 0;

/** Counts one `action` by `userId`; throws 429 `rate_limited` with Retry-After past the limit. */
export async function rateLimit(db: Queryable, userId: number, rule: RateLimit, log?: Logger): Promise<void> {
  if (rule.limit <= 0) return;
  const window = rule.windowSeconds ?? HOUR;
  const r = await db.query<{ count: number; retry: number }>(
    `INSERT INTO rate_limits (key, window_start, count)
     VALUES ($1, to_timestamp(floor(extract(epoch FROM now()) / $2) * $2), 1)
     ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1
     RETURNING count, ceil(extract(epoch FROM window_start) + $2 - extract(epoch FROM now()))::int AS retry`,
    [`${rule.action}:${userId}`, window],
  );
  void prune(db, window, log);
  const { count, retry } = r.rows[0]!;
  if (count <= rule.limit) return;
  const retryAfter = Math.max(1, retry);
  throw tooManyRequests(
    `too many ${rule.action}s: at most ${rule.limit} per ${window === HOUR ? "hour" : `${window} s`} (${rule.variable}); try again in ${retryAfter} s`,
    retryAfter,
  );
}

/** Drops windows that ended long ago; at most every ten minutes per process. */
async function prune(db: Queryable, window: number, log?: Logger): Promise<void> {
  const now = Date.now();
  if (now - lastPrune < PRUNE_EVERY_MS) return;
  lastPrune = now;
  await db
    .query("DELETE FROM rate_limits WHERE window_start < now() - make_interval(secs => $1)", [2 * window])
    .catch((err) => log?.warn({ err }, "pruning rate limits failed"));
}
