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

export interface Entry<V> {
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
  /** Settles when LISTEN is in place; until then no cache stores anything (a change could be missed). */
  private listening?: Promise<void>;
  private unlisten?: () => Promise<void>;
  private closed = false;

  private readonly stopGapWatch: () => void;

  constructor(private readonly db: Db) {
    // Notifications sent while the listening connection was down are lost: drop everything.
    this.stopGapWatch = db.onListenGap(() => this.drop("*"));
  }

  /** A cache whose entries `changed` drops. */
  cache<V>(options: CacheOptions = {}): AuthCache<V> {
    const cache = new AuthCache<V>(options, () => this.listen());
    this.caches.add(cache as AuthCache<unknown>);
    void this.listen().catch(() => {}); // start now; a failure is retried by the next miss
    return cache;
  }

  /** Something tagged `tag` changed (call after the change committed). */
  async changed(tag: AuthTag): Promise<void> {
    this.drop(tag);
    await this.db.notify(AUTH_CHANNEL, tag);
  }

  private listen(): Promise<void> {
    if (this.closed) return Promise.reject(new Error("AuthChanges is closed"));
    this.listening ??= this.db
      .listen(AUTH_CHANNEL, (tag) => this.drop(tag as AuthTag))
      .then(
        (unlisten) => {
          this.unlisten = unlisten;
        },
        (err: unknown) => {
          this.listening = undefined; // try again on the next miss
          throw err;
        },
      );
    return this.listening;
  }

  private drop(tag: AuthTag): void {
    for (const cache of this.caches) cache.drop(tag);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopGapWatch();
    await this.listening?.catch(() => {});
    const unlisten = this.unlisten;
    this.unlisten = undefined;
    for (const cache of this.caches) cache.drop("*");
    if (unlisten) await unlisten();
  }
}

export class AuthCache<V> {
  private readonly lru: LRUCache<string, Entry<V>>;
  /** Loads in flight: concurrent misses of one key share one query. */
  private readonly loading = new Map<string, Promise<Entry<V> | undefined>>();
  /** Bumped by every drop, so a load that began before a change is not cached after it. */
  private generation = 0;

  /**
   * @param ready settles once changes reach this cache (AuthChanges' LISTEN); while it rejects,
   *   values are loaded but never stored. A cache made alone (no `ready`) stores at once.
   */
  constructor(
    { max = 10_000, ttlMs = 30_000 }: CacheOptions = {},
    private readonly ready: () => Promise<void> = () => Promise.resolve(),
  ) {
    this.lru = new LRUCache({ max, ttl: ttlMs });
  }

  /**
   * The cached value of `key`, or `load()`'s, stored with the tags it returns. A load that finds
   * nothing to store (undefined: a token or repository that does not exist, so that creating it is
   * seen at once) is answered undefined and stored nowhere.
   */
  async get(key: string, load: () => Promise<Entry<V> | undefined>): Promise<V | undefined> {
    const hit = this.lru.get(key);
    if (hit) return hit.value;
    const pending = this.loading.get(key) ?? this.startLoad(key, load);
    return (await pending)?.value;
  }

  private startLoad(key: string, load: () => Promise<Entry<V> | undefined>): Promise<Entry<V> | undefined> {
    const pending = this.ready().then(
      async () => {
        const generation = this.generation;
        const entry = await load();
        if (entry && generation === this.generation) this.lru.set(key, entry);
        return entry;
      },
      () => load(), // not listening: a stored value could outlive a change, so store nothing
    );
    this.loading.set(key, pending);
    const settled = () => {
      // A drop may have replaced this load with a newer one: leave that one in place.
      if (this.loading.get(key) === pending) this.loading.delete(key);
    };
    pending.then(settled, settled);
    return pending;
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
