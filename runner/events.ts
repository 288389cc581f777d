/**
 * The runner's side of `POST /internal/tasks/:id/events` (DESIGN.md §4). Events get `seq`
 * numbers when they leave the queue, stay buffered until the app acknowledges them, and are
 * retried with exponential backoff; consecutive `token` events are coalesced for ~30 ms so a
 * fast model does not cost one request per delta. The ack's `abort` flag aborts `signal`, and so
 * does the abort long-poll (`abort_url`), which the client keeps open while it is open.
 */
import type { Logger } from "pino";
import {
  AbortPoll,
  EventAck,
  EventData,
  type EventDataOf,
  EventRejection,
  type EventType,
  MAX_BATCH_EVENTS,
  type RunnerEvent,
} from "../app/wire/protocol";

export interface EventClientOptions {
  /** Absolute URL of the events endpoint (the assignment's callback_url). */
  readonly url: string;
  /** Absolute URL of the abort long-poll (the assignment's abort_url); watched while the client is open. */
  readonly abortUrl?: string;
  /** `wait` of each abort long-poll, in seconds. */
  readonly abortWaitSeconds?: number;
  /** The task token (Bearer). */
  readonly token: string;
  /** How long token deltas wait to be sent together. */
  readonly coalesceMs?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Give up when no request has succeeded for this long. */
  readonly giveUpAfterMs?: number;
  readonly requestTimeoutMs?: number;
  readonly fetch?: typeof fetch;
  readonly log?: Pick<Logger, "warn" | "debug">;
}

/** The app cannot be reached (or refuses the workload): the run cannot report and must stop. */
export class CallbackError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
    readonly rejection?: EventRejection["error"],
  ) {
    super(message);
    this.name = "CallbackError";
  }
}

// Answers that no retry can change: a malformed batch, or a token/workload the app no longer accepts.
const PERMANENT = new Set([400, 401, 403, 404, 409, 410, 413, 422]);

type Pending = { type: EventType; data: Record<string, unknown> };

/**
 * Characters of event data per request, well under the app's body limit (PLUE_MAX_BODY, 1 MB by
 * default) even for multi-byte text: workflow logs can fill 500 events quickly.
 */
const MAX_BATCH_CHARS = 256 * 1024;

/** The longest prefix of `events` within both batch bounds (at least one event). */
function takeBatch(events: readonly RunnerEvent[]): RunnerEvent[] {
  let chars = 0;
  let n = 0;
  for (const e of events) {
    chars += JSON.stringify(e.data).length + 40;
    if (n > 0 && (chars > MAX_BATCH_CHARS || n >= MAX_BATCH_EVENTS)) break;
    n++;
  }
  return events.slice(0, n);
}

/** Waits about `ms` (±25%), so clients that failed together do not retry together. */
const jitteredSleep = (ms: number) => new Promise((r) => setTimeout(r, ms * (0.75 + Math.random() * 0.5)));

export class EventClient {
  private readonly opts: Required<Omit<EventClientOptions, "log" | "abortUrl">> &
    Pick<EventClientOptions, "log" | "abortUrl">;
  private readonly abortController = new AbortController();
  /** Ends the abort long-poll when the client closes. */
  private readonly closing = new AbortController();
  private pending: Pending[] = [];
  private unacked: RunnerEvent[] = [];
  private nextSeq = 1;
  private acked = 0;
  private timer: NodeJS.Timeout | undefined;
  private pumping: Promise<void> | undefined;
  private failure: CallbackError | undefined;
  /** Something other than token deltas is waiting (or a flush was asked for): send without delay. */
  private urgent = false;
  private lastSentAt = Number.NEGATIVE_INFINITY;
  private waiters: Array<{ resolve(): void; reject(e: Error): void }> = [];

  constructor(opts: EventClientOptions) {
    this.opts = {
      coalesceMs: 30,
      initialBackoffMs: 100,
      maxBackoffMs: 5000,
      giveUpAfterMs: 120_000,
      requestTimeoutMs: 15_000,
      abortWaitSeconds: 50,
      fetch: globalThis.fetch,
      ...opts,
    };
    if (this.opts.abortUrl) void this.watchAborts(this.opts.abortUrl);
  }

  /**
   * Long-polls the app for an abort until the client closes or the workload is aborted (then
   * `signal` aborts, as for an ack's `abort`). An app that answers 401/403/404 no longer knows
   * the workload: the event callback finds out and reports it; other failures retry with backoff.
   */
  private async watchAborts(url: string): Promise<void> {
    const stop = AbortSignal.any([this.closing.signal, this.signal]);
    let backoff = this.opts.initialBackoffMs;
    const wait = this.opts.abortWaitSeconds;
    while (!stop.aborted) {
      try {
        const res = await this.opts.fetch(`${url}?wait=${wait}`, {
          headers: { authorization: `Bearer ${this.opts.token}` },
          signal: AbortSignal.any([stop, AbortSignal.timeout(wait * 1000 + this.opts.requestTimeoutMs)]),
        });
        if ([401, 403, 404].includes(res.status)) return;
        if (!res.ok) throw new Error(`abort poll answered ${res.status}`);
        if (AbortPoll.parse(await res.json()).abort) {
          if (!this.signal.aborted) this.abortController.abort(new Error("aborted by the app"));
          return;
        }
        backoff = this.opts.initialBackoffMs;
      } catch (err) {
        if (stop.aborted) return;
        this.opts.log?.debug({ err: (err as Error).message }, "abort poll failed; retrying");
        await jitteredSleep(backoff);
        backoff = Math.min(backoff * 2, this.opts.maxBackoffMs);
      }
    }
  }

  /** Aborted when the app answers `abort: true` or stops accepting this workload's events. */
  get signal(): AbortSignal {
    return this.abortController.signal;
  }

