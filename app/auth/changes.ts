/**
 * Short in-process caches of authorization facts (who a token or cookie is, which role a user holds
 * on a repository), and their invalidation on every replica. Each cached value carries the tags it
 * depends on; a change calls `changed(tag)`, which drops those entries here at once and, through the
 * database's notify channel (AUTH_CHANNEL), on every other replica within one round trip. The TTL
 * is the backstop for a replica that missed a notification while its listener reconnected.
 *
 * Tags: `user:<id>` (suspension, admin flag, password, org membership), `token:<id>` (revocation),
 * `repo:<id>` (visibility, collaborators, teams), `session:<hash hex>` (one browser session: its
 * sign-out), `*` (everything).
 */
import { LRUCache } from "lru-cache";
import type { Db } from "../db";
import { AUTH_CHANNEL } from "../events/topics";

export type AuthTag = `user:${number}` | `token:${number}` | `repo:${number}` | `session:${string}` | "*";

interface Entry<V> {
  value: V;
  tags: readonly AuthTag[];
}

export interface CacheOptions {
  /** Entries kept. @default 10_000 */
  max?: number;
  /** Longest an entry lives without a notification. @default 30_000 */
  ttlMs?: number;
}

/** One replica's listener and every cache that depends on it. */
export class AuthChanges {
  private readonly caches = new Set<AuthCache<unknown>>();
  private unlisten?: Promise<() => Promise<void>>;

  constructor(private readonly db: Db) {}

  /** A cache whose entries `changed` drops. */
  cache<V>(options: CacheOptions = {}): AuthCache<V> {
    this.unlisten ??= this.db.listen(AUTH_CHANNEL, (tag) => this.drop(tag as AuthTag));
    const cache = new AuthCache<V>(options);
    this.caches.add(cache as AuthCache<unknown>);
    return cache;
  }

  /** Something tagged `tag` changed (call after the change committed). */
  async changed(tag: AuthTag): Promise<void> {
    this.drop(tag);
    await this.db.notify(AUTH_CHANNEL, tag);
  }

  private drop(tag: AuthTag): void {
    for (const cache of this.caches) cache.drop(tag);
  }

  async close(): Promise<void> {
    const unlisten = this.unlisten;
    this.unlisten = undefined;
    if (unlisten) await (await unlisten)();
  }
}

export class AuthCache<V> {
  private readonly lru: LRUCache<string, Entry<V>>;
  /** Loads in flight: concurrent misses of one key share one query. */
  private readonly loading = new Map<string, Promise<Entry<V>>>();
  /** Bumped by every drop, so a load that began before a change is not cached after it. */
  private generation = 0;

  constructor({ max = 10_000, ttlMs = 30_000 }: CacheOptions = {}) {
    this.lru = new LRUCache({ max, ttl: ttlMs });
  }

  /** The cached value of `key`, or `load()`'s (cached with the tags it returns). */
  async get(key: string, load: () => Promise<Entry<V>>): Promise<V> {
    const hit = this.lru.get(key);
    if (hit) return hit.value;
    let pending = this.loading.get(key);
    if (!pending) {
      const generation = this.generation;
      pending = load().then(
        (entry) => {
          this.loading.delete(key);
          if (generation === this.generation) this.lru.set(key, entry);
          return entry;
        },
        (err) => {
          this.loading.delete(key);
          throw err;
        },
      );
      this.loading.set(key, pending);
    }
    return (await pending).value;
  }

  drop(tag: AuthTag): void {
    this.generation++;
    this.loading.clear();
    if (tag === "*") {
      this.lru.clear();
      return;
    }
    for (const [key, entry] of this.lru.entries()) {
      if (entry.tags.includes(tag) || entry.tags.includes("*")) this.lru.delete(key);
    }
  }
}
