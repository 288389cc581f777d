/** AuthChanges/AuthCache: the in-process caches of authorization facts and their invalidation. */
import { AuthCache, AuthChanges, type AuthTag } from "../../app/auth/changes";
import { type Db, openDb } from "../../app/db";
import { AUTH_CHANNEL } from "../../app/events/topics";
import { createPostgresDatabase, openTestDb, usingPostgres } from "../helpers/db";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A loader that counts its calls and returns `value` tagged `tags`. */
function counter<V>(value: () => V, tags: AuthTag[] = ["user:1"]) {
  const fn = async () => {
    fn.calls++;
    return { value: value(), tags };
  };
  fn.calls = 0;
  return fn;
}

/** A load that finishes when the test says so. */
function deferred<V>(value: V, tags: AuthTag[]) {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  return {
    release,
    load: async () => {
      await gate;
      return { value, tags };
    },
  };
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms: number): Promise<number> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > ms) throw new Error(`condition not met within ${ms} ms`);
    await sleep(5);
  }
  return Date.now() - start;
}

describe("AuthCache", () => {
  it("loads on a miss and answers later gets from memory", async () => {
    const cache = new AuthCache<string>();
    const load = counter(() => "alice");
    expect(await cache.get("t1", load)).toBe("alice");
    expect(await cache.get("t1", load)).toBe("alice");
    expect(load.calls).toBe(1);
    expect(await cache.get("t2", load)).toBe("alice");
    expect(load.calls).toBe(2);
  });

  it("caches an undefined value (a token that does not exist) like any other", async () => {
    const cache = new AuthCache<string | undefined>();
    const load = counter(() => undefined);
    expect(await cache.get("nope", load)).toBeUndefined();
    expect(await cache.get("nope", load)).toBeUndefined();
    expect(load.calls).toBe(1);
  });

  it("shares one load between concurrent misses of a key", async () => {
    const cache = new AuthCache<number>();
    const slow = deferred(7, ["user:1"]);
    let calls = 0;
    const load = () => {
      calls++;
      return slow.load();
    };
    const all = Promise.all(Array.from({ length: 20 }, () => cache.get("k", load)));
    await sleep(10);
    slow.release();
    expect(await all).toEqual(Array(20).fill(7));
    expect(calls).toBe(1);
  });

  it("does not cache a failed load, and hands its error to every waiter", async () => {
    const cache = new AuthCache<number>();
    let calls = 0;
    const failing = async () => {
      calls++;
      throw new Error("database down");
    };
    const results = await Promise.allSettled([cache.get("k", failing), cache.get("k", failing)]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(calls).toBe(1);
    expect(
      await cache.get(
        "k",
        counter(() => 3),
      ),
    ).toBe(3);
  });

  it("forgets an entry after its TTL", async () => {
    const cache = new AuthCache<string>({ ttlMs: 60 });
    const load = counter(() => "v");
    await cache.get("k", load);
    await cache.get("k", load);
    expect(load.calls).toBe(1);
    await sleep(120);
    await cache.get("k", load);
    expect(load.calls).toBe(2);
  });

  it("keeps at most `max` entries", async () => {
    const cache = new AuthCache<number>({ max: 2 });
    const load = counter(() => 1);
    for (const k of ["a", "b", "c"]) await cache.get(k, load);
    await cache.get("a", load); // evicted by c
    expect(load.calls).toBe(4);
  });

  it("drops exactly the entries carrying a tag, and `*` drops everything", async () => {
    const cache = new AuthCache<string>();
    const alice = counter(() => "alice", ["user:1", "token:10"]);
    const bob = counter(() => "bob", ["user:2", "token:20"]);
    const wild = counter(() => "any", ["*"]);
    await cache.get("a", alice);
    await cache.get("b", bob);
    await cache.get("w", wild);
    cache.drop("token:10");
    await Promise.all([cache.get("a", alice), cache.get("b", bob), cache.get("w", wild)]);
    // a reloaded (its tag), w reloaded (depends on everything), b kept
    expect([alice.calls, bob.calls, wild.calls]).toEqual([2, 1, 2]);
    cache.drop("*");
    await Promise.all([cache.get("a", alice), cache.get("b", bob)]);
    expect([alice.calls, bob.calls]).toEqual([3, 2]);
  });

  it("does not cache a load that began before a drop", async () => {
    const cache = new AuthCache<string>();
    const old = deferred("before", ["user:1"]);
    const first = cache.get("k", old.load);
    await sleep(5);
    cache.drop("user:1"); // the change commits while the old read is still in flight
    old.release();
    expect(await first).toBe("before"); // that request saw the old state...
    const fresh = counter(() => "after");
    expect(await cache.get("k", fresh)).toBe("after"); // ...but nothing after it does
    expect(fresh.calls).toBe(1);
  });

  it("after a drop, a new miss does not join the load that began before it", async () => {
    const cache = new AuthCache<string>();
    const old = deferred("before", ["user:1"]);
    const first = cache.get("k", old.load);
    await sleep(5);
    cache.drop("user:1");
    const fresh = counter(() => "after");
    const second = cache.get("k", fresh);
    const third = cache.get("k", fresh); // shares the fresh load, even once the old one settles
    old.release();
    expect(await Promise.all([first, second, third])).toEqual(["before", "after", "after"]);
    expect(fresh.calls).toBe(1);
    expect(await cache.get("k", fresh)).toBe("after");
    expect(fresh.calls).toBe(1);
  });

  it("stores nothing while its changes are not reaching it", async () => {
    let listening = false;
    const cache = new AuthCache<string>({}, () =>
      listening ? Promise.resolve() : Promise.reject(new Error("LISTEN failed")),
    );
    const load = counter(() => "v");
    expect(await cache.get("k", load)).toBe("v");
    expect(await cache.get("k", load)).toBe("v");
    expect(load.calls).toBe(2);
    listening = true;
    await cache.get("k", load);
    await cache.get("k", load);
    expect(load.calls).toBe(3);
  });
});

describe(`AuthChanges on one replica (${usingPostgres() ? "postgres" : "pglite"})`, () => {
  let db: Db;
  let changes: AuthChanges;
  beforeAll(async () => {
    db = await openTestDb();
    changes = new AuthChanges(db);
  });
  afterAll(async () => {
    await changes.close();
    await db.close();
  });

  it("changed() drops the tag in every cache of the replica at once", async () => {
    const tokens = changes.cache<string>();
    const roles = changes.cache<string>();
    const user = counter(() => "alice", ["user:5", "token:50"]);
    const role = counter(() => "write", ["user:5", "repo:9"]);
    const other = counter(() => "read", ["user:6", "repo:9"]);
    await tokens.get("t", user);
    await roles.get("5/9", role);
    await roles.get("6/9", other);
    const pending = changes.changed("user:5");
    // Dropped before the notification's round trip: the replica that made the change never
    // serves the old value, not even for a moment.
    await tokens.get("t", user);
    await roles.get("5/9", role);
    await roles.get("6/9", other);
    await pending;
    expect([user.calls, role.calls, other.calls]).toEqual([2, 2, 1]);
  });

  it("a notification on the channel from anywhere drops the tag", async () => {
    const cache = changes.cache<string>();
    const load = counter(() => "v", ["repo:3"]);
    await cache.get("k", load);
    await db.notify(AUTH_CHANNEL, "repo:3");
    await waitFor(async () => {
      await cache.get("k", load);
      return load.calls === 2;
    }, 1000);
  });

  it("after close, nothing is stored (no change could reach it)", async () => {
    const local = new AuthChanges(db);
    const cache = local.cache<string>();
    const load = counter(() => "v");
    await cache.get("k", load);
    await local.close();
    await cache.get("k", load);
    await cache.get("k", load);
    expect(load.calls).toBe(3);
  });
});

describe("AuthChanges across replicas (Postgres)", () => {
  let drop: () => Promise<void>;
  let a: Db;
  let b: Db;
  let changesA: AuthChanges;
  let changesB: AuthChanges;
  beforeAll(async () => {
    const created = await createPostgresDatabase();
    drop = created.drop;
    [a, b] = await Promise.all([openDb({ url: created.url }), openDb({ url: created.url })]);
    changesA = new AuthChanges(a);
    changesB = new AuthChanges(b);
  });
  afterAll(async () => {
    await Promise.all([changesA?.close(), changesB?.close()]);
    await Promise.all([a?.close(), b?.close()]);
    await drop?.();
  });

  it("a change on one replica drops the entry on the other within one second", async () => {
    const onB = changesB.cache<string>();
    const onA = changesA.cache<string>();
    let state = "member";
    const loadB = counter(() => state, ["user:42"]);
    const loadA = counter(() => state, ["user:42"]);
    expect(await onB.get("42", loadB)).toBe("member");
    expect(await onA.get("42", loadA)).toBe("member");
    state = "suspended"; // "committed"
    await changesA.changed("user:42");
    expect(await onA.get("42", loadA)).toBe("suspended"); // at once on the replica that changed it
    const took = await waitFor(async () => (await onB.get("42", loadB)) === "suspended", 1000);
    expect(took).toBeLessThan(1000);
    expect(loadB.calls).toBe(2);
  });

  it("an unrelated tag on the other replica leaves the entry cached", async () => {
    const onB = changesB.cache<string>();
    const load = counter(() => "v", ["token:1"]);
    await onB.get("k", load);
    await changesA.changed("token:2");
    await sleep(200); // the notification has long arrived by now (it dropped token:2 only)
    await onB.get("k", load);
    expect(load.calls).toBe(1);
  });

  it("a load on one replica that began before a change on the other is not cached after it", async () => {
    const onB = changesB.cache<string>();
    const probe = counter(() => "p", ["repo:7"]);
    await onB.get("probe", probe);
    const old = deferred("before", ["repo:7"]);
    const first = onB.get("k", old.load);
    await sleep(20);
    await changesA.changed("repo:7");
    // The probe shows when the notification has reached B...
    await waitFor(async () => {
      await onB.get("probe", probe);
      return probe.calls === 2;
    }, 1000);
    // ...from then on, B loads afresh instead of joining the old load...
    const fresh = counter(() => "after", ["repo:7"]);
    expect(await onB.get("k", fresh)).toBe("after");
    old.release();
    expect(await first).toBe("before");
    // ...and the old load, settling last, did not overwrite the fresh entry.
    expect(await onB.get("k", fresh)).toBe("after");
    expect(fresh.calls).toBe(1);
  });
});
