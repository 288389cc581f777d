/**
 * The warm pool's shared state (DESIGN.md §4), kept in the database so any replica can serve any
 * runner: standby runners register with the pool secret and get an id and a token (stored
 * hashed), then long-poll for an assignment; each poll is a heartbeat.
 *
 * Dispatch claims one available runner with a single `UPDATE … WHERE id = (SELECT … FOR UPDATE
 * SKIP LOCKED LIMIT 1)` and wakes that runner's long-poll through NOTIFY (an in-process bus on
 * PGlite). When no runner is free the workload waits in `runner_queue`; the next runner that
 * polls takes the oldest. A claim carries the assignment sealed (AES-256-GCM under a key derived
 * from the pool secret), so the task token is never stored readable and any replica can deliver it.
 *
 * A unique index allows one live runner per workload, so no workload is ever claimed twice.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  hkdfSync,
  randomBytes,
  randomUUID,
  timingSafeEqual,
} from "node:crypto";
import { EventEmitter } from "node:events";
import { hashToken, newToken } from "../auth/tokens";
import type { Config } from "../config";
import type { Db, Queryable } from "../db";
import { AppError } from "../errors";
import type { Logger } from "../log";
import type {
  Assignment,
  PoolRejection,
  RegisterRequest,
  RegisterResponse,
  RunnerHeartbeat,
} from "../wire/protocol";
import { claimLatency, setPoolMetricsSource } from "./pool-metrics";
import { isLiveWorkload } from "./status";
import { newTaskToken } from "./tokens";

export const RUNNER_TOKEN_PREFIX = "plue_runner_";
/** Payload: a ClaimEvent (JSON). Wakes the claimed runner's long-poll on whichever replica holds it. */
const CLAIMED_CHANNEL = "plue_runner_claimed";
/** Sealed assignments (base64) up to this length travel in the claim signal (NOTIFY stops at 8000 bytes). */
const MAX_SIGNALLED = 6800;
/** Payload: the workload id. Wakes one waiting runner to take it from the queue. */
const QUEUED_CHANNEL = "plue_runner_queued";
/**
 * SQL: the runner (row alias `r`) is silent when neither its heartbeat nor the latest event of the
 * workload it holds is newer than `seconds` (the placeholder holding them): a runner busy posting
 * events is alive even when a heartbeat got delayed.
 */
export function silentSql(seconds: string): string {
  const cutoff = `now() - ${seconds}::float8 * interval '1 second'`;
  return `(r.last_heartbeat < ${cutoff}
    AND coalesce((SELECT e.created_at FROM task_events e WHERE e.workload_id = r.claimed_by_task_id
                   ORDER BY e.id DESC LIMIT 1) < ${cutoff}, true))`;
}
/** Time a claimed runner gets beyond its workload's wall time before the reaper stops it. */
export const DEADLINE_GRACE_SECONDS = 120;
/** A workload is handed to a fresh runner at most this many times (its runners vanished unstarted). */
export const MAX_CLAIMS = 2;

/** Whether this configuration runs workloads through the warm pool. */
export function usesWarmPool(config: Pick<Config, "RUNNER_MODE" | "PLUE_WARM_POOL">): boolean {
  return config.RUNNER_MODE === "kubernetes" || (config.RUNNER_MODE === "local" && config.PLUE_WARM_POOL > 0);
}

/** A refused pool request, rendered as `PoolRejection` by the app's error handler. */
export class PoolError extends AppError {
  constructor(status: number, code: PoolRejection["error"]["code"], message: string) {
    super(
      status,
      code,
      message,
      {},
      status === 401 ? { "WWW-Authenticate": 'Bearer realm="plue-runners"' } : {},
    );
    this.name = "PoolError";
  }
}

