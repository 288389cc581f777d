/**
 * The runner queue (`runner_queue`): workloads waiting for a pool runner, their assignments
 * sealed. This module is the only one that writes the table; the registry, the warm-pool executor
 * and the reaper all go through it.
 *
 * A workload is queued when no runner was free at dispatch; a runner that polls (or is woken by
 * the queue signal, on any replica) takes the oldest one, and a cold runner started for one
 * workload takes exactly that one. Whoever takes it first wins: the rest find it gone.
 */

import { hashToken } from "../auth/tokens";
import type { Db, Queryable } from "../db";
import { QUEUED_CHANNEL } from "../events/topics";
import type { Assignment } from "../wire/protocol";
import type { AssignmentSeal } from "./seal";
import { LIVE_WORKLOAD_SQL } from "./status";
import { newTaskToken } from "./tokens";

/** A workload is handed to a fresh runner at most this many times (its runners vanished unstarted). */
export const MAX_CLAIMS = 2;

/** A workload taken out of the queue. */
export interface Taken {
  workloadId: string;
  assignment: Assignment;
  /** The assignment as stored (the claim stores it as it is). */
  sealed: Uint8Array;
  queuedAt: Date;
}

export class RunnerQueue {
  constructor(
    private readonly db: Db,
    private readonly seal: AssignmentSeal,
  ) {}

  /** Puts the workload in the queue and wakes a waiting runner (on any replica). */
  async enqueue(assignment: Assignment): Promise<void> {
    await this.db.query(
      "INSERT INTO runner_queue (workload_id, assignment) VALUES ($1, $2) ON CONFLICT DO NOTHING",
      [assignment.workload.id, this.seal.seal(assignment)],
    );
    await this.signal(assignment.workload.id);
  }

  /** Wakes a waiting runner (on any replica) for a workload queued in a transaction now committed. */
  signal(workloadId: string): Promise<void> {
    return this.db.notify(QUEUED_CHANNEL, workloadId);
  }

  /** Takes a queued workload out of the queue; false when it was not there (taken, or never queued). */
  async dequeue(workloadId: string): Promise<boolean> {
    const r = await this.db.query("DELETE FROM runner_queue WHERE workload_id = $1", [workloadId]);
    return r.rowCount > 0;
  }

  /** Marks a queued workload as cold-started; its assignment if this call did it (once per workload). */
  async markColdStart(workloadId: string): Promise<Assignment | undefined> {
    const r = await this.db.query<{ assignment: Uint8Array }>(
      `UPDATE runner_queue SET cold_started_at = now()
        WHERE workload_id = $1 AND cold_started_at IS NULL RETURNING assignment`,
      [workloadId],
    );
    return r.rows[0] && this.seal.open(r.rows[0].assignment);
  }

  /** Takes one workload out of the queue (a cold runner's own); undefined when it is gone. */
  async take(tx: Queryable, workloadId: string): Promise<Taken | undefined> {
    const r = await tx.query<{ assignment: Uint8Array; queued_at: Date }>(
      "DELETE FROM runner_queue WHERE workload_id = $1 RETURNING assignment, queued_at",
      [workloadId],
    );
    const row = r.rows[0];
    return row && this.taken(workloadId, row.assignment, row.queued_at);
  }

  /** Takes the oldest queued workload still pending (SKIP LOCKED: replicas take different ones). */
  async takeOldest(tx: Queryable): Promise<(Taken & { waitedSeconds: number }) | undefined> {
    const r = await tx.query<{
      workload_id: string;
      assignment: Uint8Array;
      queued_at: Date;
      waited: number;
    }>(
      `DELETE FROM runner_queue WHERE workload_id = (
         SELECT q.workload_id FROM runner_queue q JOIN workloads w ON w.id = q.workload_id
          WHERE w.status = 'pending' ORDER BY q.queued_at
          FOR UPDATE OF q SKIP LOCKED LIMIT 1)
       RETURNING workload_id, assignment, queued_at,
                 extract(epoch FROM clock_timestamp() - queued_at)::float8 AS waited`,
    );
    const row = r.rows[0];
    return (
      row && { ...this.taken(row.workload_id, row.assignment, row.queued_at), waitedSeconds: row.waited }
    );
  }

  /**
   * Puts a claimed workload that never started back in the queue (unless it had its share of
   * runners) under a new task token: the runner that lost it may be silent rather than dead, and
   * its copy of the old token must no longer reach the workload's events or repository. Runs in
   * the caller's transaction; `signal` once it committed.
   */
  async requeueUnstarted(tx: Queryable, workloadId: string, sealed: Uint8Array): Promise<boolean> {
    const r = await tx.query(
      `SELECT 1 FROM workloads
        WHERE id = $1 AND status = 'pending'
          AND (SELECT count(*) FROM runner_pool WHERE claimed_by_task_id = $1) < $2
          AND NOT EXISTS (SELECT 1 FROM runner_queue WHERE workload_id = $1)
          FOR UPDATE`,
      [workloadId, MAX_CLAIMS],
    );
    if (r.rowCount === 0) return false;
    const token = newTaskToken();
    await tx.query("UPDATE workloads SET token_hash = $2 WHERE id = $1", [workloadId, hashToken(token)]);
    await tx.query("INSERT INTO runner_queue (workload_id, assignment) VALUES ($1, $2)", [
      workloadId,
      this.seal.seal({ ...this.seal.open(sealed), token }),
    ]);
    return true;
  }

  // --------------------------------------------------------------------------------------------
  // The reaper's sweep.

  /** Drops queued workloads that ended meanwhile (aborted, failed by recovery). */
  async dropEnded(): Promise<void> {
    await this.db.query(
      `DELETE FROM runner_queue q USING workloads w
        WHERE w.id = q.workload_id AND w.status NOT IN ${LIVE_WORKLOAD_SQL}`,
    );
  }

  /** Takes out the workloads queued longer than `seconds`; returns their ids (they fail). */
  async expire(seconds: number): Promise<string[]> {
    const r = await this.db.query<{ workload_id: string }>(
      `DELETE FROM runner_queue WHERE queued_at < now() - $1::float8 * interval '1 second'
       RETURNING workload_id`,
      [seconds],
    );
    return r.rows.map((row) => row.workload_id);
  }

  /** Workloads queued longer than `ms` and not cold-started yet, oldest first. */
  async dueForColdStart(ms: number): Promise<string[]> {
    const r = await this.db.query<{ workload_id: string }>(
      `SELECT workload_id FROM runner_queue
        WHERE cold_started_at IS NULL AND queued_at < now() - $1::float8 * interval '1 millisecond'
        ORDER BY queued_at LIMIT 50`,
      [ms],
    );
    return r.rows.map((row) => row.workload_id);
  }

  async isEmpty(): Promise<boolean> {
    return (await this.db.query("SELECT 1 FROM runner_queue LIMIT 1")).rowCount === 0;
  }

  private taken(workloadId: string, sealed: Uint8Array, queuedAt: Date): Taken {
    return { workloadId, assignment: this.seal.open(sealed), sealed, queuedAt };
  }
}
