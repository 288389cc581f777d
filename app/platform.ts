/**
 * Starting and stopping one Plue server process: open the database, migrate, make sure an admin
 * exists, listen, and on SIGTERM stop accepting, drain in-flight requests, run shutdown hooks and
 * close the database.
 */
import fs from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { createApiToken, createUser } from "./auth/tokens";
import type { Config } from "./config";
import type { AppContext } from "./context";
import { type Db, openDatabase } from "./db";
import { migrate } from "./db/migrate";
import { loadExecutor } from "./dispatch/executors/index";
import { Recovery } from "./dispatch/recovery";
import { generatePoolSecret, RunnerRegistry, usesWarmPool } from "./dispatch/registry";
import { workloadForTaskToken } from "./dispatch/tokens";
import { seedDemo } from "./git/seed";
import { GitService } from "./git/service";
import { createApp } from "./http/app";
import { withFastFiles } from "./http/fast-files";
import { createLogger, type Logger } from "./log";
import { RunService } from "./runs/service";
import { type AgentServiceOptions, createAgentServices } from "./sessions/wiring";

export interface Platform {
  readonly ctx: AppContext;
  readonly url: string;
  readonly server: Server;
  /** The admin token, when this start created the admin (first start). */
  readonly adminToken?: string;
  /** Finds and ends what a dead server left (app/dispatch/recovery.ts); swept at start and on a timer. */
  readonly recovery: Recovery;
  close(): Promise<void>;
}

export async function createContext(
  config: Config,
  db: Db,
  log: Logger,
  services: AgentServiceOptions = {},
): Promise<AppContext & { recovery: Recovery; shutdown(): Promise<void> }> {
  const hooks: Array<() => Promise<void> | void> = [];
  // A local warm pool needs a secret its runners share; Kubernetes must be given one (a Secret).
  if (usesWarmPool(config) && config.RUNNER_MODE === "local")
    config.PLUE_POOL_SECRET ??= generatePoolSecret();
  const runners = new RunnerRegistry(
    { db, log },
    {
      secret: config.PLUE_POOL_SECRET ?? generatePoolSecret(),
      pollSeconds: config.PLUE_RUNNER_POLL_SECONDS,
      enabled: usesWarmPool(config),
    },
  );
  const agents = createAgentServices({ config, db, log }, (hook) => void hooks.push(hook), {
    ...services,
    executor: services.executor ?? (await loadExecutor({ config, log, runners })), // RUNNER_MODE
  });
  // Runs after the executor stopped (hooks run in reverse): long-polls end, runners poll elsewhere.
  hooks.unshift(() => runners.close());
  // Last of all: this instance's row goes once its workloads have ended.
  const recovery = new Recovery(
    { db, log: log.child({ component: "recovery" }), dispatcher: agents.dispatcher, runners },
    {
      intervalMs: config.PLUE_REAPER_INTERVAL_MS ?? 5_000,
      leaseSeconds: config.PLUE_INSTANCE_LEASE_SECONDS,
      dirs: [config.PLUE_WORKSPACE ?? os.tmpdir(), os.tmpdir()],
    },
  );
  hooks.unshift(() => recovery.stop());
  const git = new GitService({ db, dataDir: config.dataDir, log });
  // Runners clone their workload's repository with their task token (and nothing else).
  git.setTaskTokenResolver(async (token) => {
    const grant = await workloadForTaskToken(db, token);
    return grant?.repoId != null ? { repoId: grant.repoId } : undefined;
  });
  hooks.push(() => git.close());
  // Pushes start workflow runs (webhooks and the API call the same service).
  const runs = new RunService({ config, db, log, git }, agents.events, agents.dispatcher);
  hooks.push(runs.subscribeToPushes());
  return {
    config,
    db,
    log,
    git,
    runners,
    ...agents,
    runs,
    recovery,
    onShutdown: (hook) => void hooks.push(hook),
    async shutdown() {
      for (const hook of hooks.reverse()) {
        try {
          await hook();
        } catch (err) {
          log.error({ err }, "shutdown hook failed");
        }
      }
    },
  };
}

/**
 * Creates the admin user and a token on first start. The token is printed once and written to
 * `<data dir>/admin-token` (mode 0600) so local tools can find it.
 */
export async function ensureAdmin(ctx: AppContext): Promise<string | undefined> {
  const { db, config } = ctx;
  const token = await db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(7)");
    const existing = await tx.query("SELECT 1 FROM users WHERE username = 'admin'");
    if (existing.rowCount > 0) return undefined;
    const admin = await createUser(tx, "admin", true);
    return createApiToken(tx, admin.id, "admin (first start)");
  });
  if (token && !config.memory) {
    fs.mkdirSync(config.dataDir, { recursive: true });
    fs.writeFileSync(path.join(config.dataDir, "admin-token"), `${token}\n`, { mode: 0o600 });
  }
  return token;
}

export interface StartOptions {
  log?: Logger;
  /** A database opened by the caller (tests); otherwise opened from the configuration. */
  db?: Db;
  /** The executor and streaming timings (tests); defaults otherwise. */
  services?: AgentServiceOptions;
}

export async function startPlatform(config: Config, options: StartOptions = {}): Promise<Platform> {
  const log = options.log ?? createLogger(config.LOG_LEVEL);
  const db = options.db ?? (await openDatabase(config));
  let ctx: Awaited<ReturnType<typeof createContext>>;
  try {
    await migrate(db);
    ctx = await createContext(config, db, log, options.services);
  } catch (err) {
    await db.close();
    throw err;
  }
  const adminToken = await ensureAdmin(ctx);
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
  // With PORT=0 the address is known only now; runners and clone URLs need the real one.
  if (!config.PLUE_PUBLIC_URL) config.publicUrl = url;
  // What a killed predecessor left (runs, sessions, runners, directories) ends before we report
  // ready; after listening, so runs that were waiting on those start with the real URL.
  await ctx.recovery.start();

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive clients (runners) would otherwise hold idle connections open until they time out.
      server.on("request", (_req, res) => res.setHeader("Connection", "close"));
      server.closeIdleConnections();
      await ctx.shutdown(); // ends streams and long-polls so their connections can finish
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), config.PLUE_SHUTDOWN_GRACE_MS);
      await drained;
      clearTimeout(grace);
      await db.close();
    })();
    return closing;
  };
  return { ctx, url, server, adminToken, recovery: ctx.recovery, close };
}
