/**
 * Starting and stopping one Plue server process: open the database, migrate, build the services
 * (compose.ts), make sure an admin exists, listen, and on SIGTERM stop accepting, drain in-flight
 * requests, stop the services and close the database.
 */
import fs from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { audit } from "./auth/audit";
import { createInvite } from "./auth/invites";
import { createApiToken, createUser } from "./auth/tokens";
import { type AppContext, type Composition, compose, type ServiceOptions } from "./compose";
import type { Config } from "./config";
import { type Db, openDatabase } from "./db";
import { migrate } from "./db/migrate";
import type { Recovery } from "./dispatch/recovery";
import { seedDemo } from "./git/seed";
import { createApp } from "./http/app";
import { withFastFiles } from "./http/fast-files";
import { createLogger, type Logger } from "./log";

export interface Platform {
  readonly ctx: AppContext;
  readonly url: string;
  readonly server: Server;
  /** The admin token, when this start created the admin (first start). */
  readonly adminToken?: string;
  /** The admin's username and one-time password-setting link, on first start only. */
  readonly firstAdmin?: { username: string; passwordUrl: string };
  /** Finds and ends what a dead server left (app/dispatch/recovery.ts); swept at start and on a timer. */
  readonly recovery: Recovery;
  close(): Promise<void>;
}

export const FIRST_ADMIN = "admin";

/**
 * Creates the admin user and a token on first start. The token is printed once and written to
 * `<data dir>/admin-token` (mode 0600) so local tools can find it; with it comes a one-time link
 * for the admin to set a password (the secret of a password invite; the caller makes the URL).
 */
export async function ensureAdmin(
  ctx: AppContext,
): Promise<{ token: string; passwordSecret: string } | undefined> {
  const { db, config } = ctx;
  const created = await db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(7)");
    const existing = await tx.query("SELECT 1 FROM users WHERE username = $1", [FIRST_ADMIN]);
    if (existing.rowCount > 0) return undefined;
    const admin = await createUser(tx, FIRST_ADMIN, true);
    const token = await createApiToken(tx, admin.id, "admin (first start)");
    const { secret } = await createInvite(tx, { userId: admin.id });
    await audit(tx, {
      action: "user.created",
      target: admin.username,
      details: { admin: true, setup: "first start" },
    });
    return { token, passwordSecret: secret };
  });
  const token = created?.token;
  if (token && !config.memory) {
    fs.mkdirSync(config.dataDir, { recursive: true });
    fs.writeFileSync(path.join(config.dataDir, "admin-token"), `${token}\n`, { mode: 0o600 });
  }
  return created;
}

export interface StartOptions {
  log?: Logger;
  /** A database opened by the caller (tests); otherwise opened from the configuration. */
  db?: Db;
  /** The executor and streaming timings (tests); defaults otherwise. */
  services?: ServiceOptions;
}

export async function startPlatform(config: Config, options: StartOptions = {}): Promise<Platform> {
  const log = options.log ?? createLogger(config.LOG_LEVEL);
  const db = options.db ?? (await openDatabase(config));
  // With PORT=0 the address is known only once listening; runners and clone URLs need the real one.
  let listening: string | undefined;
  const publicUrl = () => listening ?? config.publicUrl;
  let composed: Composition;
  try {
    await migrate(db);
    composed = await compose({ config, db, log, publicUrl }, options.services);
  } catch (err) {
    await db.close();
    throw err;
  }
  const { ctx, recovery } = composed;
  const first = await ensureAdmin(ctx);
  if (config.PLUE_SEED_DEMO) await seedDemo(db, ctx.git.repos);
  const app = createApp(ctx);
  // Anonymous blob/tree reads skip Express (see http/fast-files.ts); everything else is the app.
  const server = createServer(withFastFiles(ctx, app)).listen(config.PORT, config.HOST);
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.HOST}:${port}`;
  if (!config.PLUE_PUBLIC_URL) listening = url;
  // What a killed predecessor left (runs, sessions, runners, directories) ends before we report
  // ready; after listening, so runs that were waiting on those start with the real URL.
  await recovery.start();

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive clients (runners) would otherwise hold idle connections open until they time out.
      server.on("request", (_req, res) => res.setHeader("Connection", "close"));
      server.closeIdleConnections();
      await composed.shutdown(); // ends streams and long-polls so their connections can finish
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), config.PLUE_SHUTDOWN_GRACE_MS);
      await drained;
      clearTimeout(grace);
      await db.close();
    })();
    return closing;
  };
  const firstAdmin = first && {
    username: FIRST_ADMIN,
    passwordUrl: `${publicUrl()}/password?token=${encodeURIComponent(first.passwordSecret)}`,
  };
  return { ctx, url, server, adminToken: first?.token, firstAdmin, recovery, close };
}
