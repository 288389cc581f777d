/**
 * Live fan-out of the event log, one hub per replica.
 *
 * A writer commits rows, then signals a topic (topics.ts: a workload's "new events", a session's
 * "new run", a workflow run's "has a workload or ended") with `db.notify`: Postgres NOTIFY reaches
 * every replica, PGlite's emitter this process. Payloads are only the topic; readers read rows
 * from the table. Per workload, one feed per replica reads new rows once and hands them to every
 * local subscriber, each frame encoded once, so 200 streams of one session cost one query per
 * signal, not 200.
 *
 * A subscriber joins the feed first, then replays from the table, then drains what the feed
 * buffered meanwhile, skipping ids it already has: no gap, no duplicate. A slow poll backs up
 * the signals (a NOTIFY lost with a dropped listen connection costs latency, not events).
 */
import type { Db } from "../db";
import type { Logger } from "../log";
import type { StreamEvent } from "../wire/protocol";
import { encodeEvent } from "./sse";
import { maxEventId, readEvents } from "./store";
import { EVENTS_CHANNEL, workloadTopic } from "./topics";

const PAGE = 1000;

/** A stored event and its SSE frame, encoded once for every subscriber. */
export interface LiveEvent {
  readonly event: StreamEvent;
  readonly frame: string;
}

const live = (event: StreamEvent): LiveEvent => ({ event, frame: encodeEvent(event) });

export interface HubOptions {
  /** Safety poll of active feeds, for signals lost between replicas. */
  pollMs: number;
}

export interface Subscription {
  close(): void;
}

export class EventHub {
  private listening?: Promise<unknown>;
  private readonly watchers = new Map<string, Set<() => void>>();
  private readonly feeds = new Map<string, WorkloadFeed>();
  private readonly onShutdown = new Set<() => void>();
  private poll?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly options: HubOptions = { pollMs: 5_000 },
  ) {}

  /** Subscribes this replica to the channel; idempotent. */
  start(): Promise<unknown> {
    this.listening ??= this.db.listen(EVENTS_CHANNEL, (topic) => this.fire(topic));
    return this.listening;
  }

  /** Tells every replica that `topic` changed. Call after the change is committed. */
  async signal(topic: string): Promise<void> {
    try {
      await this.db.notify(EVENTS_CHANNEL, topic);
    } catch (err) {
      // The rows are committed; the safety poll delivers them even without the signal.
      this.log.warn({ err, topic }, "event signal failed");
    }
  }

  /** Calls `fn` on each signal of `topic`. */
  async watch(topic: string, fn: () => void): Promise<Subscription> {
    await this.start();
    return this.addWatcher(topic, fn);
  }

  private addWatcher(topic: string, fn: () => void): Subscription {
    const set = this.watchers.get(topic) ?? new Set();
    this.watchers.set(topic, set);
    set.add(fn);
    return {
      close: () => {
        set.delete(fn);
        if (set.size === 0 && this.watchers.get(topic) === set) this.watchers.delete(topic);
      },
    };
  }

  /**
   * Delivers every event of `workloadId` with id > `afterId`, in id order, exactly once, first
   * the stored ones then live ones, until closed. `deliver` must not throw.
   */
  async follow(
    workloadId: string,
    afterId: number,
    deliver: (events: readonly LiveEvent[]) => void,
  ): Promise<Subscription> {
    if (this.closed) throw new Error("event hub is closed");
    const feed = await this.feed(workloadId);
    const sub = new Subscriber(afterId, deliver);
    feed.add(sub);
    const subscription = {
      close: () => {
        sub.closed = true;
        feed.remove(sub);
        if (feed.idle && this.feeds.get(workloadId) === feed) {
          this.feeds.delete(workloadId);
          feed.close();
        }
      },
    };
    try {
      for (;;) {
        const rows = await readEvents(this.db, workloadId, sub.lastId, PAGE);
        sub.push(rows.map(live));
        if (rows.length < PAGE || sub.closed) break;
      }
      sub.live();
    } catch (err) {
      subscription.close();
      throw err;
    }
    return subscription;
  }

  /** Registers something to end when the replica shuts down (open streams). */
  onClose(fn: () => void): () => void {
    this.onShutdown.add(fn);
    return () => this.onShutdown.delete(fn);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poll);
    for (const fn of [...this.onShutdown]) fn();
    for (const feed of this.feeds.values()) feed.close();
    this.feeds.clear();
    this.watchers.clear();
  }

  private fire(topic: string): void {
    for (const fn of this.watchers.get(topic) ?? []) fn();
  }

  private async feed(workloadId: string): Promise<WorkloadFeed> {
    await this.start();
    let feed = this.feeds.get(workloadId);
    if (!feed) {
      const f = new WorkloadFeed(this.db, this.log, workloadId);
      // Watch before the feed reads its starting point, so no commit falls between the two.
      const watcher = this.addWatcher(workloadTopic(workloadId), () => f.pull());
      f.onClose(() => watcher.close());
      f.start();
      this.feeds.set(workloadId, f);
      this.poll ??= setInterval(() => this.pollAll(), this.options.pollMs).unref();
      feed = f;
    }
    try {
      await feed.ready;
    } catch (err) {
      if (this.feeds.get(workloadId) === feed) this.feeds.delete(workloadId);
      feed.close();
      throw err;
    }
    return feed;
  }

  private pollAll(): void {
    for (const feed of this.feeds.values()) feed.pull();
  }
}

