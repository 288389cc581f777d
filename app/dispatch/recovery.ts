/**
 * Crash recovery: what a server that died (a crash, an OOM kill, a reboot, SIGKILL of its group)
 * left behind is found and ended — at start, and by every replica on a timer.
 *
 * Ownership. Every workload names the instance (server process, instance.ts) that dispatched it.
 * While it waits in `runner_queue` or a live `runner_pool` runner holds it, the queue and the pool
 * own it (their reaper handles them, from any replica). Otherwise its instance does: the local
 * and in-process executors, and their in-memory queues, live and die with it. An instance is dead
 * when, on this host's boot, its process is gone (pid + start time: exact, at once), or, elsewhere,
 * its `app_instances` heartbeat is missing or older than the lease. A sweep then:
 *
 * - SIGKILLs the dead instances' runner processes still on this host (titled `plue-runner:<id>:…`,
 *   with everything they started): a runner stuck in a synchronous call never noticed its parent go;
 * - terminates their local pool runners (`local-<id>-…`), so a workload those held is requeued if
 *   it never started, or fails;
 * - fails every live workload a dead instance owns, no queue holds and no live runner claims:
 *   `runner lost: server restarted` (same host) or `… stopped responding` (lease) — the `error`
 *   event ends its streams, and the session/run end handlers make the session usable and the run
 *   and its steps terminal, as for any runner that ended without a word;
 * - fails live workloads from before ownership was recorded (owner NULL) that no queue or runner
 *   holds and that were silent for a lease;
 * - removes the dead instances' directories (`plue-run-<id>-…` runner dirs and workspaces,
 *   `plue-bundle-<id>-…`) from the workspace bases: a live instance's are never touched, also on a
 *   filesystem several hosts share, because liveness is decided as above;
 * - deletes the dead instances' rows.
 *
 * Every step is idempotent (`endUnfinished` and `terminate` re-check under the row lock), so
 * replicas sweeping at once do no harm.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Db } from "../db";
import type { Logger } from "../log";
import type { Dispatcher } from "./dispatcher";
import { LOCAL_POD_PREFIX } from "./executors/local-standby";
import { aliveHere, dirOwner, killTree, runnerProcesses, thisInstance } from "./instance";
import type { RunnerRegistry } from "./registry";
import { LIVE_WORKLOAD_SQL } from "./status";

const BATCH = 500;
export const RESTARTED = "runner lost: server restarted";

export interface RecoveryOptions {
  /** How often to sweep (PLUE_REAPER_INTERVAL_MS). */
  readonly intervalMs: number;
  /** An instance on another host silent this long is dead (PLUE_INSTANCE_LEASE_SECONDS). */
  readonly leaseSeconds: number;
  /** Where runner directories may be: PLUE_WORKSPACE and the temp dir. */
  readonly dirs: readonly string[];
}

export interface RecoveryDeps {
  readonly db: Db;
  readonly log: Logger;
  readonly dispatcher: Pick<Dispatcher, "endUnfinished">;
  readonly runners: Pick<RunnerRegistry, "terminate">;
}

export interface RecoveryResult {
  deadInstances: number;
  killedRunners: number;
  terminatedRunners: number;
  failed: number;
  removedDirs: number;
}

/** In one process several platforms (tests) share the instance: its row goes with the last. */
let holders = 0;

export class Recovery {
  private timer?: NodeJS.Timeout;
  private running?: Promise<RecoveryResult>;
  private stopped = false;

  constructor(
    private readonly deps: RecoveryDeps,
    private readonly opts: RecoveryOptions,
  ) {}

