/**
 * The warm-pool executor: a workload goes to a standby runner claimed from the pool (claims.ts);
 * when none is free it waits in the queue (queue.ts), and if no runner has taken it after a short
 * wait a runner is started for it alone (a cold start) — a runner process locally, a Job on
 * Kubernetes — which registers the same way and is handed that workload. Whatever took it first
 * wins; the other runner is refused and exits. Its reaper (reaper.ts) sweeps up after runners.
 *
 * What differs between local processes and Kubernetes pods sits behind `RunnerBackend`
 * (executor.ts): starting a cold runner, stopping one, keeping the pool filled, and reporting
 * runners that ended.
 */
import type { Logger } from "../../log";
import type { Assignment } from "../../wire/protocol";
import type { Executor, ExecutorHooks, ExitInfo, RunnerBackend } from "../executor";
import { coldStarts } from "../pool-metrics";
import { Reaper } from "../reaper";
import type { RunnerRegistry } from "../registry";

export interface WarmPoolOptions {
  /** How long a workload waits for a pool runner before it gets a cold start. */
  readonly coldStartAfterMs: number;
  /** A workload no runner took within this long fails. */
  readonly queueTimeoutSeconds: number;
  /** How often the reaper sweeps. @default half a poll period (at least 250 ms) */
  readonly reapIntervalMs?: number;
}

export class WarmPoolExecutor implements Executor {
  readonly name: "local" | "kubernetes";
  readonly reaper: Reaper;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private started?: Promise<void>;
  private closed = false;

  constructor(
    private readonly hooks: ExecutorHooks,
    private readonly log: Logger,
    readonly runners: RunnerRegistry,
    readonly backend: RunnerBackend,
    private readonly options: WarmPoolOptions,
  ) {
    this.name = backend.kind;
    this.reaper = new Reaper({
      db: runners.db,
      log,
      runners,
      backend,
      hooks,
      coldStart: (id) => this.coldStartIfWaiting(id),
      coldStartAfterMs: options.coldStartAfterMs,
      queueTimeoutSeconds: options.queueTimeoutSeconds,
    });
    this.reaper.start(options.reapIntervalMs ?? Math.max(250, (runners.pollSeconds * 1000) / 2));
  }

  /** Subscribes to the registry's signals, starts the backend (local: spawns the standby runners; Kubernetes: watches pods). */
  warmUp(): Promise<void> {
    this.started ??= (async () => {
      await this.runners.start();
      this.runners.onClaimed((e) => this.backend.claimed(e, e.origin === this.runners.id));
      await this.backend.start(
        (runner, exit) => this.runnerExited(runner, exit),
        (id, reason) => this.coldStartFailed(id, reason),
      );
    })().catch((err) => {
      this.started = undefined;
      throw err;
    });
    return this.started;
  }

  async dispatch(assignment: Assignment): Promise<void> {
    if (this.closed) throw new Error(`the ${this.name} executor is shutting down`);
    await this.warmUp();
    if (await this.runners.claims.claim(assignment)) return;
    await this.runners.queue.enqueue(assignment);
    const id = assignment.workload.id;
    const timer = setTimeout(() => {
      this.timers.delete(id);
      void this.coldStartIfWaiting(id);
    }, this.options.coldStartAfterMs);
    timer.unref();
    this.timers.set(id, timer);
  }

  /** Queued: dropped and reported at once. Claimed: its runner is stopped (only one replica finds it). */
  async abort(workloadId: string): Promise<void> {
    this.clearTimer(workloadId);
    if (await this.runners.queue.dequeue(workloadId)) {
      this.hooks.onExit(workloadId, { code: null, reason: "aborted before a runner took it" });
      return;
    }
    const runner = await this.runners.claims.runnerFor(workloadId);
    if (runner) await this.backend.stop(runner);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const id of [...this.timers.keys()]) this.clearTimer(id);
    await this.reaper.stop();
    await this.backend.close();
  }

  /** Cold-starts a workload still waiting in the queue, once (the reaper retries deferred ones). */
  async coldStartIfWaiting(workloadId: string): Promise<void> {
    if (this.closed || !this.backend.canColdStart()) return;
    try {
      const assignment = await this.runners.queue.markColdStart(workloadId);
      if (!assignment) return; // a runner took it, or a cold start is already on its way
      coldStarts.inc({ backend: this.backend.kind });
      await this.backend.coldStart(assignment);
    } catch (err) {
      this.log.error({ err, workload: workloadId }, "cold start failed");
      await this.coldStartFailed(workloadId, (err as Error).message).catch(() => {});
    }
  }

  private async coldStartFailed(workloadId: string, reason: string): Promise<void> {
    if (await this.runners.queue.dequeue(workloadId)) {
      this.hooks.onExit(workloadId, {
        code: null,
        reason: `no pool runner was free and the cold start failed: ${reason}`,
      });
    }
  }

  /** A runner ended: it leaves the pool, and the dispatcher hears of the workload it held (backstop). */
  private async runnerExited(runner: { pod: string; finishedAt?: Date }, exit: ExitInfo): Promise<void> {
    try {
      const how = exit.reason ?? "exited";
      const t = await this.runners.terminate({ pod: runner.pod }, `ended: ${how}`, {
        registeredBefore: runner.finishedAt,
      });
      if (t?.workloadId && !t.requeued)
        this.hooks.onExit(t.workloadId, { ...exit, reason: `runner ${runner.pod}: ${how}` });
    } catch (err) {
      if (!this.closed) this.log.error({ err, pod: runner.pod }, "recording a runner's exit failed");
    }
  }

  private clearTimer(id: string): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }
}
