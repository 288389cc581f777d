/**
 * The durable event log: table `task_events`, one row per runner event, `id` = the SSE id.
 *
 * Ordering: appends for one workload run under that workload's row lock (the caller holds it), so
 * within a workload ids grow in commit order, and "everything after id N" read at any moment is
 * gap-free. That is what lets readers resume from an id with no gap and no duplicate.
 */
import type { Queryable } from "../db";
import { type EventType, type RunnerEvent, type StreamEvent, TERMINAL_EVENTS } from "../wire/protocol";

/** The batch is not contiguous with what is stored; `expected` is the next seq to send. */
export class SeqGapError extends Error {
  constructor(
    readonly expected: number,
    got: number,
  ) {
    super(`sequence gap: expected seq ${expected}, got ${got}; resend from seq ${expected}`);
    this.name = "SeqGapError";
  }
}

/** The batch itself is inconsistent (order, or events after the terminal one). */
export class InvalidBatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidBatchError";
  }
}

export interface AppendResult {
  /** The highest seq stored for the workload after this append. */
  ack: number;
  /** How many events this call stored (0 for a pure retry). */
  stored: number;
  /** The terminal event stored by this call, if any. */
  terminal?: RunnerEvent;
}

/** The highest stored seq, 0 when none. Index-only on UNIQUE (workload_id, seq). */
export async function lastSeq(db: Queryable, workloadId: string): Promise<number> {
  const r = await db.query<{ seq: number | null }>(
    "SELECT max(seq) AS seq FROM task_events WHERE workload_id = $1",
    [workloadId],
  );
  return r.rows[0]?.seq ?? 0;
}

/**
 * Checks a batch on its own: seqs strictly consecutive, nothing after a terminal event.
 * Runs before anything is stored, so a bad batch stores nothing.
 */
export function checkBatch(events: readonly RunnerEvent[]): void {
  for (let i = 1; i < events.length; i++) {
    const prev = events[i - 1]!;
    const cur = events[i]!;
    if (cur.seq !== prev.seq + 1) {
      throw new InvalidBatchError(
        `events must have consecutive seqs: seq ${cur.seq} follows ${prev.seq} at index ${i}`,
      );
    }
  }
  const end = events.findIndex((e) => TERMINAL_EVENTS.has(e.type));
  if (end >= 0 && end < events.length - 1) {
    throw new InvalidBatchError(
      `the terminal event (${events[end]!.type}, seq ${events[end]!.seq}) must be the last of the batch`,
    );
  }
}

/**
 * Stores the events of a batch not stored yet. Policy: seqs at or below the stored maximum are
 * retries and are ignored (idempotent); a first new seq beyond max + 1 is a gap (SeqGapError).
 * The caller must hold the workload's row lock (`SELECT … FOR UPDATE`) in `tx`.
 */
export async function appendEvents(
  tx: Queryable,
  workloadId: string,
  events: readonly RunnerEvent[],
): Promise<AppendResult> {
  checkBatch(events);
  const stored = await lastSeq(tx, workloadId);
  const fresh = events.filter((e) => e.seq > stored);
  if (fresh.length === 0) return { ack: stored, stored: 0 };
  if (fresh[0]!.seq !== stored + 1) throw new SeqGapError(stored + 1, fresh[0]!.seq);
  await insertEvents(tx, workloadId, fresh);
  const last = fresh[fresh.length - 1]!;
  return {
    ack: last.seq,
    stored: fresh.length,
    terminal: TERMINAL_EVENTS.has(last.type) ? last : undefined,
  };
}

async function insertEvents(tx: Queryable, workloadId: string, events: readonly RunnerEvent[]) {
  // One statement for the whole batch: unnest keeps the parameter count at four.
  await tx.query(
    `INSERT INTO task_events (workload_id, seq, type, data)
     SELECT $1, s, t, d::jsonb FROM unnest($2::int[], $3::text[], $4::text[]) AS x(s, t, d)`,
    [
      workloadId,
      events.map((e) => e.seq),
      events.map((e) => e.type),
      events.map((e) => JSON.stringify(e.data)),
    ],
  );
}

interface EventRow {
  id: string;
  workload_id: string;
  seq: number;
  type: EventType;
  data: unknown;
}

/**
 * Events of one workload with id > `afterId`, in id order, at most `limit`. The ORDER BY names the
 * table's column: a bare `id` would mean the text alias, and "10" sorts before "9".
 */
export async function readEvents(
  db: Queryable,
  workloadId: string,
  afterId: number,
  limit = 1000,
): Promise<StreamEvent[]> {
  const r = await db.query<EventRow>(
    `SELECT id::text AS id, workload_id, seq, type, data FROM task_events
      WHERE workload_id = $1 AND id > $2 ORDER BY task_events.id LIMIT $3`,
    [workloadId, afterId, limit],
  );
  return r.rows.map(toStreamEvent);
}

/** All events of one workload in seq order (folding into messages). */
export async function allEvents(db: Queryable, workloadId: string): Promise<StreamEvent[]> {
  const r = await db.query<EventRow>(
    `SELECT id::text AS id, workload_id, seq, type, data FROM task_events
      WHERE workload_id = $1 ORDER BY seq`,
    [workloadId],
  );
  return r.rows.map(toStreamEvent);
}

export async function maxEventId(db: Queryable, workloadId: string): Promise<number> {
  const r = await db.query<{ id: string | null }>(
    "SELECT max(id)::text AS id FROM task_events WHERE workload_id = $1",
    [workloadId],
  );
  return Number(r.rows[0]?.id ?? 0);
}

/** A stored event with what its workload belongs to: a session, or a workflow run. */
export type OwnedEvent = StreamEvent & { session_id: string | null; run_id: string | null };

/** One event by id, with its workload's owner (resolving a Last-Event-ID). */
export async function eventById(db: Queryable, id: number): Promise<OwnedEvent | undefined> {
  const r = await db.query<EventRow & { session_id: string | null; run_id: string | null }>(
    `SELECT e.id::text AS id, e.workload_id, e.seq, e.type, e.data, w.session_id, w.workflow_run_id AS run_id
       FROM task_events e JOIN workloads w ON w.id = e.workload_id WHERE e.id = $1`,
    [id],
  );
  const row = r.rows[0];
  return row && { ...toStreamEvent(row), session_id: row.session_id, run_id: row.run_id };
}

function toStreamEvent(r: EventRow): StreamEvent {
  // bigserial fits a double exactly up to 2^53, far beyond any event count.
  const data = typeof r.data === "string" ? JSON.parse(r.data) : r.data;
  return { id: Number(r.id), workload_id: r.workload_id, seq: r.seq, type: r.type, data } as StreamEvent;
}
