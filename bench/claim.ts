// Warm-pool claim latency on real PostgreSQL: from `dispatcher.dispatch()` to the runner holding
// its assignment (its long-poll answered), with 1 and with 20 concurrent dispatches against a pool
// of 20 standby runners, against a cold start (a runner process started for the workload) in the
// same run. Goal: p50 < 20 ms, p99 < 100 ms for claims.
//
// Run: npx tsx bench/claim.ts   (uses DATABASE_URL or PLUE_TEST_POSTGRES_URL, else scripts/postgres.sh)
// About 20 s. The runners are the real standby client (HTTP) with a trivial workload, in a process
// of their own as pods would be; the machine's cores are shared, so read the numbers as an upper bound.
import { type ChildProcess, execFileSync, fork } from "node:child_process";
import { loadavg } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import pino from "pino";
import type { Config } from "../app/config";
import { openDb } from "../app/db";
import type { Dispatcher } from "../app/dispatch/dispatcher";
import type { RunnerBackend } from "../app/dispatch/executor";
import { LocalStandbyRunners } from "../app/dispatch/executors/local-standby";
import { Limits } from "../app/wire/protocol";
import { createPostgresDatabase } from "../test/helpers/db";
import { POOL_SECRET, type PoolPlatform, startPoolPlatform, waitFor } from "../test/helpers/standby-runner";

const POOL = 20;
const SAMPLES = { sequential: 200, bursts: 10, cold: 5 };

process.env.PLUE_TEST_POSTGRES_URL ??=
  process.env.DATABASE_URL ?? execFileSync("scripts/postgres.sh", { encoding: "utf8" }).trim();

/** Creates a session row and the workload; returns a function that dispatches it. */
async function prepare(
  p: PoolPlatform<RunnerBackend>,
): Promise<{ id: string; dispatch: () => Promise<void> }> {
  const sessionId = crypto.randomUUID();
  await p.ctx.db.query("INSERT INTO sessions (id) VALUES ($1)", [sessionId]);
  const dispatcher: Dispatcher = p.ctx.dispatcher;
  const assignment = await p.ctx.db.transaction((tx) =>
    dispatcher.create(tx, {
      type: "agent",
      session_id: sessionId,
      model: "bench",
      messages: [{ role: "user", parts: [{ type: "text", text: "hi" }] }],
      limits: Limits.parse({}),
    }),
  );
  return { id: assignment.workload.id, dispatch: () => dispatcher.dispatch(assignment) };
}

/** The standby runners, in their own process (bench/claim-runners.ts) as pods would be. */
class Farm {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<string, (at: number) => void>();
  readonly ready: Promise<void>;

