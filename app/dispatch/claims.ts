/**
 * Claims: a workload takes a free pool runner. Dispatch claims one available runner with a single
 * `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1)`; claims that arrive while one is
 * in flight go together in one statement pairing up to 64 SKIP LOCKED runners with workloads. A
 * unique index allows one live runner per workload, so no workload is ever claimed twice.
 *
 * The claimed runner's long-poll, on whichever replica holds it, is woken by the claim signal
 * (NOTIFY; an in-process bus on PGlite), which carries a small sealed assignment along so the poll
 * answers without reading it back.
 */
import type { Db, Queryable } from "../db";
import { CLAIMED_CHANNEL } from "../events/topics";
import type { Assignment } from "../wire/protocol";
import { type ClaimEvent, DEADLINE_GRACE_SECONDS, type RunnerRef } from "./executor";
import type { AssignmentSeal } from "./seal";

/** Sealed assignments (base64) up to this length travel in the claim signal (NOTIFY stops at 8000 bytes). */
export const MAX_SIGNALLED = 6800;
/** At most this many claims go in one statement. */
const MAX_CLAIM_BATCH = 64;

interface PendingClaim {
  assignment: Assignment;
  /** The sealed assignment, base64. */
  sealed: string;
  resolve(r: RunnerRef | undefined): void;
  reject(err: unknown): void;
}

interface ClaimedRow {
  id: string;
  pod_name: string;
  cold: boolean | null;
  task: string;
}

/** Sends a claim's signal to every replica (those of the registry that holds the runner's poll). */
export function announceClaim(db: Db, e: ClaimEvent): Promise<void> {
  return db.notify(CLAIMED_CHANNEL, JSON.stringify(e));
}

/** Seconds from the claim until the reaper stops the runner: the wall time plus the grace. */
export function deadlineSeconds(assignment: Assignment): number {
  return assignment.workload.limits.wall_time_ms / 1000 + DEADLINE_GRACE_SECONDS;
}

/** Marks a runner claimed for a workload it took itself (from the queue, or a cold runner's own). */
export async function markClaimed(
  tx: Queryable,
  runnerId: string,
  assignment: Assignment,
  sealed: Uint8Array,
  dispatchedAt: Date,
  delivered = false,
): Promise<void> {
  await tx.query(
    `UPDATE runner_pool
        SET status = 'claimed', claimed_at = now(), claimed_by_task_id = $2, assignment = $3,
            dispatched_at = $4, delivered_at = CASE WHEN $5::boolean THEN now() END,
            deadline_at = now() + $6::float8 * interval '1 second'
      WHERE id = $1`,
    [runnerId, assignment.workload.id, sealed, dispatchedAt, delivered, deadlineSeconds(assignment)],
  );
}

export class Claims {
  /** Claims waiting for the one in flight to finish (they go together). */
  private readonly pending: PendingClaim[] = [];
  private claiming = false;

  constructor(
    private readonly db: Db,
    private readonly seal: AssignmentSeal,
    /** The registry's id: the `origin` of the claims made here. */
    private readonly origin: string,
    /** Runners silent longer than this are not claimed. */
    private readonly silenceSeconds: number,
  ) {}

  /**
   * Claims a free runner for the workload and wakes its poll; undefined when none is free.
   * Claims that arrive while one is in flight go together in the next statement (a burst of
   * dispatches costs a few round trips, not one each).
   */
  claim(assignment: Assignment): Promise<RunnerRef | undefined> {
    return new Promise((resolve, reject) => {
      this.pending.push({
        assignment,
        sealed: this.seal.seal(assignment).toString("base64"),
        resolve,
        reject,
      });
      this.pump();
    });
  }

  /** The runner holding (or last holding) a workload. */
  async runnerFor(workloadId: string): Promise<RunnerRef | undefined> {
    const r = await this.db.query<{ id: string; pod_name: string; cold: boolean | null }>(
      `SELECT id, pod_name, cold FROM runner_pool WHERE claimed_by_task_id = $1
        ORDER BY (status = 'claimed') DESC, claimed_at DESC LIMIT 1`,
      [workloadId],
    );
    const row = r.rows[0];
    return row && { id: row.id, podName: row.pod_name, cold: Boolean(row.cold), workloadId };
  }

  private pump(): void {
    if (this.claiming || this.pending.length === 0) return;
    this.claiming = true;
    const batch = this.pending.splice(0, MAX_CLAIM_BATCH);
    const run = batch.length === 1 ? this.claimOne(batch[0]!) : this.claimMany(batch);
    run
      .catch((err) => {
        for (const c of batch) c.reject(err);
      })
      .finally(() => {
        this.claiming = false;
        this.pump();
      });
  }

