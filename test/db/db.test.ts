import { openDb } from "../../app/db";
import { migrate, readMigrations } from "../../app/db/migrate";
import { createPostgresDatabase, openTestDb, usingPostgres } from "../helpers/db";

describe(`database layer (${usingPostgres() ? "postgres" : "pglite"})`, () => {
  let db: Awaited<ReturnType<typeof openTestDb>>;
  beforeAll(async () => {
    db = await openTestDb();
  });
  afterAll(() => db.close());

  it("has the whole schema of the data model", async () => {
    const r = await db.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    );
    const tables = r.rows.map((x) => x.table_name);
    for (const t of [
      "users",
      "api_tokens",
      "repositories",
      "sessions",
      "messages",
      "parts",
      "workflow_definitions",
      "workflow_runs",
      "workflow_steps",
      "workloads",
      "runner_pool",
      "task_events",
      "webhook_deliveries",
      "schema_migrations",
    ]) {
      expect(tables).toContain(t);
    }
  });

  it("applies migrations once: a second run does nothing", async () => {
    expect(await migrate(db)).toEqual([]);
    const r = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM schema_migrations");
    expect(r.rows[0]?.n).toBe(readMigrations().length);
  });

  it("counts the rows a SELECT returns and the rows an UPDATE touches", async () => {
    await db.query("INSERT INTO users (username) VALUES ('count_a'), ('count_b')");
    expect((await db.query("SELECT 1 FROM users WHERE username LIKE 'count_%'")).rowCount).toBe(2);
    expect((await db.query("UPDATE users SET is_admin = true WHERE username LIKE 'count_%'")).rowCount).toBe(
      2,
    );
    expect((await db.query("SELECT 1 FROM users WHERE username = 'nobody'")).rowCount).toBe(0);
  });

  it("commits a transaction that resolves and rolls back one that throws", async () => {
    await db.transaction(async (tx) => {
      await tx.query("INSERT INTO users (username) VALUES ('committed')");
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.query("INSERT INTO users (username) VALUES ('rolled_back')");
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    const r = await db.query<{ username: string }>(
      "SELECT username FROM users WHERE username IN ('committed', 'rolled_back')",
    );
    expect(r.rows.map((x) => x.username)).toEqual(["committed"]);
  });

  it("a failing statement inside a transaction leaves nothing half-written", async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.query("INSERT INTO users (username) VALUES ('half')");
        await tx.query("INSERT INTO users (username) VALUES ('half')"); // unique violation
      }),
    ).rejects.toThrow();
    const r = await db.query("SELECT 1 FROM users WHERE username = 'half'");
    expect(r.rowCount).toBe(0);
  });

  it("delivers notifications to listeners and stops after unlisten", async () => {
    const got: string[] = [];
    const unlisten = await db.listen("plue_test", (p) => got.push(p));
    await db.notify("plue_test", "one");
    await waitFor(() => got.length === 1);
    await unlisten();
    await db.notify("plue_test", "two");
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual(["one"]);
  });
});

describe("migrations on Postgres", () => {
  it("two replicas migrating one database at the same time both succeed", async () => {
    const { url, drop } = await createPostgresDatabase();
    const a = await openDb({ url });
    const b = await openDb({ url });
    try {
      const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
      expect([...ra, ...rb].sort((x, y) => x - y)).toEqual(readMigrations().map((m) => m.version));
      const r = await a.query<{ n: number }>("SELECT count(*)::int AS n FROM schema_migrations");
      expect(r.rows[0]?.n).toBe(readMigrations().length);
    } finally {
      await a.close();
      await b.close();
      await drop();
    }
  });

  it("LISTEN/NOTIFY crosses connections (replicas)", async () => {
    const { url, drop } = await createPostgresDatabase();
    const a = await openDb({ url });
    const b = await openDb({ url });
    try {
      const got: string[] = [];
      await a.listen("cross", (p) => got.push(p));
      await b.notify("cross", "hello");
      await waitFor(() => got.length === 1);
      expect(got).toEqual(["hello"]);
    } finally {
      await a.close();
      await b.close();
      await drop();
    }
  });
});

describe("the listening connection on Postgres", () => {
  it("survives being cut: it LISTENs again, says notifications may have been missed, and delivers again", async () => {
    const { url, drop } = await createPostgresDatabase();
    const a = await openDb({ url });
    const b = await openDb({ url });
    try {
      const got: string[] = [];
      let gaps = 0;
      a.onListenGap(() => gaps++);
      await a.listen("cut", (p) => got.push(p));
      await b.notify("cut", "before");
      await waitFor(() => got.length === 1);
      // What a Postgres restart or a proxy's idle timeout does to the connection.
      const cut = await b.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
      );
      expect(cut.rows[0]!.n).toBe(1);
      await waitFor(() => gaps === 1);
      await b.notify("cut", "after");
      await waitFor(() => got.length === 2);
      expect(got).toEqual(["before", "after"]);
    } finally {
      await a.close();
      await b.close();
      await drop();
    }
  });
});

async function waitFor(cond: () => boolean, ms = 5000) {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}
