/**
 * The reaper: every replica sweeps on a timer, and every step is a conditional statement (or a
 * re-check under a row lock), so replicas sweeping at once never act twice on one thing:
 *
 * - runners silent for more than two poll periods → terminated; the workload one held goes back
 *   to the queue if it never started, else fails with the reason;
 * - live workloads whose runner is terminated (it exited or left without reporting) → failed;
 * - claimed runners past their deadline (the workload's wall time plus a grace) → stopped, failed;
 * - queued workloads: cold-started when no pool runner took them in time (also those queued by a
 *   replica that died), failed after the queue timeout, dropped once ended;
 * - Kubernetes objects no live workload needs → deleted (the backend decides which);
 * - terminated runner rows older than an hour → deleted.
 */
import type { Db } from "../db";
import type { Logger } from "../log";
import type { ExecutorHooks, RunnerBackend } from "./executor";
import { reapedRunners } from "./pool-metrics";
import { type RunnerRegistry, silentSql } from "./registry";
import { LIVE_WORKLOAD_SQL } from "./status";

const BATCH = 200;

export interface ReaperDeps {
  readonly db: Db;
  readonly log: Logger;
  readonly runners: RunnerRegistry;
  readonly backend: RunnerBackend;
  readonly hooks: ExecutorHooks;
  /** Cold-starts a queued workload if it is still waiting (the executor's, idempotent). */
  coldStart(workloadId: string): Promise<void>;
  readonly coldStartAfterMs: number;
  readonly queueTimeoutSeconds: number;
}

export interface SweepResult {
  silent: number;
  lost: number;
  overdue: number;
  expired: number;
  coldStarted: number;
  orphans: number;
}

export class Reaper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<SweepResult>;
  private stopped = false;

  constructor(private readonly deps: ReaperDeps) {}

  /** Sweeps every `intervalMs` (with jitter, so replicas spread out). */
  start(intervalMs: number): void {
    const next = () => {
      if (this.stopped) return;
      this.timer = setTimeout(
        () => {
          this.sweep().finally(next);
        },
        intervalMs * (0.75 + Math.random() / 2),
      );
      this.timer.unref();
    };
    next();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => {});
  }

  /** One sweep (one at a time per replica); resolves with what it did. */
  sweep(): Promise<SweepResult> {
    this.running ??= this.sweepOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  private async sweepOnce(): Promise<SweepResult> {
    const result: SweepResult = { silent: 0, lost: 0, overdue: 0, expired: 0, coldStarted: 0, orphans: 0 };
    const steps: Array<[string, () => Promise<Partial<SweepResult> | undefined>]> = [
      ["silent runners", async () => ({ silent: await this.reapSilent() })],
      ["overdue runners", async () => ({ overdue: await this.stopOverdue() })],
      ["lost workloads", async () => ({ lost: await this.failLost() })],
      ["queue", () => this.sweepQueue()],
      ["orphans", async () => ({ orphans: await this.collectOrphans() })],
      ["prune", async () => void (await this.deps.runners.prune())],
    ];
    for (const [name, step] of steps) {
      if (this.stopped) break;
      try {
        Object.assign(result, await step());
      } catch (err) {
        if (!this.stopped) this.deps.log.error({ err, step: name }, "reaper step failed");
      }
    }
    return result;
  }

  private async reapSilent(): Promise<number> {
    const { db, runners, hooks, backend } = this.deps;
    const seconds = runners.silenceSeconds;
    const r = await db.query<{ id: string }>(
      `SELECT id FROM runner_pool r WHERE status <> 'terminated' AND ${silentSql("$1")} LIMIT ${BATCH}`,
      [seconds],
    );
    let n = 0;
    for (const { id } of r.rows) {
      const reason = `stopped responding (no heartbeat for ${seconds} s)`;
      const t = await runners.terminate({ id }, reason, { silentFor: seconds });
      if (!t?.now) continue; // another replica took it, or it spoke meanwhile
      n++;
      reapedRunners.inc({ reason: "silent" });
      this.deps.log.warn(
        { runner: t.podName, workload: t.workloadId, requeued: t.requeued },
        "reaped a silent runner",
      );
      if (t.workloadId && !t.requeued)
        hooks.onExit(t.workloadId, { code: null, reason: `runner ${t.podName} ${reason}` });
      await backend.stop(t).catch(() => {});
    }
    return n;
  }

  private async stopOverdue(): Promise<number> {
    const { db, runners, hooks, backend } = this.deps;
    const r = await db.query<{ id: string }>(
      `SELECT r.id FROM runner_pool r JOIN workloads w ON w.id = r.claimed_by_task_id
        WHERE r.status = 'claimed' AND r.deadline_at < now() AND w.status IN ${LIVE_WORKLOAD_SQL}
        LIMIT ${BATCH}`,
    );
    let n = 0;
    for (const { id } of r.rows) {
      const reason = "overran its workload's time limit";
      const t = await runners.terminate({ id }, reason, { requeue: false });
      if (!t?.now) continue;
      n++;
      reapedRunners.inc({ reason: "overdue" });
      await backend.stop(t).catch(() => {});
      if (t.workloadId) hooks.onExit(t.workloadId, { code: null, reason: `runner ${t.podName} ${reason}` });
    }
    return n;
  }

  /** Live workloads whose latest runner is gone and that wait in no queue: their runner vanished. */
  private async failLost(): Promise<number> {
    const r = await this.deps.db.query<{ id: string; pod_name: string; reason: string | null }>(
      `SELECT w.id, r.pod_name, r.terminated_reason AS reason
         FROM workloads w
         JOIN LATERAL (SELECT pod_name, status, terminated_reason FROM runner_pool
                        WHERE claimed_by_task_id = w.id ORDER BY claimed_at DESC NULLS LAST LIMIT 1) r ON true
        WHERE w.status IN ${LIVE_WORKLOAD_SQL} AND r.status = 'terminated'
          AND NOT EXISTS (SELECT 1 FROM runner_queue q WHERE q.workload_id = w.id)
        LIMIT ${BATCH}`,
    );
    for (const row of r.rows) {
      this.deps.hooks.onExit(row.id, {
        code: null,
        reason: `runner ${row.pod_name} ${row.reason ?? "is gone"}`,
      });
    }
    return r.rowCount;
  }

  private async sweepQueue(): Promise<Pick<SweepResult, "expired" | "coldStarted">> {
    const { runners, hooks, queueTimeoutSeconds, coldStartAfterMs } = this.deps;
    const { queue } = runners;
    await queue.dropEnded();
    const expired = await queue.expire(queueTimeoutSeconds);
    for (const id of expired) {
      hooks.onExit(id, {
        code: null,
        reason: `no runner became available within ${queueTimeoutSeconds} s`,
      });
    }
    const due = await queue.dueForColdStart(coldStartAfterMs);
    for (const id of due) await this.deps.coldStart(id);
    // A queue wake can be lost in a race (a runner woken for it got its own claim instead).
    if (runners.waiting > 0 && !(await queue.isEmpty())) runners.nudge();
    return { expired: expired.length, coldStarted: due.length };
  }

  private async collectOrphans(): Promise<number> {
    const n = (await this.deps.backend.collectOrphans?.()) ?? 0;
    if (n > 0) reapedRunners.inc({ reason: "orphan" }, n);
    return n;
  }
}
