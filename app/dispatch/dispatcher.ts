/**
 * The dispatcher owns workloads: the row, the task token, the assignment handed to an executor,
 * the runner's event callback, abort, and the end of every workload — by the runner's own
 * terminal event, or by the app when the runner cannot say it any more.
 *
 * Lifecycle: pending → running (first events) → aborting (abort requested) → succeeded | failed |
 * aborted. Ending clears the token, so it opens nothing afterwards.
 *
 * Abort: the row is marked `aborting` and the runner learns it from its next ack. After a grace
 * period every replica asks its executor to stop the workload (only the one running it does
 * anything), and after a second grace the app ends the workload itself, so an abort always ends.
 */
import { timingSafeEqual } from "node:crypto";
import { EventEmitter } from "node:events";
import type { z } from "zod";
import { hashToken } from "../auth/tokens";
import type { Db, Queryable } from "../db";
import { AppError } from "../errors";
import type { EventHub } from "../events/hub";
import { appendEvents, lastSeq } from "../events/store";
import { ABORT_CHANNEL, workloadTopic } from "../events/topics";
import type { Logger } from "../log";
import type { EndStatus, WorkloadStatus } from "../wire/api";
import {
  type AgentWorkload,
  type Assignment,
  type EventAck,
  type EventRejection,
  ExitCode,
  type RunnerEvent,
  type WorkflowWorkload,
} from "../wire/protocol";
import type { Executor, ExecutorHooks } from "./executor";
import { thisInstance } from "./instance";
import { isLiveWorkload, LIVE_WORKLOAD_SQL } from "./status";
import { newTaskToken, workloadForTaskToken } from "./tokens";

/** Ends every abort long-poll when the dispatcher closes (not a workload id: those are UUIDs). */
const CLOSING = "closing";
/** What the dispatcher needs: the database, a logger, and the URL its runners call back to. */
export interface DispatcherDeps {
  readonly db: Db;
  readonly log: Logger;
  readonly publicUrl: () => string;
}

/** A workload as the dispatcher creates it: the wire workload without its id. */
export type NewWorkload =
  | Omit<z.infer<typeof AgentWorkload>, "id">
  | Omit<z.infer<typeof WorkflowWorkload>, "id">;

export interface WorkloadRow {
  id: string;
  type: "agent" | "workflow";
  session_id: string | null;
  workflow_run_id: string | null;
  status: WorkloadStatus;
}

export interface WorkloadEnd {
  workload: WorkloadRow;
  status: EndStatus;
  /** The stored terminal event (`done` or `error`). */
  terminal: RunnerEvent;
}

/** Runs inside the transaction that ends the workload (folding history, session status). */
export type EndHandler = (tx: Queryable, end: WorkloadEnd) => Promise<void>;

/** Runs inside the transaction that stores a batch, with the events it stored (live folding). */
export type EventsHandler = (
  tx: Queryable,
  workload: WorkloadRow,
  events: readonly RunnerEvent[],
) => Promise<void>;

export type ExecutorFactory = (hooks: ExecutorHooks) => Executor;

export interface DispatcherOptions {
  /** How long a runner has to see `abort` in an ack and stop by itself. */
  abortGraceMs: number;
  /** How long after the executor's stop the app ends the workload itself. */
  killGraceMs: number;
}

export const DEFAULT_DISPATCHER: DispatcherOptions = { abortGraceMs: 5_000, killGraceMs: 5_000 };

/** A rejected runner callback, rendered as `EventRejection`. */
export class EventRejectionError extends AppError {
  constructor(
    status: number,
    code: EventRejection["error"]["code"],
    message: string,
    details: { expected_seq?: number; ack?: number } = {},
  ) {
    super(status, code, message, details);
    this.name = "EventRejectionError";
  }
}

export class Dispatcher {
  readonly executor: Executor;
  private readonly endHandlers = new Map<WorkloadRow["type"], EndHandler>();
  private readonly eventHandlers = new Map<WorkloadRow["type"], EventsHandler>();
  private readonly timers = new Map<string, NodeJS.Timeout[]>();
  private abortListener?: Promise<unknown>;
  /** Abort signals by workload id, for runners' abort long-polls. */
  private readonly aborted = new EventEmitter().setMaxListeners(0);
  private closed = false;