/** A runner was claimed for a workload (sent to every replica). */
export interface ClaimEvent {
  runner: string;
  pod: string;
  task: string;
  type: Assignment["workload"]["type"];
  /** A runner started for this workload (a Job's pod), not one from the pool. */
  cold: boolean;
  /** The pool instance that made the claim. */
  origin: string;
  /** The sealed assignment (base64), when small enough to ride in the signal. */
  sealed?: string;
}

export interface RunnerRef {
  id: string;
  podName: string;
  cold: boolean;
  workloadId: string | null;
}

export interface Terminated extends RunnerRef {
  /** The workload went back to the queue (its runner vanished before it started). */
  requeued: boolean;
  /** This call terminated it (false: it already was). */
  now: boolean;
  reason: string;
}

export interface PoolOptions {
  /** The registration secret; also keys the seal of stored assignments. */
  readonly secret: string;
  readonly pollSeconds: number;
  /** False on servers that keep no pool: registration answers 503. */
  readonly enabled: boolean;
}

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

/** At most this many claims go in one statement. */
const MAX_CLAIM_BATCH = 64;

/** Wakes one long-poll. `queue` marks a wake meant for "take from the queue". */
class Waiter {
  queueWake = false;
  /** The assignment, when the claim's signal carried it (no database read needed). */
  handed?: Assignment;
  /** Between its database check's start and end. */
  checking = false;
  private woken = false;
  private resolve?: () => void;

  constructor(readonly runnerId: string) {}

  wake(queue: boolean): void {
    if (queue) this.queueWake = true;
    this.woken = true;
    this.resolve?.();
  }

  get pending(): boolean {
    return !this.woken;
  }

  /** Resolves on a wake (also one that came before this call), the timeout, or the signal. */
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (this.woken || signal.aborted) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.resolve = undefined;
        this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.resolve = done;
    });
  }
}

export class RunnerPool {
  /** Distinguishes this instance's claims from other replicas' in ClaimEvents. */
  readonly id = randomUUID();
  readonly pollSeconds: number;
  private readonly key: Buffer;
  private readonly secretDigest: Buffer;
  /** Long-polls held by this replica, by runner id, oldest first. */
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly bus = new EventEmitter().setMaxListeners(0);
  private listening?: Promise<Array<() => Promise<void>>>;
  /** Claims waiting for the one in flight to finish (they go together). */
  private readonly claims: PendingClaim[] = [];
  private claiming = false;
  private closed = false;

  readonly db: Db;

  constructor(
    private readonly ctx: { db: Db; log: Logger },
    private readonly options: PoolOptions,
  ) {
    this.db = ctx.db;
    this.pollSeconds = options.pollSeconds;
    this.secretDigest = sha256(options.secret);
    this.key = Buffer.from(hkdfSync("sha256", options.secret, "plue-runner-pool", "assignment-seal-v1", 32));
  }

  get enabled(): boolean {
    return this.options.enabled;
  }

  /** Shutting down: long-polls answer at once. */
  get closing(): boolean {
    return this.closed;
  }

  /** Subscribes to claim and queue signals (idempotent); polls and the executor call it. */
  start(): Promise<unknown> {
    setPoolMetricsSource(this.ctx.db);
    this.listening ??= Promise.all([
      this.ctx.db.listen(CLAIMED_CHANNEL, (payload) => this.claimSignal(payload)),
      this.ctx.db.listen(QUEUED_CHANNEL, () => this.wakeForQueue()),
    ]);
    return this.listening;
  }

  /** Every claim, on any replica. */
  onClaimed(listener: (e: ClaimEvent) => void): void {
    this.bus.on("claimed", listener);
  }

  /** Ends every long-poll held here (they answer 204; runners poll again elsewhere) and unsubscribes. */
  async close(): Promise<void> {
    this.closed = true;
    for (const set of this.waiters.values()) for (const w of set) w.wake(false);
    const unlisten = await this.listening?.catch(() => []);
    for (const u of unlisten ?? []) await u().catch(() => {});
    this.bus.removeAllListeners();
  }

  // --------------------------------------------------------------------------------------------
  // Runner side: register, poll, heartbeat, leave.