  constructor(appUrl: string) {
    this.child = fork(path.join(import.meta.dirname, "claim-runners.ts"), [appUrl, POOL_SECRET], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.ready = new Promise((resolve) => {
      this.child.on("message", (m: { type: string; id?: string; at?: number }) => {
        if (m.type === "ready") resolve();
        if (m.type === "got") this.waiting.get(m.id!)?.(m.at!);
      });
    });
  }

  /** Resolves with the wall-clock time the runner got this workload. */
  got(id: string): Promise<number> {
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }

  send(m: { type: "resize" | "size"; size: number } | { type: "release" }): void {
    this.child.send(m);
  }

  close(): void {
    this.child.disconnect();
  }
}

/**
 * Dispatches `n` workloads at once; resolves with each one's dispatch → assignment latency (ms).
 * Runners report their outcome, and the pool refills, only once the whole burst is delivered.
 */
async function burst(p: PoolPlatform, farm: Farm, n: number): Promise<number[]> {
  const jobs = await Promise.all(Array.from({ length: n }, () => prepare(p)));
  const arrivals = Promise.all(jobs.map((j) => farm.got(j.id)));
  farm.send({ type: "size", size: 0 });
  const t0 = performance.timeOrigin + performance.now();
  await Promise.all(jobs.map((j) => j.dispatch()));
  const at = await arrivals;
  farm.send({ type: "release" });
  farm.send({ type: "resize", size: POOL });
  return at.map((t) => t - t0);
}

async function refilled(p: PoolPlatform): Promise<void> {
  await waitFor(async () => (await p.count("available")) >= POOL, 30_000, "the pool to refill");
}

function summary(name: string, ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const q = (f: number) => s[Math.min(s.length - 1, Math.floor(f * s.length))]!;
  return `${name.padEnd(34)} n=${String(s.length).padStart(3)}  p50 ${q(0.5).toFixed(1).padStart(7)} ms  p99 ${q(0.99).toFixed(1).padStart(7)} ms  max ${s.at(-1)!.toFixed(1).padStart(7)} ms`;
}

async function warm(): Promise<{ one: number[]; twenty: number[] }> {
  const database = await createPostgresDatabase();
  const p = await startPoolPlatform({
    db: await openDb({ url: database.url, poolSize: Number(process.env.BENCH_POOL_SIZE ?? 10) }),
    size: 0,
    env: { PLUE_RUNNER_POLL_SECONDS: "50" },
  });
  const farm = new Farm(p.url);
  try {
    await farm.ready;
    farm.send({ type: "resize", size: POOL });
    await refilled(p);
    for (let i = 0; i < 20; i++) await burst(p, farm, 1); // warm up connections and JIT
    const one: number[] = [];
    for (let i = 0; i < SAMPLES.sequential; i++) {
      if (i % 10 === 0) await refilled(p);
      one.push(...(await burst(p, farm, 1)));
    }
    const twenty: number[] = [];
    for (let i = 0; i < SAMPLES.bursts * 2; i++) {
      await refilled(p);
      const b = await burst(p, farm, POOL);
      if (i >= SAMPLES.bursts) twenty.push(...b); // the first bursts warm up
    }
    return { one, twenty };
  } finally {
    farm.close();
    await p.close();
    await database.drop();
  }
}

/** Cold starts: no pool, a runner process started per workload (the local backend). */
async function cold(): Promise<{ delivered: number[] }> {
  const database = await createPostgresDatabase();
  const log = pino({ level: "silent" });
  const p = await startPoolPlatform({
    db: await openDb({ url: database.url, poolSize: 10 }),
    size: 0,
    coldStartAfterMs: 0,
    env: { PLUE_RUNNER_POLL_SECONDS: "50" },
    backend: ({ config, appUrl }: { config: Config; appUrl: () => string }) =>
      new LocalStandbyRunners(log, {
        size: 0,
        concurrency: 1,
        sandbox: "none",
        secret: config.PLUE_POOL_SECRET!,
        appUrl,
      }),
  });
  try {
    const delivered: number[] = [];
    for (let i = 0; i < SAMPLES.cold + 1; i++) {
      const job = await prepare(p);
      await job.dispatch();
      const r = await waitForDelivery(p, job.id);
      if (i > 0) delivered.push(r); // the first also bundles the runner from source
      await waitFor(
        async () => (await p.workload(job.id)).exit_code !== null,
        30_000,
        "the cold runner to exit",
      );
    }
    return { delivered };
  } finally {
    await p.close();
    await database.drop();
  }
}

/** dispatch → delivery, on the database's clock (the process's own clock is not reachable here). */
async function waitForDelivery(p: PoolPlatform<RunnerBackend>, id: string): Promise<number> {
  let ms = 0;
  await waitFor(
    async () => {
      const r = await p.ctx.db.query<{ ms: number | null }>(
        `SELECT extract(epoch FROM delivered_at - dispatched_at)::float8 * 1000 AS ms
           FROM runner_pool WHERE claimed_by_task_id = $1 AND delivered_at IS NOT NULL`,
        [id],
      );
      ms = r.rows[0]?.ms ?? 0;
      return r.rowCount > 0;
    },
    30_000,
    "the cold runner's assignment",
  );
  return ms;
}

const started = performance.now();
console.log(`claim latency on PostgreSQL, pool of ${POOL}; load average ${loadavg()[0]!.toFixed(2)}`);
const w = await warm();
console.log(summary("warm claim, 1 dispatch at a time", w.one));
console.log(summary(`warm claim, ${POOL} concurrent dispatches`, w.twenty));
const c = await cold();
console.log(summary("cold start (new runner process)", c.delivered));
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)]!;
const ok = [w.one, w.twenty].every((xs) => p50(xs) < 20 && p99(xs) < 100);
console.log(
  `goal p50 < 20 ms, p99 < 100 ms: ${ok ? "met" : "NOT met"}; cold start is ${(p50(c.delivered) / p50(w.one)).toFixed(0)}x a warm claim (p50); ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
process.exit(0);