  /** Registers this instance, sweeps once (start-up recovery) and then every interval. */
  async start(): Promise<RecoveryResult> {
    holders++;
    const first = await this.sweep(); // registers this instance first
    const next = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.sweep().finally(next), this.opts.intervalMs);
      this.timer.unref();
    };
    next();
    return first;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => {});
    if (--holders === 0) {
      await this.deps.db.query("DELETE FROM app_instances WHERE id = $1", [thisInstance]).catch(() => {});
    }
  }

  /** One sweep at a time; resolves with what it did. */
  sweep(): Promise<RecoveryResult> {
    this.running ??= this.sweepOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  private async sweepOnce(): Promise<RecoveryResult> {
    const result: RecoveryResult = {
      deadInstances: 0,
      killedRunners: 0,
      terminatedRunners: 0,
      failed: 0,
      removedDirs: 0,
    };
    try {
      await this.heartbeat();
      const dead = await this.deadInstances();
      result.deadInstances = dead.size;
      result.killedRunners = this.killOrphanRunners();
      result.terminatedRunners = await this.terminatePoolRunners(dead);
      result.failed = (await this.failOrphans(dead)) + (await this.failUnowned());
      result.removedDirs = await this.removeDirs();
      if (dead.size > 0) {
        await this.deps.db.query("DELETE FROM app_instances WHERE id = ANY($1::text[])", [[...dead.keys()]]);
      }
      if (result.failed + result.killedRunners + result.terminatedRunners + result.removedDirs > 0)
        this.deps.log.warn({ ...result }, "recovered what a stopped server left behind");
    } catch (err) {
      if (!this.stopped) this.deps.log.error({ err }, "recovery sweep failed");
    }
    return result;
  }

  private async heartbeat(): Promise<void> {
    // Re-inserted if another replica took this one for dead (a long pause): it is alive again.
    await this.deps.db.query(
      `INSERT INTO app_instances (id, hostname, pid) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET last_heartbeat = now()`,
      [thisInstance, os.hostname(), process.pid],
    );
  }

  /**
   * Dead instances among those named by live workloads, local pool runners and heartbeat rows,
   * each with the reason its workloads get.
   */
  private async deadInstances(): Promise<Map<string, string>> {
    const r = await this.deps.db.query<{ id: string; fresh: boolean | null }>(
      `WITH named AS (
         SELECT DISTINCT owner_instance AS id FROM workloads
          WHERE status IN ${LIVE_WORKLOAD_SQL} AND owner_instance IS NOT NULL
         UNION
         SELECT substring(pod_name from '^${LOCAL_POD_PREFIX}([0-9a-f]{8}-[0-9]+-[0-9]+)-') FROM runner_pool
          WHERE status <> 'terminated' AND pod_name LIKE '${LOCAL_POD_PREFIX}%'
         UNION
         SELECT id FROM app_instances)
       SELECT n.id, i.last_heartbeat > now() - $2::float8 * interval '1 second' AS fresh
         FROM named n LEFT JOIN app_instances i ON i.id = n.id
        WHERE n.id IS NOT NULL AND n.id <> $1`,
      [thisInstance, this.opts.leaseSeconds],
    );
    const dead = new Map<string, string>();
    for (const { id, fresh } of r.rows) {
      const here = aliveHere(id);
      if (here === false) dead.set(id, RESTARTED);
      else if (here === undefined && !fresh) {
        dead.set(
          id,
          `runner lost: server ${id} stopped responding (no heartbeat for ${this.opts.leaseSeconds} s)`,
        );
      }
    }
    return dead;
  }

  /** Runner processes on this host whose server is gone: SIGKILL, with all they started. */
  private killOrphanRunners(): number {
    let n = 0;
    for (const p of runnerProcesses()) {
      if (p.instance === thisInstance || aliveHere(p.instance) !== false) continue;
      this.deps.log.warn({ pid: p.pid, instance: p.instance }, "killing a runner its server left behind");
      killTree(p.pid);
      n++;
    }
    return n;
  }

  private async terminatePoolRunners(dead: Map<string, string>): Promise<number> {
    if (dead.size === 0) return 0;
    const r = await this.deps.db.query<{ pod_name: string; owner: string }>(
      `SELECT pod_name, substring(pod_name from '^${LOCAL_POD_PREFIX}([0-9a-f]{8}-[0-9]+-[0-9]+)-') AS owner
         FROM runner_pool WHERE status <> 'terminated' AND pod_name LIKE '${LOCAL_POD_PREFIX}%' LIMIT ${BATCH}`,
    );
    let n = 0;
    for (const row of r.rows) {
      const reason = dead.get(row.owner);
      if (!reason) continue;
      const t = await this.deps.runners.terminate({ pod: row.pod_name }, reason);
      if (!t?.now) continue;
      n++;
      if (t.workloadId && !t.requeued)
        await this.deps.dispatcher.endUnfinished(t.workloadId, `${reason} (runner ${t.podName})`);
    }
    return n;
  }

  /** Live workloads a dead instance owns that no queue and no live runner holds. */
  private async failOrphans(dead: Map<string, string>): Promise<number> {
    if (dead.size === 0) return 0;
    const r = await this.deps.db.query<{ id: string; owner_instance: string }>(
      `SELECT w.id, w.owner_instance FROM workloads w
        WHERE w.status IN ${LIVE_WORKLOAD_SQL} AND w.owner_instance = ANY($1::text[]) AND ${UNHELD}
        LIMIT ${BATCH}`,
      [[...dead.keys()]],
    );
    let n = 0;
    for (const w of r.rows) {
      if (await this.deps.dispatcher.endUnfinished(w.id, dead.get(w.owner_instance)!)) n++;
    }
    return n;
  }

  /** Workloads from before ownership was recorded: failed once nothing held them for a lease. */
  private async failUnowned(): Promise<number> {
    const r = await this.deps.db.query<{ id: string }>(
      `SELECT w.id FROM workloads w
        WHERE w.status IN ${LIVE_WORKLOAD_SQL} AND w.owner_instance IS NULL AND ${UNHELD}
          AND COALESCE((SELECT max(e.created_at) FROM task_events e WHERE e.workload_id = w.id), w.created_at)
              < now() - $1::float8 * interval '1 second'
        LIMIT ${BATCH}`,
      [this.opts.leaseSeconds],
    );
    let n = 0;
    const reason = `runner lost: no server or runner has held it for ${this.opts.leaseSeconds} s`;
    for (const w of r.rows) if (await this.deps.dispatcher.endUnfinished(w.id, reason)) n++;
    return n;
  }

  /** Directories of dead instances in the workspace bases. */
  private async removeDirs(): Promise<number> {
    const owners = new Map<string, string[]>();
    for (const base of new Set(this.opts.dirs)) {
      let names: string[];
      try {
        names = fs.readdirSync(base);
      } catch {
        continue;
      }
      for (const name of names) {
        const owner = dirOwner(name);
        if (!owner || owner === thisInstance) continue;
        owners.set(owner, [...(owners.get(owner) ?? []), path.join(base, name)]);
      }
    }
    if (owners.size === 0) return 0;
    const elsewhere = [...owners.keys()].filter((id) => aliveHere(id) === undefined);
    const fresh = new Set(
      elsewhere.length === 0
        ? []
        : (
            await this.deps.db.query<{ id: string }>(
              `SELECT id FROM app_instances
                WHERE id = ANY($1::text[]) AND last_heartbeat > now() - $2::float8 * interval '1 second'`,
              [elsewhere, this.opts.leaseSeconds],
            )
          ).rows.map((r) => r.id),
    );
    let n = 0;
    for (const [owner, dirs] of owners) {
      const here = aliveHere(owner);
      if (here === true || (here === undefined && fresh.has(owner))) continue;
      for (const dir of dirs) {
        try {
          fs.rmSync(dir, { recursive: true, force: true });
          n++;
        } catch (err) {
          this.deps.log.warn({ err, dir }, "cannot remove a stopped server's runner directory");
        }
      }
    }
    return n;
  }
}

/** Neither waiting in the queue nor claimed by a runner that is still alive. */
const UNHELD = `NOT EXISTS (SELECT 1 FROM runner_queue q WHERE q.workload_id = w.id)
  AND NOT EXISTS (SELECT 1 FROM runner_pool r WHERE r.claimed_by_task_id = w.id AND r.status <> 'terminated')`;
