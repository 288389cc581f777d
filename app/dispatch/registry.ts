/**
 * The runner registry: the warm pool's runners (DESIGN.md §4), kept in `runner_pool` so any
 * replica can serve any runner. Standby runners register with the pool secret and get an id and a
 * token (stored hashed), then long-poll for an assignment; each poll is a heartbeat, and a runner
 * leaves, or is terminated, once it is done or gone.
 *
 * The registry holds the pool's parts together: the queue (queue.ts) and the claims (claims.ts)
 * share its database, its seal (seal.ts) and its id; the long-polls held here (waiters.ts) are
 * woken by the claim and queue signals it listens to.
 */

import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { EventEmitter } from "node:events";
import { hashToken, newToken } from "../auth/tokens";
import type { Db } from "../db";
import { AppError } from "../errors";
import { CLAIMED_CHANNEL, QUEUED_CHANNEL } from "../events/topics";
import type { Logger } from "../log";
import type {
  Assignment,
  PoolRejection,
  RegisterRequest,
  RegisterResponse,
  RunnerHeartbeat,
} from "../wire/protocol";
import { announceClaim, Claims, markClaimed } from "./claims";
import type { ClaimEvent, RunnerRef } from "./executor";
import { claimLatency, setPoolMetricsSource } from "./pool-metrics";
import { RunnerQueue } from "./queue";
import { AssignmentSeal } from "./seal";
import { isLiveWorkload } from "./status";
import { Waiters } from "./waiters";

export const RUNNER_TOKEN_PREFIX = "plue_runner_";

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

export interface Terminated extends RunnerRef {
  /** The workload went back to the queue (its runner vanished before it started). */
  requeued: boolean;
  /** This call terminated it (false: it already was). */
  now: boolean;
  reason: string;
}

export interface RegistryOptions {
  /** The registration secret; also keys the seal of stored assignments. */
  readonly secret: string;
  readonly pollSeconds: number;
  /** False on servers that keep no pool: registration answers 503. */
  readonly enabled: boolean;
}

export class RunnerRegistry {
  /** Distinguishes this instance's claims from other replicas' in ClaimEvents. */
  readonly id = randomUUID();
  readonly pollSeconds: number;
  readonly db: Db;
  /** Workloads waiting for a runner. */
  readonly queue: RunnerQueue;
  /** Workloads taking a free runner. */
  readonly claims: Claims;
  private readonly seal: AssignmentSeal;
  private readonly secretDigest: Buffer;
  private readonly waiters = new Waiters();
  private readonly bus = new EventEmitter().setMaxListeners(0);
  private listening?: Promise<Array<() => Promise<void>>>;
  private closed = false;

  constructor(
    private readonly ctx: { db: Db; log: Logger },
    private readonly options: RegistryOptions,
  ) {
    this.db = ctx.db;
    this.pollSeconds = options.pollSeconds;
    this.secretDigest = sha256(options.secret);
    this.seal = new AssignmentSeal(options.secret);
    this.queue = new RunnerQueue(ctx.db, this.seal);
    this.claims = new Claims(ctx.db, this.seal, this.id, this.silenceSeconds);
  }

  get enabled(): boolean {
    return this.options.enabled;
  }

  /** Shutting down: long-polls answer at once. */
  get closing(): boolean {
    return this.closed;
  }

  /** Seconds without a heartbeat after which a runner counts as gone: two poll periods. */
  get silenceSeconds(): number {
    return 2 * this.pollSeconds;
  }

  /** Subscribes to claim and queue signals (idempotent); polls and the executor call it. */
  start(): Promise<unknown> {
    setPoolMetricsSource(this.ctx.db);
    this.listening ??= Promise.all([
      this.ctx.db.listen(CLAIMED_CHANNEL, (payload) => this.claimSignal(payload)),
      this.ctx.db.listen(QUEUED_CHANNEL, () => this.waiters.wakeForQueue()),
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
    this.waiters.wakeAll();
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
      const taken = await this.queue.take(tx, req.task_id);
      if (!taken) {
        throw new PoolError(
          409,
          "task_taken",
          `workload ${req.task_id} is not waiting for a runner any more`,
        );
      }
      const { assignment } = taken;
      await markClaimed(tx, id, assignment, taken.sealed, taken.queuedAt);
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
    const waiter = this.waiters.add(runnerId);
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
          if (waiter.queueWake) this.waiters.wakeForQueue();
          return assignment;
        }
        const left = until - Date.now();
        if (left <= 0 || signal.aborted || this.closed) return null;
        await waiter.sleep(left, signal);
      }
    } finally {
      this.waiters.remove(waiter);
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
  // App side: terminate, nudge, prune.

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
          ? await this.queue.requeueUnstarted(tx, row.claimed_by_task_id, row.assignment)
          : false;
      return { ...ref, requeued, now: true, reason };
    });
    if (result?.requeued) await this.queue.signal(result.workloadId!);
    return result;
  }

  /** Wakes one runner waiting here, to look at the queue (the reaper's nudge). */
  nudge(): void {
    this.waiters.wakeForQueue();
  }

  /** Long-polls held by this replica (tests and status). */
  get waiting(): number {
    return this.waiters.size;
  }

  /** Deletes terminated runners' rows after an hour (until then the pool gauge counts them). */
  async prune(): Promise<void> {
    await this.ctx.db.query(
      "DELETE FROM runner_pool WHERE status = 'terminated' AND terminated_at < now() - interval '1 hour'",
    );
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
      return this.seal.open(row.assignment);
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

  /** A free runner takes the oldest queued workload. */
  private async takeQueued(runnerId: string): Promise<Assignment | undefined> {
    const taken = await this.ctx.db.transaction(async (tx) => {
      const me = await tx.query<{ pod_name: string }>(
        "SELECT pod_name FROM runner_pool WHERE id = $1 AND status = 'available' FOR UPDATE",
        [runnerId],
      );
      if (me.rowCount === 0) return undefined; // claimed meanwhile: the next check delivers it
      const job = await this.queue.takeOldest(tx);
      if (!job) return undefined;
      await markClaimed(tx, runnerId, job.assignment, job.sealed, job.queuedAt, true);
      return { ...job, pod: me.rows[0]!.pod_name };
    });
    if (!taken) return undefined;
    claimLatency.observe({ path: "queued" }, taken.waitedSeconds);
    const { workload } = taken.assignment;
    await this.announce({
      runner: runnerId,
      pod: taken.pod,
      task: workload.id,
      type: workload.type,
      cold: false,
    });
    this.waiters.wakeForQueue(); // the queue may hold more: another waiting runner looks
    return taken.assignment;
  }

  private announce(e: Omit<ClaimEvent, "origin">): Promise<void> {
    return announceClaim(this.ctx.db, { ...e, origin: this.id });
  }

  private claimSignal(payload: string): void {
    let e: ClaimEvent;
    try {
      e = JSON.parse(payload);
    } catch {
      return;
    }
    const polls = this.waiters.of(e.runner);
    if (e.sealed && polls[0]) {
      try {
        polls[0].handed = this.seal.open(Buffer.from(e.sealed, "base64"));
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
}

function sha256(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}