  /** Registers a runner; a cold runner (`task_id`) is handed its workload at once, or refused. */
  async register(secret: string | undefined, req: RegisterRequest): Promise<RegisterResponse> {
    this.checkSecret(secret);
    const id = randomUUID();
    const token = newToken(RUNNER_TOKEN_PREFIX);
    const claim = await this.ctx.db.transaction(async (tx) => {
      const old = await tx.query<{ claimed_at: Date | null }>(
        "SELECT claimed_at FROM runner_pool WHERE pod_name = $1 FOR UPDATE",
        [req.pod_name],
      );
      if (old.rows[0]?.claimed_at) {
        throw new PoolError(
          409,
          "pod_used",
          `pod ${req.pod_name} already ran a workload; runner pods are single-use`,
        );
      }
      // A runner restarted in a pod that never ran anything takes its place again.
      await tx.query("DELETE FROM runner_pool WHERE pod_name = $1", [req.pod_name]);
      await tx.query(
        `INSERT INTO runner_pool (id, pod_name, pod_ip, token_hash, status, cold)
         VALUES ($1, $2, $3, $4, 'available', $5)`,
        [id, req.pod_name, req.pod_ip ?? null, hashToken(token), req.task_id !== undefined],
      );
      if (req.task_id === undefined) return undefined;
      const q = await tx.query<{ assignment: Uint8Array; queued_at: Date }>(
        "DELETE FROM runner_queue WHERE workload_id = $1 RETURNING assignment, queued_at",
        [req.task_id],
      );
      const row = q.rows[0];
      if (!row) {
        throw new PoolError(
          409,
          "task_taken",
          `workload ${req.task_id} is not waiting for a runner any more`,
        );
      }
      const assignment = this.open(row.assignment);
      await this.markClaimed(tx, id, assignment, row.assignment, row.queued_at);
      return { runner: id, pod: req.pod_name, task: req.task_id, type: assignment.workload.type, cold: true };
    });
    if (claim) await this.announce(claim);
    return { runner_id: id, token, poll_seconds: this.pollSeconds };
  }

  /** Throws unless registration is open here and `secret` is the pool secret. */
  checkSecret(secret: string | undefined): void {
    if (!this.options.enabled) {
      throw new PoolError(
        503,
        "pool_disabled",
        "this server keeps no warm pool (RUNNER_MODE / PLUE_WARM_POOL)",
      );
    }
    if (!secret || !timingSafeEqual(sha256(secret), this.secretDigest)) {
      throw new PoolError(401, "unauthorized", "registration needs the pool secret (Authorization: Bearer)");
    }
  }

  /**
   * The long-poll: the runner's assignment, or null after `waitSeconds` (capped at the poll
   * period) without one. Each call is a heartbeat.
   */
  async poll(
    runnerId: string,
    token: string,
    waitSeconds: number,
    signal: AbortSignal,
  ): Promise<Assignment | null> {
    await this.authorize(runnerId, token);
    await this.start();
    const until = Date.now() + Math.min(Math.max(waitSeconds, 0), this.pollSeconds) * 1000;
    // Waiting starts before the first check, so a claim that lands during the check still wakes it.
    const waiter = this.addWaiter(runnerId);
    try {
      for (;;) {
        if (waiter.handed) {
          this.recordDelivery(runnerId);
          return waiter.handed;
        }
        waiter.queueWake = false;
        waiter.checking = true;
        const assignment = await this.check(runnerId).finally(() => (waiter.checking = false));
        if (assignment) {
          // A queue wake this runner cannot use (it got its own claim) goes to another runner.
          if (waiter.queueWake) this.wakeForQueue();
          return assignment;
        }
        const left = until - Date.now();
        if (left <= 0 || signal.aborted || this.closed) return null;
        await waiter.sleep(left, signal);
      }
    } finally {
      this.removeWaiter(waiter);
    }
  }

