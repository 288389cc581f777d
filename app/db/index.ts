/**
 * The database behind one small interface: `query`, `transaction`, and `listen`/`notify` for
 * "something changed" signals. Postgres (`DATABASE_URL`) uses a `pg` Pool and LISTEN/NOTIFY, so the
 * signals cross replicas; the embedded PGlite is one process, so an in-process emitter carries them.
 */
import { EventEmitter } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { PGlite, type PGliteOptions } from "@electric-sql/pglite";
import pg from "pg";
import type { Config } from "../config";
import { DiskFullError, isDiskFull } from "../disk-full";

export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export type Listener = (payload: string) => void;

export interface Db extends Queryable {
  readonly kind: "postgres" | "pglite";
  /** Runs `fn` in one transaction; it commits when `fn` resolves and rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Subscribes to a channel; resolves once the subscription is live. Returns the unsubscribe. */
  listen(channel: string, listener: Listener): Promise<() => Promise<void>>;
  /** Signals a channel (delivered to this and, on Postgres, every other replica). */
  notify(channel: string, payload: string): Promise<void>;
  /**
   * Calls `fn` each time the listening connection was lost and is back (Postgres restarted, the
   * connection was cut): notifications sent in between were missed, so whoever caches on them must
   * drop what it holds. Never called on PGlite. Returns the unsubscribe.
   */
  onListenGap(fn: () => void): () => void;
  close(): Promise<void>;
}

export type DbOptions =
  | { url: string; poolSize?: number }
  | { dataDir: string }
  | { memory: true }
  | { pglite: PGlite };

/** The database the configuration names: Postgres, or PGlite under `<data dir>/db` or in memory. */
export function openDatabase(config: Pick<Config, "DATABASE_URL" | "memory" | "dataDir">): Promise<Db> {
  if (config.DATABASE_URL) return openDb({ url: config.DATABASE_URL });
  if (config.memory) return openDb({ memory: true });
  return openDb({ dataDir: path.join(config.dataDir, "db") });
}

export async function openDb(options: DbOptions): Promise<Db> {
  if ("url" in options) return openPostgres(options.url, options.poolSize ?? 10);
  if ("pglite" in options) return wrapPglite(options.pglite);
  if ("dataDir" in options) {
    fs.mkdirSync(path.dirname(options.dataDir), { recursive: true });
    return wrapPglite(await createPglite({ dataDir: options.dataDir }));
  }
  return wrapPglite(await createPglite());
}

/**
 * Starts PGlite with 32 MB of shared buffers instead of its default 128 MB: setting up the buffer
 * pool is a third of PGlite's start (~0.35 s of ~1.1 s here), and a one-machine database needs
 * far less; the OS page cache still holds its files.
 */
export async function createPglite(options: Omit<PGliteOptions, "startParams"> = {}): Promise<PGlite> {
  try {
    return await PGlite.create({
      ...options,
      startParams: [...PGlite.defaultStartParams, "-c", "shared_buffers=32MB"],
    });
  } catch (err) {
    // PGlite says only `ErrnoError {errno: 51}` (Emscripten's ENOSPC): say what it means.
    if (!isDiskFull(err)) throw err;
    const where = options.dataDir ?? "memory";
    throw new DiskFullError(
      `the embedded database (${where}) cannot start: no space left on the device holding it` +
        `${freeSpace(options.dataDir)}. Free some space there (or set DATABASE_URL) and start again.`,
      { cause: err },
    );
  }
}

/** ` (12 KiB free)`, or nothing when it cannot be told. */
function freeSpace(dir: string | undefined): string {
  if (!dir) return "";
  try {
    let at = dir;
    while (!fs.existsSync(at)) at = path.dirname(at);
    const s = fs.statfsSync(at);
    return ` (${Math.floor((s.bavail * s.bsize) / 1024)} KiB free)`;
  } catch {
    return "";
  }
}