  /** One claim: `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1)`. */
  private async claimOne(c: PendingClaim): Promise<void> {
    const { workload } = c.assignment;
    let r: { rows: ClaimedRow[] };
    try {
      r = await this.db.query(
        `WITH c AS (
           UPDATE runner_pool
              SET status = 'claimed', claimed_at = now(), dispatched_at = now(), claimed_by_task_id = $1::uuid,
                  assignment = decode($2, 'base64'), deadline_at = now() + $3::float8 * interval '1 second'
            WHERE id = (SELECT id FROM runner_pool
                         WHERE status = 'available' AND last_heartbeat > now() - $4::float8 * interval '1 second'
                         ORDER BY registered_at
                         FOR UPDATE SKIP LOCKED LIMIT 1)
            RETURNING id, pod_name, cold, $1::uuid::text AS task, $5::text AS type, $2::text AS sealed)
         SELECT c.id, c.pod_name, c.cold, c.task${this.signalSql("$6")} FROM c`,
        [
          workload.id,
          c.sealed,
          deadlineSeconds(c.assignment),
          this.silenceSeconds,
          workload.type,
          this.origin,
        ],
      );
    } catch (err) {
      if ((err as { code?: string }).code !== "23505") throw err;
      return c.resolve(await this.runnerFor(workload.id)); // claimed already (a repeated dispatch)
    }
    await this.claimed(r.rows, [c]);
  }

  /** Several claims in one statement: free runners (SKIP LOCKED) paired with workloads in order. */
  private async claimMany(batch: PendingClaim[]): Promise<void> {
    let r: { rows: ClaimedRow[] };
    try {
      r = await this.db.query(
        `WITH free AS (
           SELECT id, row_number() OVER (ORDER BY registered_at) AS n
             FROM (SELECT id, registered_at FROM runner_pool
                    WHERE status = 'available' AND last_heartbeat > now() - $5::float8 * interval '1 second'
                    ORDER BY registered_at
                    FOR UPDATE SKIP LOCKED LIMIT $6) f),
         work AS (
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::float8[], $4::text[])
                    WITH ORDINALITY AS w(task, sealed, deadline, type, n)),
         c AS (
           UPDATE runner_pool p
              SET status = 'claimed', claimed_at = now(), dispatched_at = now(), claimed_by_task_id = work.task,
                  assignment = decode(work.sealed, 'base64'),
                  deadline_at = now() + work.deadline * interval '1 second'
             FROM free JOIN work ON work.n = free.n
            WHERE p.id = free.id
            RETURNING p.id, p.pod_name, p.cold, work.task::text AS task, work.type, work.sealed)
         SELECT c.id, c.pod_name, c.cold, c.task${this.signalSql("$7")} FROM c`,
        [
          batch.map((c) => c.assignment.workload.id),
          batch.map((c) => c.sealed),
          batch.map((c) => deadlineSeconds(c.assignment)),
          batch.map((c) => c.assignment.workload.type),
          this.silenceSeconds,
          batch.length,
          this.origin,
        ],
      );
    } catch (err) {
      if ((err as { code?: string }).code !== "23505") throw err;
      for (const c of batch) await this.claimOne(c); // one of them was claimed already: go one by one
      return;
    }
    await this.claimed(r.rows, batch);
  }

  /**
   * On Postgres the wake-up rides in the claiming statement (NOTIFY is sent at its commit), and a
   * small sealed assignment rides along, so the woken poll answers without reading it back.
   * `origin` is the placeholder holding the registry's id.
   */
  private signalSql(origin: string): string {
    if (this.db.kind !== "postgres") return `, ${origin}::text AS origin`;
    return `, pg_notify('${CLAIMED_CHANNEL}', json_build_object('runner', c.id, 'pod', c.pod_name, 'task', c.task,
        'type', c.type, 'cold', coalesce(c.cold, false), 'origin', ${origin}::text,
        'sealed', CASE WHEN length(c.sealed) <= ${MAX_SIGNALLED} THEN c.sealed END)::text)`;
  }

  /** Settles a batch from the rows it claimed; signals the claims itself where SQL could not. */
  private async claimed(rows: ClaimedRow[], batch: PendingClaim[]): Promise<void> {
    const byTask = new Map(rows.map((r) => [r.task, r]));
    for (const c of batch) {
      const { workload } = c.assignment;
      const row = byTask.get(workload.id);
      if (!row) {
        c.resolve(undefined);
        continue;
      }
      const cold = Boolean(row.cold);
      if (this.db.kind !== "postgres") {
        const sealed = c.sealed.length <= MAX_SIGNALLED ? c.sealed : undefined;
        await announceClaim(this.db, {
          runner: row.id,
          pod: row.pod_name,
          task: workload.id,
          type: workload.type,
          cold,
          origin: this.origin,
          sealed,
        });
      }
      c.resolve({ id: row.id, podName: row.pod_name, cold, workloadId: workload.id });
    }
  }
}
