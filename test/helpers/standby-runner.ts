/**
 * Lightweight standby runners for pool tests: the runner's real standby client (runner/standby.ts:
 * register, long-poll, heartbeat, leave — over HTTP) with a scripted workload (scripted-runner.ts)
 * in place of the agent loop, so hundreds can run in one test process. `ScriptedRunners` is a
 * RunnerBackend that keeps a pool of them and cold-starts one per workload, the way the local and
 * Kubernetes backends do with processes and pods. Test code only.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino, { type Logger } from "pino";
import { createApiToken, createUser } from "../../app/auth/tokens";
import { type Config, loadConfig } from "../../app/config";
import type { Db } from "../../app/db";
import type { ClaimEvent, ExitReport, RunnerBackend, RunnerRef } from "../../app/dispatch/executor";
import { WarmPoolExecutor } from "../../app/dispatch/executors/warm-pool-executor";
import { RunnerRegistry } from "../../app/dispatch/registry";
import { isLiveWorkload } from "../../app/dispatch/status";
import { type Platform, startPlatform } from "../../app/platform";
import { type Assignment, ExitCode } from "../../app/wire/protocol";
import { standby } from "../../runner/standby";
import { ApiClient } from "./agents";
import { openTestDb } from "./db";
import { RunnerKilled, type RunnerScript, ScriptedRunner } from "./scripted-runner";

export const POOL_SECRET = "test-pool-secret-0123456789";
const silent = pino({ level: "silent" });

export interface ScriptedStandby {
  readonly pod: string;
  readonly taskId?: string;
  /** What it was handed (at most one: runners are single-use). */
  readonly assignments: Assignment[];
  /** When it got its assignment (performance.now()). */
  receivedAt?: number;
  runner?: ScriptedRunner;
  /** Resolves with its exit code. */
  readonly done: Promise<number>;
  /** SIGTERM: an idle runner leaves the pool, a working one stops its workload. */
  stop(): void;
  /** kill -9: from now on it sends nothing at all (no events, heartbeats or goodbye). */
  crash(): void;
  /** Set once `stop()` was called. */
  readonly stopping: boolean;
}

export interface StandbyOptions {
  appUrl: string;
  script: RunnerScript;
  pod: string;
  taskId?: string;
  secret?: string;
  /** Called when it has its assignment (before the script runs). */
  onAssignment?: (s: ScriptedStandby) => void;
  /** The standby client's logger. @default silent */
  log?: Logger;
}

export function startScriptedStandby(opts: StandbyOptions): ScriptedStandby {
  const stopper = new AbortController();
  const crashed = new AbortController();
  const guarded: typeof fetch = (input, init) => {
    if (crashed.signal.aborted) return Promise.reject(new Error("runner crashed"));
    const signal = init?.signal ? AbortSignal.any([init.signal, crashed.signal]) : crashed.signal;
    return fetch(input, { ...init, signal });
  };
  const self: ScriptedStandby = {
    pod: opts.pod,
    taskId: opts.taskId,
    assignments: [],
    get stopping() {
      return stopper.signal.aborted;
    },
    stop: () => stopper.abort(new Error("SIGTERM")),
    crash: () => crashed.abort(new Error("SIGKILL")),
    done: undefined as unknown as Promise<number>,
  };
  (self as { done: Promise<number> }).done = standby({
    env: {
      PLUE_APP_URL: opts.appUrl,
      PLUE_POOL_SECRET: opts.secret ?? POOL_SECRET,
      PLUE_POD_NAME: opts.pod,
      ...(opts.taskId ? { PLUE_TASK_ID: opts.taskId } : {}),
    },
    log: opts.log ?? silent,
    fetch: guarded,
    signal: stopper.signal,
    retry: { initialMs: 20, maxMs: 200 },
    run: async (assignment, signal) => {
      self.receivedAt = performance.now();
      self.assignments.push(assignment);
      const runner = new ScriptedRunner(assignment);
      self.runner = runner;
      opts.onAssignment?.(self);
      const kill = () => runner.killed.abort();
      signal.addEventListener("abort", kill, { once: true });
      crashed.signal.addEventListener("abort", kill, { once: true });
      try {
        await opts.script(runner);
        return ExitCode.ok;
      } catch (err) {
        return err instanceof RunnerKilled ? ExitCode.aborted : ExitCode.failed;
      }
    },
  }).then((code) => (crashed.signal.aborted ? -9 : code));
  return self;
}