function openPostgres(url: string, max: number): Db {
  const pool = new pg.Pool({ connectionString: url, max });
  // A dropped idle connection must not crash the process; the pool replaces it.
  pool.on("error", () => {});
  const emitter = new EventEmitter().setMaxListeners(0);
  let listenClient: Promise<pg.PoolClient> | undefined;
  const channels = new Map<string, number>();
  const gapListeners = new Set<() => void>();
  let closed = false;

  // One connection holds every LISTEN. If it is lost, pg emits `error` on it (unhandled, that would
  // end the process): it is dropped, and a new one LISTENs to every channel again, retrying.
  const connectListener = async (): Promise<pg.PoolClient> => {
    const client = await pool.connect();
    let lost = false;
    const onLost = () => {
      if (lost || closed) return;
      lost = true;
      listenClient = undefined;
      try {
        client.release(true);
      } catch {}
      void reconnect(250);
    };
    client.on("error", onLost);
    client.on("end", onLost);
    client.on("notification", (n) => emitter.emit(n.channel, n.payload ?? ""));
    for (const channel of channels.keys()) await client.query(`LISTEN ${quoteIdent(channel)}`);
    return client;
  };
  const listenerClient = () => {
    listenClient ??= connectListener().catch((err) => {
      listenClient = undefined;
      throw err;
    });
    return listenClient;
  };
  const reconnect = async (delayMs: number): Promise<void> => {
    await new Promise((r) => setTimeout(r, delayMs));
    if (closed) return;
    try {
      await listenerClient();
    } catch {
      return reconnect(Math.min(delayMs * 2, 5_000));
    }
    for (const fn of gapListeners) fn();
  };

  return {
    kind: "postgres",
    async query<T>(sql: string, params?: unknown[]) {
      const r = await pool.query(sql, params as unknown[]);
      return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
    },
    exec: async (sql) => void (await pool.query(sql)),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const tx: Queryable = {
          async query<T>(sql: string, params?: unknown[]) {
            const r = await client.query(sql, params as unknown[]);
            return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
          },
          exec: async (sql) => void (await client.query(sql)),
        };
        const result = await fn(tx);
        await client.query("COMMIT");
        return result;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    async listen(channel, listener) {
      const client = await listenerClient();
      const count = channels.get(channel) ?? 0;
      if (count === 0) await client.query(`LISTEN ${quoteIdent(channel)}`);
      channels.set(channel, count + 1);
      emitter.on(channel, listener);
      return async () => {
        emitter.off(channel, listener);
        const left = (channels.get(channel) ?? 1) - 1;
        if (left > 0) return void channels.set(channel, left);
        channels.delete(channel);
        const current = await listenClient?.catch(() => undefined);
        await current?.query(`UNLISTEN ${quoteIdent(channel)}`).catch(() => {});
      };
    },
    async notify(channel, payload) {
      await pool.query("SELECT pg_notify($1, $2)", [channel, payload]);
    },
    onListenGap(fn) {
      gapListeners.add(fn);
      return () => void gapListeners.delete(fn);
    },
    async close() {
      closed = true;
      const client = await listenClient?.catch(() => undefined);
      client?.release();
      await pool.end();
    },
  };
}

function wrapPglite(db: PGlite): Db {
  const emitter = new EventEmitter().setMaxListeners(0);
  const run = async <T>(q: Pick<PGlite, "query">, sql: string, params?: unknown[]) => {
    const r = await q.query<T>(sql, params);
    // PGlite reports affectedRows = 0 for SELECT; a statement that returns rows counts its rows.
    return { rows: r.rows, rowCount: r.fields.length > 0 ? r.rows.length : (r.affectedRows ?? 0) };
  };
  return {
    kind: "pglite",
    query: (sql, params) => run(db, sql, params),
    exec: async (sql) => void (await db.exec(sql)),
    transaction: (fn) =>
      db.transaction((tx) =>
        fn({ query: (sql, params) => run(tx, sql, params), exec: async (sql) => void (await tx.exec(sql)) }),
      ),
    async listen(channel, listener) {
      emitter.on(channel, listener);
      return async () => void emitter.off(channel, listener);
    },
    async notify(channel, payload) {
      // Deferred like a committed NOTIFY: listeners never run inside the caller's stack.
      setImmediate(() => emitter.emit(channel, payload));
    },
    onListenGap: () => () => {}, // one process: nothing is ever missed
    async close() {
      await db.close();
    },
  };
}

function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/i.test(name)) throw new Error(`invalid channel name: ${name}`);
  return `"${name}"`;
}
