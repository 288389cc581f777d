/**
 * A session's SSE stream: which run it shows, from where, and when it ends.
 *
 * - With a Last-Event-ID: the run that event belongs to, after that event.
 * - Without: the session's latest run from its start (replayed if it already finished), or the
 *   next run if there is none yet (heartbeats meanwhile).
 * - It ends after the run's `done`/`error`; with `follow` it continues with each later run.
 * - A reconnect after the terminal event (and without `follow`) gets 204, which tells an
 *   EventSource to stop reconnecting.
 */
import type { Queryable } from "../db";
import { badRequest } from "../errors";
import { type EventHub, type LiveEvent, type Subscription, sessionTopic } from "../events/hub";
import type { SseWriter } from "../events/sse";
import { eventById } from "../events/store";
import { TERMINAL_EVENTS } from "../wire/protocol";

export type StreamStart =
  | { kind: "after"; workloadId: string; afterId: number }
  | { kind: "next-after"; workloadId: string }
  | { kind: "latest" }
  | { kind: "finished" };

/** Resolves where a stream starts; `finished` means there is nothing more to send (→ 204). */
export async function resolveStart(
  db: Queryable,
  sessionId: string,
  lastEventId: number | undefined,
  follow: boolean,
): Promise<StreamStart> {
  if (lastEventId === undefined) return { kind: "latest" };
  if (lastEventId === 0) return { kind: "latest" };
  const event = await eventById(db, lastEventId);
  if (!event || event.session_id !== sessionId) {
    throw badRequest(`Last-Event-ID ${lastEventId} is not an event of session ${sessionId}`);
  }
  if (!TERMINAL_EVENTS.has(event.type))
    return { kind: "after", workloadId: event.workload_id, afterId: event.id };
  return follow ? { kind: "next-after", workloadId: event.workload_id } : { kind: "finished" };
}

export class SessionStream {
  private run?: Subscription;
  private runs?: Subscription;
  /** The run being streamed; undefined while waiting for one. */
  private current?: string;
  /** The last run streamed to its end; the next one is looked up after it. */
  private previous?: string;
  private checking = false;
  private recheck = false;
  private ended = false;

  constructor(
    private readonly db: Queryable,
    private readonly hub: EventHub,
    private readonly sse: SseWriter,
    private readonly sessionId: string,
    private readonly follow: boolean,
  ) {
    sse.onClose(() => this.close());
  }

  async start(from: Exclude<StreamStart, { kind: "finished" }>): Promise<void> {
    const unregister = this.hub.onClose(() => this.sse.end(true));
    this.sse.onClose(unregister);
    // Watch for new runs before looking for one, so a run created in between is not missed.
    this.runs = await this.hub.watch(sessionTopic(this.sessionId), () => this.findRun());
    if (this.ended) return this.close();
    if (from.kind === "after") await this.stream(from.workloadId, from.afterId);
    else {
      if (from.kind === "next-after") this.previous = from.workloadId;
      await this.findRun();
    }
  }

  close(): void {
    this.ended = true;
    this.run?.close();
    this.runs?.close();
  }

  private async stream(workloadId: string, afterId: number): Promise<void> {
    this.current = workloadId;
    const sub = await this.hub.follow(workloadId, afterId, (events) => this.deliver(workloadId, events));
    if (this.ended || this.current !== workloadId) sub.close();
    else this.run = sub;
  }

  private deliver(workloadId: string, events: readonly LiveEvent[]): void {
    if (this.ended || this.current !== workloadId) return;
    const end = events.findIndex((e) => TERMINAL_EVENTS.has(e.event.type));
    const frames = end < 0 || end === events.length - 1 ? events : events.slice(0, end + 1);
    // One write per delivery, not per event, and the joined text is built once for all streams.
    this.sse.write(joinFrames(frames));
    if (end >= 0) {
      this.run?.close();
      this.run = undefined;
      this.current = undefined;
      this.previous = workloadId;
      if (!this.follow) this.sse.end();
      else void this.findRun();
    }
  }

  /** Starts streaming the next run if one exists and none is being streamed. */
  private async findRun(): Promise<void> {
    if (this.ended || this.current) return;
    if (this.checking) {
      this.recheck = true;
      return;
    }
    this.checking = true;
    try {
      do {
        this.recheck = false;
        const next = await this.nextRun();
        if (next && !this.ended && !this.current) await this.stream(next, 0);
      } while (this.recheck && !this.ended && !this.current);
    } catch {
      this.sse.end(); // the client reconnects and resumes from its Last-Event-ID
    } finally {
      this.checking = false;
    }
  }

  private async nextRun(): Promise<string | undefined> {
    const r = this.previous
      ? await this.db.query<{ id: string }>(
          `SELECT w.id FROM workloads w, workloads p
            WHERE p.id = $2 AND w.session_id = $1 AND (w.created_at, w.id) > (p.created_at, p.id)
            ORDER BY w.created_at, w.id LIMIT 1`,
          [this.sessionId, this.previous],
        )
      : await this.db.query<{ id: string }>(
          "SELECT id FROM workloads WHERE session_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
          [this.sessionId],
        );
    return r.rows[0]?.id;
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