export interface ScriptedRunnersOptions {
  /** Standby runners kept ready. */
  size: number;
  appUrl: () => string;
  /** Every runner's workload; tests may replace it between runs. */
  script: RunnerScript;
  secret?: string;
  /** false: refuse cold starts (workloads wait for a pool runner). @default true */
  coldStarts?: boolean;
  /** The runners' logger. @default silent */
  log?: Logger;
}

/** A RunnerBackend of scripted standby runners (the pool's "Deployment" in tests). */
export class ScriptedRunners implements RunnerBackend {
  readonly kind = "local" as const;
  readonly all: ScriptedStandby[] = [];
  readonly live = new Map<string, ScriptedStandby>();
  readonly coldStarted: string[] = [];
  readonly stopped: string[] = [];
  private readonly working = new Set<string>();
  private readonly vanished = new Set<string>();
  private exited?: ExitReport;
  private seq = 0;
  private closing = false;

  constructor(
    readonly name: string,
    readonly opts: ScriptedRunnersOptions,
  ) {}

  async start(exited: ExitReport): Promise<void> {
    this.exited = exited;
    this.fill();
  }

  canColdStart(): boolean {
    return !this.closing && this.opts.coldStarts !== false;
  }

  /** Keeps `size` runners standing by from now on: starts the missing ones, stops the surplus. */
  resize(size: number): void {
    this.opts.size = size;
    const standing = [...this.live.values()].filter((r) => !this.working.has(r.pod));
    for (const r of standing.slice(size)) r.stop();
    this.fill();
  }

  async coldStart(assignment: Assignment): Promise<void> {
    this.coldStarted.push(assignment.workload.id);
    this.working.add(this.spawn(assignment.workload.id).pod);
  }

  claimed(e: ClaimEvent): void {
    if (!this.live.has(e.pod)) return;
    this.working.add(e.pod);
    this.fill();
  }

  /** The runner goes silent and its end is never reported (a lost node): only the reaper can tell. */
  vanish(pod: string): void {
    this.vanished.add(pod);
    this.live.get(pod)?.crash();
  }

  /** The standby runner holding a workload. */
  holding(workloadId: string): ScriptedStandby | undefined {
    return this.all.find((r) => r.assignments.some((a) => a.workload.id === workloadId));
  }

  async stop(ref: RunnerRef): Promise<void> {
    const r = this.live.get(ref.podName);
    if (!r) return;
    this.stopped.push(ref.podName);
    r.stop();
    await r.done;
  }

  async close(): Promise<void> {
    this.closing = true;
    const left = [...this.live.values()];
    for (const r of left) r.stop();
    // A script stuck on something other than its signal (a test that failed) is killed.
    const late = setTimeout(() => {
      for (const r of left) r.crash();
    }, 2000);
    await Promise.all(left.map((r) => r.done));
    clearTimeout(late);
  }

  /** Runners registered or starting, not yet working (nor stopping). */
  get standing(): number {
    return [...this.live.values()].filter((r) => !this.working.has(r.pod) && !r.stopping).length;
  }

  private fill(): void {
    while (!this.closing && this.exited && this.standing < this.opts.size) this.spawn();
  }

  private spawn(taskId?: string): ScriptedStandby {
    const r = startScriptedStandby({
      appUrl: this.opts.appUrl(),
      script: (runner) => this.opts.script(runner),
      pod: `${this.name}-${++this.seq}`,
      taskId,
      secret: this.opts.secret,
      log: this.opts.log,
    });
    this.all.push(r);
    this.live.set(r.pod, r);
    void r.done.then((code) => {
      this.live.delete(r.pod);
      this.working.delete(r.pod);
      const reason = code === -9 ? "runner was killed by SIGKILL" : `runner exited with code ${code}`;
      if (!this.vanished.has(r.pod))
        void this.exited?.(
          { pod: r.pod },
          { code: code === -9 ? null : code, signal: code === -9 ? "SIGKILL" : null, reason },
        );
      this.fill();
    });
    return r;
  }
}

export interface PoolPlatform<B extends RunnerBackend = ScriptedRunners> extends Platform {
  readonly executor: WarmPoolExecutor;
  readonly backend: B;
  user(name: string): Promise<ApiClient>;
  /** The workload row's end state. */
  workload(id: string): Promise<{ status: string; failure_reason: string | null; exit_code: number | null }>;
  /** Waits until the workload has ended; returns its row. */
  ended(id: string, ms?: number): Promise<{ status: string; failure_reason: string | null }>;
  /** Runner rows by status. */
  count(status: string): Promise<number>;
}

