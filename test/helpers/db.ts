/**
 * Databases for tests. With DATABASE_URL set (CI sets it), each call creates a fresh database on
 * that server and drops it on close; otherwise each call loads a copy of one initialised and
 * migrated PGlite data dir (initdb takes seconds, a copy milliseconds).
 */
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { createPglite, type Db, openDb } from "../../app/db";
import { migrate, readMigrations } from "../../app/db/migrate";

export const usingPostgres = () => Boolean(process.env.DATABASE_URL);

export async function openTestDb(): Promise<Db> {
  return usingPostgres() ? openPostgresTestDb() : openPgliteTestDb();
}

/** The Postgres server for tests that need one whatever the run's backend (multi-replica tests). */
export function postgresAdminUrl(): string {
  const url = process.env.PLUE_TEST_POSTGRES_URL ?? process.env.DATABASE_URL;
  if (!url) {
    throw new Error(
      "this test needs PostgreSQL: set PLUE_TEST_POSTGRES_URL (the test command, scripts/test.sh, starts one)",
    );
  }
  return url;
}

/** A fresh, empty (unmigrated) Postgres database; the caller owns it. */
export async function createPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = postgresAdminUrl();
  const name = `plue_test_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

async function openPostgresTestDb(): Promise<Db> {
  const { url, drop } = await createPostgresDatabase();
  const db = await openDb({ url, poolSize: 5 });
  await migrate(db);
  const close = db.close.bind(db);
  return Object.assign(db, {
    async close() {
      await close();
      await drop();
    },
  });
}

function templatePath(): string {
  const hash = createHash("sha256");
  for (const m of readMigrations()) hash.update(m.sql);
  return path.join(os.tmpdir(), `plue-pglite-template-${hash.digest("hex").slice(0, 16)}.tar.gz`);
}

async function openPgliteTestDb(): Promise<Db> {
  const file = templatePath();
  if (!fs.existsSync(file)) {
    const fresh = await createPglite();
    await migrate(await openDb({ pglite: fresh }));
    const dump = await fresh.dumpDataDir("gzip");
    await fresh.close();
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()));
    fs.renameSync(tmp, file); // atomic: parallel workers never read half a template
  }
  const blob = new Blob([fs.readFileSync(file)]);
  return openDb({ pglite: await createPglite({ loadDataDir: blob }) });
}