  /** The highest seq the app has acknowledged. */
  get lastAcked(): number {
    return this.acked;
  }

  /** Set once the client has given up; nothing more will be delivered. */
  get failed(): CallbackError | undefined {
    return this.failure;
  }

  emit<T extends EventType>(type: T, data: EventDataOf<T>): void {
    if (this.failure) return;
    const parsed = EventData[type].parse(data) as Record<string, unknown>; // a bad event is a runner bug: fail here
    const last = this.pending.at(-1);
    if (type === "token" && last?.type === "token") {
      last.data = { text: `${last.data.text}${parsed.text}` };
    } else {
      this.pending.push({ type, data: parsed });
    }
    // The first delta after a quiet spell goes at once (first-token latency); the ones that
    // follow it within the window are coalesced.
    if (type !== "token" || performance.now() - this.lastSentAt >= this.opts.coalesceMs) this.urgent = true;
    this.schedule(this.urgent ? 0 : this.opts.coalesceMs);
  }

  token(text: string): void {
    if (text) this.emit("token", { text });
  }

  /** Resolves when everything emitted so far is acknowledged; rejects if the client gave up. */
  flush(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending.length === 0 && this.unacked.length === 0) return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.urgent = true;
    this.schedule(0);
    return done;
  }

  private schedule(delayMs: number): void {
    if (this.pumping) return; // the running pump picks new events up when its request returns
    if (this.timer && delayMs > 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.urgent = true; // the window has passed: everything waiting is due
      this.pumping = this.pump().finally(() => {
        this.pumping = undefined;
        if (this.pending.length > 0 && !this.failure) this.schedule(this.urgent ? 0 : this.opts.coalesceMs);
      });
    }, delayMs);
  }

  private async pump(): Promise<void> {
    let backoff = this.opts.initialBackoffMs;
    let lastSuccess = Date.now();
    // Token deltas that arrive during a request wait for their own window (see schedule).
    while (!this.failure && (this.unacked.length > 0 || (this.pending.length > 0 && this.urgent))) {
      this.urgent = this.waiters.length > 0; // someone waits for a flush: no coalescing delay
      for (const p of this.pending.splice(0)) this.unacked.push({ seq: this.nextSeq++, ...p });
      const batch = takeBatch(this.unacked);
      try {
        const ack = await this.post(batch);
        lastSuccess = Date.now();
        backoff = this.opts.initialBackoffMs;
        this.acked = Math.max(this.acked, ack.ack);
        this.unacked = this.unacked.filter((e) => e.seq > this.acked);
        if (ack.abort && !this.signal.aborted) this.abortController.abort(new Error("aborted by the app"));
        if (ack.ack < batch.at(-1)!.seq)
          throw new Error(`the app acknowledged ${ack.ack} of ${batch.at(-1)!.seq}`);
      } catch (err) {
        if (err instanceof CallbackError && err.rejection && this.recover(err.rejection)) continue;
        if (err instanceof CallbackError && err.permanent) {
          this.fail(err);
          break;
        }
        if (Date.now() - lastSuccess >= this.opts.giveUpAfterMs) {
          this.fail(
            new CallbackError(
              `event callback failed for ${this.opts.giveUpAfterMs} ms: ${(err as Error).message}`,
              false,
            ),
          );
          break;
        }
        this.opts.log?.warn(
          { err: (err as Error).message, retryInMs: backoff },
          "event callback failed; retrying",
        );
        await jitteredSleep(backoff);
        backoff = Math.min(backoff * 2, this.opts.maxBackoffMs);
      }
    }
    if (this.pending.length === 0 && this.unacked.length === 0) {
      for (const w of this.waiters.splice(0)) w.resolve();
    }
  }

  /**
   * Some rejections say what the app already has: a `seq_gap` names the next seq it expects,
   * and `workload_ended` carries the last stored seq (a lost final ack looks like that). When
   * everything missing is still buffered, drop what is stored and go on.
   */
  private recover(r: EventRejection["error"]): boolean {
    const stored =
      r.code === "seq_gap" && r.expected_seq
        ? r.expected_seq - 1
        : r.code === "workload_ended"
          ? r.ack
          : undefined;
    if (stored === undefined) return false;
    const first = this.unacked[0]?.seq ?? this.nextSeq;
    if (stored + 1 < first) return false; // the app lacks events this client no longer has
    this.acked = Math.max(this.acked, stored);
    this.unacked = this.unacked.filter((e) => e.seq > this.acked);
    // An ended workload takes nothing more: recovered only if nothing is left to send.
    return r.code === "seq_gap" || (this.unacked.length === 0 && this.pending.length === 0);
  }

  private async post(events: RunnerEvent[]): Promise<EventAck> {
    this.lastSentAt = performance.now();
    const res = await this.opts.fetch(this.opts.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${this.opts.token}` },
      body: JSON.stringify({ events }),
      signal: AbortSignal.timeout(this.opts.requestTimeoutMs),
    });
    const text = await res.text();
    if (!res.ok) {
      const message = `events callback answered ${res.status}: ${text.slice(0, 300)}`;
      let rejection: EventRejection["error"] | undefined;
      try {
        rejection = EventRejection.parse(JSON.parse(text)).error;
      } catch {
        // not a rejection body (a proxy's error page, say): the status decides
      }
      throw new CallbackError(message, PERMANENT.has(res.status), rejection);
    }
    return EventAck.parse(JSON.parse(text));
  }

  private fail(err: CallbackError): void {
    this.failure = err;
    this.pending = [];
    if (!this.signal.aborted) this.abortController.abort(err);
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  /** Flushes what is left, then stops; safe to call more than once. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      clearTimeout(this.timer);
      this.closing.abort();
    }
  }
}