  /** A running runner's heartbeat: `abort` tells it to stop. */
  async heartbeat(runnerId: string, token: string): Promise<RunnerHeartbeat> {
    await this.authorize(runnerId, token);
    const r = await this.ctx.db.query<{ status: RunnerHeartbeat["status"]; workload: string | null }>(
      `UPDATE runner_pool p SET last_heartbeat = now() WHERE id = $1
       RETURNING p.status, (SELECT w.status FROM workloads w WHERE w.id = p.claimed_by_task_id) AS workload`,
      [runnerId],
    );
    const row = r.rows[0]!;
    // Stop: the app gave up on this runner, or its workload is aborting or has ended.
    const abort =
      row.status === "terminated" ||
      (row.status === "claimed" && (row.workload === "aborting" || !isLiveWorkload(row.workload)));
    return { status: row.status, abort };
  }

  /** The runner leaves the pool (it is done, or shutting down). */
  async leave(runnerId: string, token: string): Promise<void> {
    await this.authorize(runnerId, token);
    await this.terminate({ id: runnerId }, "left the pool");
  }

  // --------------------------------------------------------------------------------------------
  // Dispatch side.

  /**
   * Claims a free runner for the workload and wakes its poll; undefined when none is free.
   * Claims that arrive while one is in flight go together in the next statement (a burst of
   * dispatches costs a few round trips, not one each).
   */
  async claim(assignment: Assignment): Promise<RunnerRef | undefined> {
    await this.start();
    return new Promise((resolve, reject) => {
      this.claims.push({ assignment, sealed: this.seal(assignment).toString("base64"), resolve, reject });
      this.pumpClaims();
    });
  }

  private pumpClaims(): void {
    if (this.claiming || this.claims.length === 0) return;
    this.claiming = true;
    const batch = this.claims.splice(0, MAX_CLAIM_BATCH);
    const run = batch.length === 1 ? this.claimOne(batch[0]!) : this.claimMany(batch);
    run
      .catch((err) => {
        for (const c of batch) c.reject(err);
      })
      .finally(() => {
        this.claiming = false;
        this.pumpClaims();
      });
  }

