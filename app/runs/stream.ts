/**
 * A run's SSE stream: the events of its workload, replayed from the start (or after a
 * Last-Event-ID) and then live, ending after the terminal `done`/`error`. A run waiting for its
 * concurrency group has no workload yet: the stream waits (heartbeats) until it gets one, or ends
 * if the run ends without one (cancelled while waiting, a broken workflow file).
 */
import type { Queryable } from "../db";
import { badRequest } from "../errors";
import type { EventHub, LiveEvent, Subscription } from "../events/hub";
import type { SseWriter } from "../events/sse";
import { eventById } from "../events/store";
import { TERMINAL_EVENTS } from "../wire/protocol";
import { runTopic } from "./service";

export type RunStreamStart =
  | { kind: "after"; workloadId: string; afterId: number }
  | { kind: "latest" }
  | { kind: "finished" };

/** Where a run's stream starts; `finished` means the client has seen the end (→ 204). */
export async function resolveRunStart(
  db: Queryable,
  runId: string,
  lastEventId: number | undefined,
): Promise<RunStreamStart> {
  if (!lastEventId) return { kind: "latest" };
  const event = await eventById(db, lastEventId);
  const owner = event
    ? await db.query<{ run: string | null }>("SELECT workflow_run_id AS run FROM workloads WHERE id = $1", [
        event.workload_id,
      ])
    : undefined;
  if (!event || owner?.rows[0]?.run !== runId) {
    throw badRequest(`Last-Event-ID ${lastEventId} is not an event of run ${runId}`);
  }
  if (TERMINAL_EVENTS.has(event.type)) return { kind: "finished" };
  return { kind: "after", workloadId: event.workload_id, afterId: event.id };
}

export class RunStream {
  private events?: Subscription;
  private changes?: Subscription;
  private streaming = false;
  private ended = false;

  constructor(
    private readonly db: Queryable,
    private readonly hub: EventHub,
    private readonly sse: SseWriter,
    private readonly runId: string,
  ) {
    sse.onClose(() => this.close());
  }

  async start(from: Exclude<RunStreamStart, { kind: "finished" }>): Promise<void> {
    const unregister = this.hub.onClose(() => this.sse.end(true));
    this.sse.onClose(unregister);
    // Watch before looking, so a workload created in between is not missed.
    this.changes = await this.hub.watch(
      runTopic(this.runId),
      () => void this.check().catch(() => this.sse.end()),
    );
    if (this.ended) return this.close();
    if (from.kind === "after") await this.follow(from.workloadId, from.afterId);
    else await this.check();
  }

  close(): void {
    this.ended = true;
    this.events?.close();
    this.changes?.close();
  }

  /** Streams the run's workload if it has one; ends if the run ended without one. */
  private async check(): Promise<void> {
    if (this.ended || this.streaming) return;
    const r = await this.db.query<{ status: string; workload_id: string | null }>(
      `SELECT r.status, (SELECT w.id FROM workloads w WHERE w.workflow_run_id = r.id
                          ORDER BY w.created_at DESC LIMIT 1) AS workload_id
         FROM workflow_runs r WHERE r.id = $1`,
      [this.runId],
    );
    const row = r.rows[0];
    if (row?.workload_id) await this.follow(row.workload_id, 0);
    else if (!row || (row.status !== "queued" && row.status !== "running")) this.sse.end();
  }

  private async follow(workloadId: string, afterId: number): Promise<void> {
    if (this.streaming) return;
    this.streaming = true;
    const sub = await this.hub.follow(workloadId, afterId, (events) => this.deliver(events));
    if (this.ended) sub.close();
    else this.events = sub;
  }

  private deliver(events: readonly LiveEvent[]): void {
    if (this.ended) return;
    for (const e of events) {
      this.sse.write(e.frame);
      if (TERMINAL_EVENTS.has(e.event.type)) {
        this.sse.end();
        return;
      }
    }
  }
}
