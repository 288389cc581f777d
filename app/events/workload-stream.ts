/**
 * The SSE stream of a session or of a workflow run: the events of one workload, replayed from a
 * start point and then live, until its terminal `done`/`error`; then the stream ends, or (with
 * `follow`) goes on with the next workload. What a session and a run differ in is a
 * `WorkloadSource` (app/sessions/stream.ts, app/runs/stream.ts): its topic, which workload comes
 * next, which events are its own.
 *
 * Where it starts, from the client's Last-Event-ID:
 * - none (or 0): the latest workload from its start (replayed if it already finished), or the
 *   next one if there is none yet (heartbeats meanwhile);
 * - an event of the source: that event's workload, after it; after a terminal event, the next
 *   workload with `follow`, else `finished` (answered 204, which tells an EventSource to stop
 *   reconnecting);
 * - any other event: 400.
 */
import type { Queryable } from "../db";
import { badRequest } from "../errors";
import { TERMINAL_EVENTS } from "../wire/protocol";
import type { EventHub, LiveEvent, Subscription } from "./hub";
import type { SseWriter } from "./sse";
import { eventById, type OwnedEvent } from "./store";

/** What a stream follows: a session's runs, or a workflow run's workload. */
export interface WorkloadSource {
  /** How a refusal names it: `session <id>`, `run <id>`. */
  readonly name: string;
  /** Signalled when it gets a new workload or ends (app/events/topics.ts). */
  readonly topic: string;
  /** After a workload's terminal event, go on with the next workload instead of ending. */
  readonly follow: boolean;
  /** Whether a stored event is one of its own: a Last-Event-ID from elsewhere is refused. */
  owns(event: OwnedEvent): boolean;
  /**
   * The workload to stream: the first one after `previous` (given only when following), else the
   * latest. `undefined`: none yet, wait for a signal; `null`: none will come, end the stream.
   */
  next(previous: string | undefined): Promise<string | null | undefined>;
}

export type StreamStart =
  | { kind: "after"; workloadId: string; afterId: number }
  | { kind: "next-after"; workloadId: string }
  | { kind: "latest" }
  | { kind: "finished" };

/** Resolves where a stream starts; `finished` means there is nothing more to send (→ 204). */
export async function resolveStart(
  db: Queryable,
  source: WorkloadSource,
  lastEventId: number | undefined,
): Promise<StreamStart> {
  if (!lastEventId) return { kind: "latest" };
  const event = await eventById(db, lastEventId);
  if (!event || !source.owns(event)) {
    throw badRequest(`Last-Event-ID ${lastEventId} is not an event of ${source.name}`);
  }
  if (!TERMINAL_EVENTS.has(event.type))
    return { kind: "after", workloadId: event.workload_id, afterId: event.id };
  return source.follow ? { kind: "next-after", workloadId: event.workload_id } : { kind: "finished" };
}

export class WorkloadStream {
  private events?: Subscription;
  private signals?: Subscription;
  /** The workload being streamed; undefined while waiting for one. */
  private current?: string;
  /** The last workload streamed to its end; the next one is looked up after it. */
  private previous?: string;
  private finding = false;
  private findAgain = false;
  private ended = false;

  constructor(
    private readonly hub: EventHub,
    private readonly sse: SseWriter,
    private readonly source: WorkloadSource,
  ) {
    sse.onClose(() => this.close());
  }

  /** Errors (a database failure) are the caller's: it ends the stream and the client resumes. */
  async start(from: Exclude<StreamStart, { kind: "finished" }>): Promise<void> {
    const unregister = this.hub.onClose(() => this.sse.end(true));
    this.sse.onClose(unregister);
    // Watch before looking, so a workload created in between is not missed.
    this.signals = await this.hub.watch(this.source.topic, () => this.lookAgain());
    if (this.ended) return this.close();
    if (from.kind === "after") await this.stream(from.workloadId, from.afterId);
    else {
      if (from.kind === "next-after") this.previous = from.workloadId;
      await this.findWorkload();
    }
  }

  close(): void {
    this.ended = true;
    this.events?.close();
    this.signals?.close();
  }

  /** After a signal or a followed workload's end; a failure ends the stream (the client resumes). */
  private lookAgain(): void {
    void this.findWorkload().catch(() => this.sse.end());
  }

  /** Starts streaming the next workload if there is one and none is being streamed. */
  private async findWorkload(): Promise<void> {
    if (this.ended || this.current) return;
    if (this.finding) {
      this.findAgain = true; // a signal during the lookup: look once more after it
      return;
    }
    this.finding = true;
    try {
      do {
        this.findAgain = false;
        const next = await this.source.next(this.previous);
        if (next === null) return this.sse.end();
        if (next && !this.ended && !this.current) await this.stream(next, 0);
      } while (this.findAgain && !this.ended && !this.current);
    } finally {
      this.finding = false;
    }
  }

  private async stream(workloadId: string, afterId: number): Promise<void> {
    this.current = workloadId;
    const sub = await this.hub.follow(workloadId, afterId, (events) => this.deliver(workloadId, events));
    if (this.ended || this.current !== workloadId) sub.close();
    else this.events = sub;
  }

  private deliver(workloadId: string, events: readonly LiveEvent[]): void {
    if (this.ended || this.current !== workloadId) return;
    const end = events.findIndex((e) => TERMINAL_EVENTS.has(e.event.type));
    const frames = end < 0 || end === events.length - 1 ? events : events.slice(0, end + 1);
    // One write per delivery, not per event, and the joined text is built once for all streams.
    this.sse.write(joinFrames(frames));
    if (end < 0) return;
    this.events?.close();
    this.events = undefined;
    this.current = undefined;
    this.previous = workloadId;
    if (this.source.follow) this.lookAgain();
    else this.sse.end();
  }
}

const joined = new WeakMap<readonly LiveEvent[], string>();

/** The frames of one delivery as one string; the hub hands every stream the same array. */
function joinFrames(events: readonly LiveEvent[]): string {
  if (events.length === 1) return events[0]!.frame;
  let text = joined.get(events);
  if (text === undefined) {
    text = events.map((e) => e.frame).join("");
    joined.set(events, text);
  }
  return text;
}