export interface PoolPlatformOptions {
  /** The database (several replicas share one); a fresh test database otherwise. */
  db?: Db;
  /** Standby runners kept ready. @default 2 */
  size?: number;
  script?: RunnerScript;
  /** Names this replica's runners. @default "r" */
  name?: string;
  env?: Record<string, string>;
  port?: number;
  coldStartAfterMs?: number;
  queueTimeoutSeconds?: number;
  /** How long a runner has to stop by itself after an abort. @default 300 */
  abortGraceMs?: number;
  /** The server's logger (the app, its pool and executor). @default silent */
  log?: Logger;
  /** The scripted runners' logger. @default silent */
  runnerLog?: Logger;
}

/** Options of a platform whose runners come from another backend (Kubernetes against fake-kube). */
export interface BackendPlatformOptions<B extends RunnerBackend> extends Omit<PoolPlatformOptions, "script"> {
  /** `appUrl`: where runners reach the server (known once it listens, before runners start). */
  backend: (ctx: { db: Db; config: Config; appUrl: () => string }) => B;
}

/**
 * A real Plue server whose executor is the warm-pool executor over scripted standby runners, with
 * a one-second poll period (runners silent for two seconds are reaped).
 */
export async function startPoolPlatform(opts?: PoolPlatformOptions): Promise<PoolPlatform>;
export async function startPoolPlatform<B extends RunnerBackend>(
  opts: BackendPlatformOptions<B>,
): Promise<PoolPlatform<B>>;
export async function startPoolPlatform(
  opts: PoolPlatformOptions & { backend?: BackendPlatformOptions<RunnerBackend>["backend"] } = {},
): Promise<PoolPlatform<RunnerBackend>> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-pool-"));
  const config = loadConfig(
    {
      PLUE_DATA_DIR: dataDir,
      PLUE_SEED_DEMO: "false",
      LOG_LEVEL: "silent",
      PLUE_POOL_SECRET: POOL_SECRET,
      PLUE_WARM_POOL: String(Math.max(1, opts.size ?? 2)), // > 0: this server keeps a pool
      PLUE_RUNNER_POLL_SECONDS: "1",
      ...opts.env,
    },
    { port: opts.port ?? 0 },
  );
  const db = opts.db ?? (await openTestDb());
  // With port 0 the server's URL is known once it listens; runners start after that.
  let started: Platform | undefined;
  const appUrl = () => started?.ctx.publicUrl() ?? config.publicUrl;
  const backend =
    opts.backend?.({ db, config, appUrl }) ??
    new ScriptedRunners(opts.name ?? "r", {
      size: opts.size ?? 2,
      appUrl,
      script:
        opts.script ??
        (async (r) => {
          await r.tokens(["hello"]);
          await r.event("done", { reason: "end_turn" });
        }),
      log: opts.runnerLog,
    });
  let executor!: WarmPoolExecutor;
  const runners = new RunnerRegistry(
    { db, log: opts.log ?? silent },
    { secret: POOL_SECRET, pollSeconds: config.PLUE_RUNNER_POLL_SECONDS, enabled: true },
  );
  const platform = await startPlatform(config, {
    db,
    log: opts.log ?? silent,
    services: {
      executor: (hooks) =>
        (executor = new WarmPoolExecutor(hooks, opts.log ?? silent, runners, backend, {
          coldStartAfterMs: opts.coldStartAfterMs ?? 60_000,
          queueTimeoutSeconds: opts.queueTimeoutSeconds ?? 600,
          reapIntervalMs: 300,
        })),
      dispatcher: { abortGraceMs: opts.abortGraceMs ?? 300, killGraceMs: 300 },
      hub: { pollMs: 1_000 },
    },
  });
  started = platform;
  await executor.warmUp();
  const workload = async (id: string) =>
    (
      await platform.ctx.db.query<{
        status: string;
        failure_reason: string | null;
        exit_code: number | null;
      }>("SELECT status, failure_reason, exit_code FROM workloads WHERE id = $1", [id])
    ).rows[0]!;
  return {
    ...platform,
    executor,
    backend,
    async user(name) {
      const u = await createUser(platform.ctx.db, name);
      return new ApiClient(platform.url, await createApiToken(platform.ctx.db, u.id, "test"));
    },
    workload,
    async ended(id, ms = 10_000) {
      let row = await workload(id);
      const live = async () => {
        row = await workload(id);
        return !isLiveWorkload(row.status);
      };
      await waitFor(live, ms, `workload ${id} to end`);
      return row;
    },
    async count(status) {
      const r = await platform.ctx.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM runner_pool WHERE status = $1",
        [status],
      );
      return r.rows[0]!.n;
    },
    async close() {
      await platform.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `cond` every 20 ms until it holds; throws after `ms`. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  ms = 10_000,
  what = "condition",
): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