  /** One claim: `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1)`. */
  private async claimOne(c: PendingClaim): Promise<void> {
    const { workload } = c.assignment;
    let r: { rows: ClaimedRow[] };
    try {
      r = await this.ctx.db.query(
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
        [workload.id, c.sealed, deadlineSeconds(c.assignment), this.silenceSeconds, workload.type, this.id],
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
      r = await this.ctx.db.query(
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
          this.id,
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
   * `origin` is the placeholder holding this pool's id.
   */
  private signalSql(origin: string): string {
    if (this.ctx.db.kind !== "postgres") return `, ${origin}::text AS origin`;
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
      if (this.ctx.db.kind !== "postgres") {
        const sealed = c.sealed.length <= MAX_SIGNALLED ? c.sealed : undefined;
        await this.announce({
          runner: row.id,
          pod: row.pod_name,
          task: workload.id,
          type: workload.type,
          cold,
          sealed,
        });
      }
      c.resolve({ id: row.id, podName: row.pod_name, cold, workloadId: workload.id });
    }
  }

  /** Puts the workload in the queue and wakes a waiting runner (on any replica). */
  async enqueue(assignment: Assignment): Promise<void> {
    await this.ctx.db.query(
      "INSERT INTO runner_queue (workload_id, assignment) VALUES ($1, $2) ON CONFLICT DO NOTHING",
      [assignment.workload.id, this.seal(assignment)],
    );
    await this.ctx.db.notify(QUEUED_CHANNEL, assignment.workload.id);
  }

  /** Takes a queued workload out of the queue; false when it was not there (taken, or never queued). */
  async dequeue(workloadId: string): Promise<boolean> {
    const r = await this.ctx.db.query("DELETE FROM runner_queue WHERE workload_id = $1", [workloadId]);
    return r.rowCount > 0;
  }

  /** Marks a queued workload as cold-started; its assignment if this call did it (once per workload). */
  async markColdStart(workloadId: string): Promise<Assignment | undefined> {
    const r = await this.ctx.db.query<{ assignment: Uint8Array }>(
      `UPDATE runner_queue SET cold_started_at = now()
        WHERE workload_id = $1 AND cold_started_at IS NULL RETURNING assignment`,
      [workloadId],
    );
    return r.rows[0] && this.open(r.rows[0].assignment);
  }

  /** The runner holding (or last holding) a workload. */
  async runnerFor(workloadId: string): Promise<RunnerRef | undefined> {
    const r = await this.ctx.db.query<{ id: string; pod_name: string; cold: boolean | null }>(
      `SELECT id, pod_name, cold FROM runner_pool WHERE claimed_by_task_id = $1
        ORDER BY (status = 'claimed') DESC, claimed_at DESC LIMIT 1`,
      [workloadId],
    );
    const row = r.rows[0];
    return row && { id: row.id, podName: row.pod_name, cold: Boolean(row.cold), workloadId };
  }

  /**
   * Takes a runner out of the pool (it exited, left, or went silent). If it held a workload that
   * never started, the workload goes back to the queue (at most MAX_CLAIMS runners per workload).
   * `silentFor`: only if its last heartbeat is older than this many seconds (the reaper's check,
   * repeated under the row lock so replicas never both act). `requeue: false` never requeues.
   * Idempotent.
   */
  async terminate(
    which: { id: string } | { pod: string },
    reason: string,
    opts: { silentFor?: number; requeue?: boolean; registeredBefore?: Date } = {},
  ): Promise<Terminated | undefined> {
    const { silentFor, requeue = true, registeredBefore } = opts;
    const result = await this.ctx.db.transaction(async (tx) => {
      const by = "id" in which ? "id" : "pod_name";
      const r = await tx.query<{
        id: string;
        pod_name: string;
        status: string;
        cold: boolean | null;
        claimed_by_task_id: string | null;
        assignment: Uint8Array | null;
        terminated_reason: string | null;
        silent: boolean;
        registered_at: Date;
      }>(
        `SELECT id, pod_name, status, cold, claimed_by_task_id, assignment, terminated_reason, registered_at,
                ${silentSql("$2")} AS silent
           FROM runner_pool r WHERE ${by} = $1 FOR UPDATE`,
        ["id" in which ? which.id : which.pod, silentFor ?? 0],
      );
      const row = r.rows[0];
      // A runner registered after the exit being reported is its restarted successor: leave it be.
      if (!row || (registeredBefore && row.registered_at > registeredBefore)) return undefined;
      const ref = {
        id: row.id,
        podName: row.pod_name,
        cold: Boolean(row.cold),
        workloadId: row.claimed_by_task_id,
      };
      if (row.status === "terminated" || (silentFor !== undefined && !row.silent)) {
        return { ...ref, requeued: false, now: false, reason: row.terminated_reason ?? reason };
      }
      await tx.query(
        `UPDATE runner_pool SET status = 'terminated', terminated_at = now(), terminated_reason = $2,
                assignment = NULL
          WHERE id = $1`,
        [row.id, reason],
      );
      const requeued =
        requeue && row.status === "claimed" && row.assignment !== null && row.claimed_by_task_id !== null
          ? await this.requeueIfUnstarted(tx, row.claimed_by_task_id, row.assignment)
          : false;
      return { ...ref, requeued, now: true, reason };
    });
    if (result?.requeued) await this.ctx.db.notify(QUEUED_CHANNEL, result.workloadId!);
    return result;
  }

  /**
   * Puts a claimed workload that never started back in the queue (unless it had its share of
   * runners) under a new task token: the runner that lost it may be silent rather than dead, and
   * its copy of the old token must no longer reach the workload's events or repository.
   */
  private async requeueIfUnstarted(tx: Queryable, workloadId: string, sealed: Uint8Array): Promise<boolean> {
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
      this.seal({ ...this.open(sealed), token }),
    ]);
    return true;
  }

  /** Seconds without a heartbeat after which a runner counts as gone: two poll periods. */
  get silenceSeconds(): number {
    return 2 * this.pollSeconds;
  }

  /** Wakes one runner waiting here, to look at the queue (the reaper's nudge). */
  nudge(): void {
    this.wakeForQueue();
  }

  /** Long-polls held by this replica (tests and status). */
  get waiting(): number {
    let n = 0;
    for (const set of this.waiters.values()) n += set.size;
    return n;
  }

  // --------------------------------------------------------------------------------------------

  /** Heartbeat, then hand over what this runner holds: its claim, else the oldest queued workload. */
  private async check(runnerId: string): Promise<Assignment | undefined> {
    const r = await this.ctx.db.query<{ status: string; assignment: Uint8Array | null }>(
      "SELECT status, assignment FROM runner_pool WHERE id = $1",
      [runnerId],
    );
    const row = r.rows[0];
    if (!row || row.status === "terminated") {
      throw new PoolError(410, "runner_terminated", `runner ${runnerId} is no longer in the pool; exit`);
    }
    if (row.status === "claimed") {
      if (!row.assignment) {
        throw new PoolError(410, "runner_terminated", `runner ${runnerId} was released (its workload ended)`);
      }
      this.recordDelivery(runnerId);
      return this.open(row.assignment);
    }
    await this.ctx.db.query("UPDATE runner_pool SET last_heartbeat = now() WHERE id = $1", [runnerId]);
    return this.takeQueued(runnerId);
  }

  /**
   * Marks a claimed runner's assignment delivered (the first time: into the claim-latency
   * histogram) and counts it as a heartbeat. Runs after the answer rather than delaying it.
   */
  private recordDelivery(runnerId: string): void {
    this.ctx.db
      .query<{ first: boolean; cold: boolean | null; waited: number | null }>(
        `WITH old AS (SELECT delivered_at FROM runner_pool WHERE id = $1 FOR UPDATE)
         UPDATE runner_pool p SET last_heartbeat = now(), delivered_at = coalesce(p.delivered_at, clock_timestamp())
           FROM old WHERE p.id = $1 AND p.status = 'claimed'
         RETURNING old.delivered_at IS NULL AS first, p.cold,
                   extract(epoch FROM p.delivered_at - p.dispatched_at)::float8 AS waited`,
        [runnerId],
      )
      .then((r) => {
        const row = r.rows[0];
        if (row?.first && row.waited !== null)
          claimLatency.observe({ path: row.cold ? "cold" : "warm" }, row.waited);
      })
      .catch((err) => this.ctx.log.warn({ err, runner: runnerId }, "recording a delivery failed"));
  }

  private async takeQueued(runnerId: string): Promise<Assignment | undefined> {
    const taken = await this.ctx.db.transaction(async (tx) => {
      const me = await tx.query<{ pod_name: string }>(
        "SELECT pod_name FROM runner_pool WHERE id = $1 AND status = 'available' FOR UPDATE",
        [runnerId],
      );
      if (me.rowCount === 0) return undefined; // claimed meanwhile: the next check delivers it
      const q = await tx.query<{
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
      const job = q.rows[0];
      if (!job) return undefined;
      const assignment = this.open(job.assignment);
      await this.markClaimed(tx, runnerId, assignment, job.assignment, job.queued_at, true);
      return { assignment, waited: job.waited, pod: me.rows[0]!.pod_name };
    });
    if (!taken) return undefined;
    claimLatency.observe({ path: "queued" }, taken.waited);
    const { workload } = taken.assignment;
    await this.announce({
      runner: runnerId,
      pod: taken.pod,
      task: workload.id,
      type: workload.type,
      cold: false,
    });
    this.wakeForQueue(); // the queue may hold more: another waiting runner looks
    return taken.assignment;
  }

  private async markClaimed(
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

  private async announce(e: Omit<ClaimEvent, "origin">): Promise<void> {
    await this.ctx.db.notify(CLAIMED_CHANNEL, JSON.stringify({ ...e, origin: this.id }));
  }

  private claimSignal(payload: string): void {
    let e: ClaimEvent;
    try {
      e = JSON.parse(payload);
    } catch {
      return;
    }
    const polls = [...(this.waiters.get(e.runner) ?? [])];
    if (e.sealed && polls[0]) {
      try {
        polls[0].handed = this.open(Buffer.from(e.sealed, "base64"));
      } catch (err) {
        this.ctx.log.error(
          { err, runner: e.runner },
          "a claim signal carried an assignment that does not open",
        );
      }
    }
    for (const w of polls) w.wake(false);
    delete e.sealed;
    this.bus.emit("claimed", e);
  }

  /**
   * Wakes the longest-waiting runner here that is asleep, else one in the middle of a check (its
   * check may have read the queue before this item arrived).
   */
  private wakeForQueue(): void {
    let busy: Waiter | undefined;
    for (const set of this.waiters.values()) {
      for (const w of set) {
        if (!w.pending) continue;
        if (!w.checking) {
          w.wake(true);
          return;
        }
        busy ??= w;
      }
    }
    busy?.wake(true);
  }

  private addWaiter(runnerId: string): Waiter {
    const w = new Waiter(runnerId);
    const set = this.waiters.get(runnerId) ?? new Set();
    set.add(w);
    this.waiters.set(runnerId, set);
    return w;
  }

  private removeWaiter(w: Waiter): void {
    const set = this.waiters.get(w.runnerId);
    set?.delete(w);
    if (set?.size === 0) this.waiters.delete(w.runnerId);
  }

  /** The runner's own token, or 401/403/404. */
  private async authorize(runnerId: string, token: string): Promise<void> {
    if (!token.startsWith(RUNNER_TOKEN_PREFIX) || token.length > 200) {
      throw new PoolError(401, "unauthorized", "a runner token is required (Authorization: Bearer)");
    }
    const hash = hashToken(token);
    const r = await this.ctx.db.query<{ token_hash: Uint8Array }>(
      "SELECT token_hash FROM runner_pool WHERE id = $1",
      [runnerId],
    );
    const own = r.rows[0];
    if (own && timingSafeEqual(Buffer.from(own.token_hash), hash)) return;
    // Refused: say why (a scan, but only on this path).
    const other = await this.ctx.db.query("SELECT 1 FROM runner_pool WHERE token_hash = $1", [hash]);
    if (other.rowCount > 0)
      throw new PoolError(403, "forbidden", "this runner token belongs to another runner");
    if (!own) throw new PoolError(404, "not_found", `no runner ${runnerId}`);
    throw new PoolError(401, "unauthorized", "invalid runner token");
  }

  private seal(assignment: Assignment): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(assignment), "utf8"), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]);
  }

  private open(sealed: Uint8Array): Assignment {
    const buf = Buffer.from(sealed);
    const decipher = createDecipheriv("aes-256-gcm", this.key, buf.subarray(0, 12));
    decipher.setAuthTag(buf.subarray(12, 28));
    try {
      return JSON.parse(
        Buffer.concat([decipher.update(buf.subarray(28)), decipher.final()]).toString("utf8"),
      );
    } catch {
      throw new Error("cannot open a stored assignment: the replicas' PLUE_POOL_SECRET differs");
    }
  }
}

function deadlineSeconds(assignment: Assignment): number {
  return assignment.workload.limits.wall_time_ms / 1000 + DEADLINE_GRACE_SECONDS;
}

function sha256(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

/** A pool secret for a server that was given none (local warm pool only). */
export function generatePoolSecret(): string {
  return randomBytes(24).toString("base64url");
}