  constructor(
    private readonly ctx: DispatcherDeps,
    private readonly hub: EventHub,
    executor: ExecutorFactory,
    private readonly options: DispatcherOptions = DEFAULT_DISPATCHER,
  ) {
    this.executor = executor({
      onExit: (id, exit) => void this.onExit(id, exit),
      onOverrun: (id, reason) => void this.failOverrun(id, reason),
    });
  }

  /** Registers what happens, in the ending transaction, when a workload of `type` ends. */
  onWorkloadEnd(type: WorkloadRow["type"], handler: EndHandler): void {
    this.endHandlers.set(type, handler);
  }

  /** Registers what happens, in the storing transaction, with newly stored events of `type`. */
  onWorkloadEvents(type: WorkloadRow["type"], handler: EventsHandler): void {
    this.eventHandlers.set(type, handler);
  }

  /**
   * Creates the workload row and its task token inside the caller's transaction. Hand the
   * returned assignment to `dispatch` after the transaction commits.
   */
  async create(tx: Queryable, spec: NewWorkload): Promise<Assignment> {
    const id = crypto.randomUUID();
    const token = newTaskToken();
    const agent = spec.type === "agent" ? spec : undefined;
    const flow = spec.type === "workflow" ? spec : undefined;
    await tx.query(
      `INSERT INTO workloads (id, type, session_id, model, system_prompt, max_turns, workflow_run_id,
                              trigger_event, trigger_context, token_hash, owner_instance)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        id,
        spec.type,
        agent?.session_id ?? null,
        spec.model,
        agent?.system_prompt ?? null,
        spec.limits.max_turns,
        flow?.run_id ?? null,
        flow?.trigger.event ?? null,
        flow ? JSON.stringify(flow.trigger.context) : null,
        hashToken(token),
        thisInstance, // until a queue or a pool runner holds it, recovery asks whether we live
      ],
    );
    const appUrl = this.ctx.publicUrl();
    return {
      workload: { ...spec, id } as Assignment["workload"],
      token,
      callback_url: `${appUrl}/internal/tasks/${id}/events`,
      abort_url: `${appUrl}/internal/tasks/${id}/abort`,
      app_url: appUrl,
    };
  }

  /** Hands a created workload to the executor; if it refuses, the workload fails with its reason. */
  async dispatch(assignment: Assignment): Promise<void> {
    await this.listenForAborts();
    try {
      await this.executor.dispatch(assignment);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.ctx.log.warn({ err, workload: assignment.workload.id }, "dispatch failed");
      await this.endUnfinished(assignment.workload.id, `dispatch failed: ${reason}`, "dispatch_failed");
    }
  }

  /**
   * The runner callback: checks the token, stores the batch (idempotently) and answers the ack.
   * Everything happens under the workload's row lock, so concurrent retries serialise.
   */
  async acceptEvents(workloadId: string, token: string, events: RunnerEvent[]): Promise<EventAck> {
    const result = await this.ctx.db.transaction(async (tx) => {
      const w = await this.authorize(tx, workloadId, token);
      const appended = await appendEvents(tx, workloadId, events);
      if (appended.stored > 0 && w.status === "pending") {
        await tx.query("UPDATE workloads SET status = 'running', started_at = now() WHERE id = $1", [w.id]);
      }
      if (appended.stored > 0) {
        const first = appended.ack - appended.stored;
        await this.eventHandlers.get(w.type)?.(
          tx,
          w,
          events.filter((e) => e.seq > first),
        );
      }
      if (appended.terminal) await this.end(tx, w, appended.terminal);
      return { ...appended, abort: w.status === "aborting" };
    });
    // Not awaited: the rows are committed, so the ack need not wait for the NOTIFY round trip
    // (and a lost signal only costs the hub's poll interval).
    if (result.stored > 0) void this.hub.signal(workloadTopic(workloadId));
    if (result.terminal) this.clearTimers(workloadId);
    return { ack: result.ack, abort: result.abort };
  }

  /**
   * Asks a live workload to stop. Returns false when it is not live (already ended); true when
   * it is now aborting (also when it already was: abort is idempotent). `alsoInTx` runs in the
   * same transaction after the workload row is locked (lock order: workload, then session).
   */
  async requestAbort(workloadId: string, alsoInTx?: (tx: Queryable) => Promise<void>): Promise<boolean> {
    const marked = await this.ctx.db.transaction(async (tx) => {
      const r = await tx.query(
        `UPDATE workloads SET status = 'aborting' WHERE id = $1 AND status IN ${LIVE_WORKLOAD_SQL} RETURNING id`,
        [workloadId],
      );
      if (r.rowCount === 0) return false;
      await alsoInTx?.(tx);
      return true;
    });
    if (!marked) return false;
    // Every replica stops it through its executor; this one also makes sure it ends.
    await this.ctx.db.notify(ABORT_CHANNEL, workloadId);
    this.scheduleStop(workloadId, true);
    return true;
  }

  /**
   * Ends a workload that has not ended, appending the terminal event the runner did not send:
   * `done {reason: "aborted"}` if it was aborting, otherwise `error` with `reason`. Returns false
   * if it had already ended.
   */
  async endUnfinished(workloadId: string, reason: string, code = "runner_lost"): Promise<boolean> {
    const ended = await this.ctx.db.transaction(async (tx) => {
      const w = await lockWorkload(tx, workloadId);
      if (!w || !isLiveWorkload(w.status)) return false;
      const seq = (await lastSeq(tx, workloadId)) + 1;
      const terminal: RunnerEvent =
        w.status === "aborting"
          ? { seq, type: "done", data: { reason: "aborted" } }
          : { seq, type: "error", data: { message: reason, code } };
      await appendEvents(tx, workloadId, [terminal]);
      await this.end(tx, w, terminal, reason);
      return true;
    });
    this.clearTimers(workloadId);
    if (ended) await this.hub.signal(workloadTopic(workloadId));
    return ended;
  }

  /**
   * Resolves true once the workload is aborting (at once if it already is), false after `waitMs`,
   * when `signal` aborts (the runner went away) or when this replica closes: a runner's abort
   * long-poll. The caller checked its task token.
   */
  async waitForAbort(workloadId: string, waitMs: number, signal?: AbortSignal): Promise<boolean> {
    await this.listenForAborts();
    if (this.closed || signal?.aborted) return false;
    return new Promise<boolean>((resolve) => {
      const settle = (abort: boolean) => {
        clearTimeout(timer);
        this.aborted.off(workloadId, settle).off(CLOSING, settle);
        signal?.removeEventListener("abort", gone);
        resolve(abort);
      };
      const gone = () => settle(false);
      const timer = setTimeout(gone, waitMs);
      this.aborted.on(workloadId, settle).on(CLOSING, settle);
      signal?.addEventListener("abort", gone, { once: true });
      // Subscribed first, then read: an abort between the two is seen either way.
      this.ctx.db
        .query<{ status: string }>("SELECT status FROM workloads WHERE id = $1", [workloadId])
        .then((r) => r.rows[0]?.status === "aborting" && settle(true))
        .catch(() => settle(false));
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.aborted.emit(CLOSING, false);
    for (const id of [...this.timers.keys()]) this.clearTimers(id);
    await this.executor.close();
  }

  private async authorize(tx: Queryable, workloadId: string, token: string): Promise<WorkloadRow> {
    const w = await lockWorkload(tx, workloadId);
    if (!w) throw new EventRejectionError(404, "not_found", `no workload ${workloadId}`);
    const hash = hashToken(token);
    if (w.token_hash && w.token_hash.length === hash.length && timingSafeEqual(w.token_hash, hash)) return w;
    if (!isLiveWorkload(w.status)) {
      throw new EventRejectionError(
        409,
        "workload_ended",
        `workload ${workloadId} has ended (${w.status}); it accepts no more events`,
        { ack: await lastSeq(tx, workloadId) },
      );
    }
    if (await workloadForTaskToken(tx, token)) {
      throw new EventRejectionError(403, "forbidden", "this task token belongs to another workload");
    }
    throw new EventRejectionError(401, "unauthorized", "invalid task token");
  }

  private async end(tx: Queryable, w: WorkloadRow, terminal: RunnerEvent, reason?: string): Promise<void> {
    const status: EndStatus =
      terminal.type === "error" ? "failed" : terminal.data.reason === "aborted" ? "aborted" : "succeeded";
    const failure = status === "failed" ? (reason ?? String(terminal.data.message ?? "failed")) : null;
    await tx.query(
      `UPDATE workloads SET status = $2, ended_at = now(), token_hash = NULL, failure_reason = $3
        WHERE id = $1`,
      [w.id, status, failure],
    );
    await this.endHandlers.get(w.type)?.(tx, { workload: w, status, terminal });
  }

  /** The executor's backstop: a runner ended. Records its exit and ends the workload if it had not. */
  private async onExit(id: string, exit: { code: number | null; signal?: string | null; reason?: string }) {
    try {
      if (exit.code !== null) {
        await this.ctx.db.query("UPDATE workloads SET exit_code = $2 WHERE id = $1 AND exit_code IS NULL", [
          id,
          exit.code,
        ]);
      }
      const how =
        exit.reason ??
        (exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code ?? "unknown"}`) +
          (exit.code === ExitCode.callbackUnreachable ? " (callback unreachable)" : "");
      await this.endUnfinished(id, `runner ended without reporting an outcome: ${how}`);
    } catch (err) {
      if (!this.closed) this.ctx.log.error({ err, workload: id }, "ending an exited workload failed");
    }
  }

  /** The executor stops a runner past its deadline: the workload fails now, naming the limit. */
  private async failOverrun(id: string, reason: string): Promise<void> {
    try {
      await this.endUnfinished(id, reason, "wall_time_exceeded");
    } catch (err) {
      if (!this.closed) this.ctx.log.error({ err, workload: id }, "ending an overrun workload failed");
    }
  }

  /** Aborts taken by other replicas reach this one's executor. Best effort: acks carry them too. */
  private async listenForAborts(): Promise<void> {
    this.abortListener ??= this.ctx.db.listen(ABORT_CHANNEL, (id) => {
      this.aborted.emit(id, true);
      this.scheduleStop(id, false);
    });
    try {
      await this.abortListener;
    } catch (err) {
      this.abortListener = undefined;
      this.ctx.log.warn({ err }, "cannot listen for aborts from other replicas");
    }
  }

  /** After the grace period, the executor stops it; the replica that took the abort then ends it. */
  private scheduleStop(workloadId: string, ensureEnd: boolean): void {
    if (this.closed) return;
    const { abortGraceMs, killGraceMs } = this.options;
    const timers = this.timers.get(workloadId) ?? [];
    if (timers.length > 0 && !ensureEnd) return;
    const stop = setTimeout(() => {
      this.executor.abort(workloadId).catch((err) => this.ctx.log.warn({ err }, "executor abort failed"));
    }, abortGraceMs);
    timers.push(stop);
    if (ensureEnd) {
      const end = setTimeout(() => {
        this.endUnfinished(workloadId, "aborted").catch((err) =>
          this.ctx.log.error({ err, workload: workloadId }, "ending an aborted workload failed"),
        );
      }, abortGraceMs + killGraceMs);
      timers.push(end);
    }
    for (const t of timers) t.unref();
    this.timers.set(workloadId, timers);
  }

  private clearTimers(workloadId: string): void {
    for (const t of this.timers.get(workloadId) ?? []) clearTimeout(t);
    this.timers.delete(workloadId);
  }
}

async function lockWorkload(
  tx: Queryable,
  id: string,
): Promise<(WorkloadRow & { token_hash: Buffer | null }) | undefined> {
  const r = await tx.query<WorkloadRow & { token_hash: Buffer | Uint8Array | null }>(
    `SELECT id, type, session_id, workflow_run_id, status, token_hash FROM workloads WHERE id = $1 FOR UPDATE`,
    [id],
  );
  const row = r.rows[0];
  // PGlite returns bytea as Uint8Array, pg as Buffer.
  return row && { ...row, token_hash: row.token_hash ? Buffer.from(row.token_hash) : null };
}