/** One subscriber's cursor: buffers live rows while it replays, then passes them through. */
class Subscriber {
  closed = false;
  private replaying = true;
  private buffered: LiveEvent[] = [];

  constructor(
    public lastId: number,
    private readonly deliver: (events: readonly LiveEvent[]) => void,
  ) {}

  /** Rows from the feed (live) or from the replay, in id order; duplicates are dropped. */
  push(events: readonly LiveEvent[], fromFeed = false): void {
    if (this.closed) return;
    if (fromFeed && this.replaying) {
      this.buffered.push(...events);
      return;
    }
    // Rows come in id order: usually all are new, and the shared array is passed on as is.
    const fresh =
      events[0] && events[0].event.id > this.lastId ? events : events.filter((e) => e.event.id > this.lastId);
    if (fresh.length === 0) return;
    this.lastId = fresh[fresh.length - 1]!.event.id;
    this.deliver(fresh);
  }

  live(): void {
    this.replaying = false;
    const buffered = this.buffered;
    this.buffered = [];
    this.push(buffered);
  }
}

/** New rows of one workload, read once per signal for all local subscribers. */
class WorkloadFeed {
  ready: Promise<void> = Promise.resolve();
  private cursor = 0;
  private readonly subs = new Set<Subscriber>();
  private reading = false;
  private dirty = false;
  private closed = false;
  private readonly closeHooks: Array<() => void> = [];

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly workloadId: string,
  ) {}

  /** Rows up to here are the subscribers' replay; the feed carries everything after. */
  start(): void {
    this.ready = maxEventId(this.db, this.workloadId).then((id) => {
      this.cursor = Math.max(this.cursor, id);
    });
  }

  get idle(): boolean {
    return this.subs.size === 0;
  }

  add(sub: Subscriber): void {
    this.subs.add(sub);
  }

  remove(sub: Subscriber): void {
    this.subs.delete(sub);
  }

  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.closeHooks.push(fn);
  }

  close(): void {
    this.closed = true;
    for (const fn of this.closeHooks.splice(0)) fn();
  }

  /** Reads rows after the cursor and fans them out; coalesces signals that arrive meanwhile. */
  pull(): void {
    if (this.closed) return;
    if (this.reading) {
      this.dirty = true;
      return;
    }
    this.reading = true;
    void this.drain().finally(() => {
      this.reading = false;
    });
  }

  private async drain(): Promise<void> {
    try {
      await this.ready;
      do {
        this.dirty = false;
        for (;;) {
          const rows = await readEvents(this.db, this.workloadId, this.cursor, PAGE);
          if (this.closed || rows.length === 0) break;
          this.cursor = rows[rows.length - 1]!.id;
          const events = rows.map(live);
          for (const sub of this.subs) sub.push(events, true);
          if (rows.length < PAGE) break;
        }
      } while (this.dirty && !this.closed);
    } catch (err) {
      // Transient (database restart): the next signal or poll retries from the same cursor.
      if (!this.closed) this.log.warn({ err, workload: this.workloadId }, "event feed read failed");
    }
  }
}
