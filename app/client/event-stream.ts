/**
 * Following one of the API's SSE streams (a session's, a workflow run's), for browsers and Node:
 * typed events, resuming after drops with every event delivered once, a state a UI can show.
 *
 * Transport: an `EventSource` — the global one in browsers, or one passed in (in Node, and in
 * the web UI, the `eventsource` package). An EventSource resumes by itself with Last-Event-ID
 * after a network drop; when it gives up (an HTTP error such as a 502 from a proxy during a
 * deploy) the stream opens a new one with `?lastEventId=`, with backoff. Either way every event
 * arrives once.
 *
 * Authentication: an EventSource that accepts a custom fetch (the `eventsource` package) sends
 * `Authorization: Bearer <token>`; a browser's native EventSource cannot send headers, so it is
 * opened `withCredentials` and relies on cookies of the page's origin.
 *
 * A stream is consumed by listeners (`on`), by `for await`, or by `done()`. It ends exactly once:
 * after the terminal `done`/`error`, on `close()`, or on a failure it cannot recover from.
 */
import { type EventType, type StreamEvent, TERMINAL_EVENTS } from "../wire/protocol";

export type StreamState =
  | "connecting"
  | "open"
  | "reconnecting"
  /** The run ended with `done`. */
  | "done"
  /** The run ended with `error`, or the stream failed for good (see `failure`). */
  | "failed"
  /** abort() was called; waiting for the run's final `done`. */
  | "cancelling"
  /** The run was aborted (by this client or anyone else). */
  | "cancelled"
  /** close() was called before the run ended. */
  | "closed";

/** The minimal EventSource surface this client uses (WHATWG and the `eventsource` package). */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void;
  close(): void;
}

export type EventSourceConstructor = new (
  url: string,
  init?: { withCredentials?: boolean; fetch?: typeof fetch },
) => EventSourceLike;

/** Where the API is and how to reach it; shared by every client of it. */
export interface ClientOptions {
  /** The app's origin, e.g. `https://plue.dev`. */
  readonly baseUrl: string;
  /** An API token; sent as a Bearer header. */
  readonly token?: string;
  /** Default: the global fetch. */
  readonly fetch?: typeof fetch;
  /** Default: the global EventSource (browsers); pass `EventSource` from `eventsource` in Node. */
  readonly EventSource?: EventSourceConstructor;
  /** First delay before reopening a failed stream; doubles up to `maxRetryDelayMs`. @default 500 */
  readonly retryDelayMs?: number;
  /** @default 10000 */
  readonly maxRetryDelayMs?: number;
  /** Consecutive failed reopen attempts before the stream fails. @default 8 */
  readonly maxRetries?: number;
}

/** What to stream: the API's answer to "which events, from where". */
export interface StreamSpec<T extends EventType> {
  /** The stream's URL (with the base URL), resuming after `lastEventId` when given. */
  url(lastEventId: number | undefined): string;
  /** The event types to listen for: the stream's event map (app/wire/api.ts). */
  types: readonly T[];
  /** Start after this event id instead of at the beginning. */
  lastEventId?: number;
  /** Keep streaming after a terminal event (a session's later runs). */
  follow?: boolean;
}

/** The run ended with an `error` event. */
export class RunFailedError extends Error {
  constructor(readonly event: StreamEvent<"error">) {
    super(event.data.message);
    this.name = "RunFailedError";
  }
}

/** The stream could not be (re)established, or was closed before the run ended. */
export class StreamError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "StreamError";
  }
}

type Listener<T> = (value: T) => void;
export type StreamEvents<T extends EventType> = { [K in T]: StreamEvent<K> } & {
  /** Every event, whatever its type. */
  event: StreamEvent<T>;
  state: StreamState;
  /** A transport problem; the stream may recover (`state` says whether it did). */
  connectionError: StreamError;
  /** The stream ended (once), in this final state. */
  end: StreamState;
};

const CLOSED = 2;
/**
 * Events kept for a `for await` that has not started yet. A stream consumed only by listeners
 * (say, a long `follow` stream) so keeps bounded memory: beyond this the oldest are dropped.
 */
const MAX_UNITERATED = 10_000;
const PERMANENT_STATUS = new Set([400, 401, 403, 404, 410]);

export class EventStream<T extends EventType = EventType> implements AsyncIterable<StreamEvent<T>> {
  /** The workload whose events these are, once known. */
  workloadId?: string;
  /** The id of the last event received; a new stream from here misses nothing. */
  lastEventId?: number;
  /** Why the stream failed, when `state` is `failed` without an `error` event. */
  failure?: Error;
  private current: StreamState = "connecting";
  private es?: EventSourceLike;
  private readonly listeners = new Map<PropertyKey, Set<Listener<never>>>();
  private readonly queue: StreamEvent<T>[] = [];
  private wake?: () => void;
  private iterating = false;
  protected ended = false;
  private retries = 0;
  private retryTimer?: ReturnType<typeof setTimeout>;
  protected readonly finished: Promise<StreamEvent<"done">>;
  private settle!: { resolve(e: StreamEvent<"done">): void; reject(err: Error): void };

  constructor(
    protected readonly options: ClientOptions,
    private readonly spec: StreamSpec<T>,
  ) {
    this.lastEventId = spec.lastEventId;
    this.finished = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.finished.catch(() => {}); // observed through done(); never an unhandled rejection
    this.connect();
  }

  get state(): StreamState {
    return this.current;
  }

  on<K extends keyof StreamEvents<T>>(type: K, fn: Listener<StreamEvents<T>[K]>): this {
    const set = this.listeners.get(type) ?? new Set();
    this.listeners.set(type, set);
    set.add(fn as Listener<never>);
    return this;
  }

  off<K extends keyof StreamEvents<T>>(type: K, fn: Listener<StreamEvents<T>[K]>): this {
    this.listeners.get(type)?.delete(fn as Listener<never>);
    return this;
  }

  once<K extends keyof StreamEvents<T>>(type: K, fn: Listener<StreamEvents<T>[K]>): this {
    const wrapped: Listener<StreamEvents<T>[K]> = (v) => {
      this.off(type, wrapped);
      fn(v);
    };
    return this.on(type, wrapped);
  }

  /**
   * Resolves with the final `done` (its `reason` is `aborted` after an abort); rejects with
   * RunFailedError on an `error` event, StreamError if the stream fails or is closed first.
   */
  done(): Promise<StreamEvent<"done">> {
    return this.finished;
  }

  /** Stops listening; the run goes on. */
  close(): void {
    this.end("closed", new StreamError("stream closed before the run ended"));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamEvent<T>> {
    this.iterating = true;
    try {
      for (;;) {
        const next = this.queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (this.ended) break;
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
      if (this.current === "failed" && this.failure && !(this.failure instanceof RunFailedError))
        throw this.failure;
    } finally {
      // Leaving the loop early stops listening (the run itself is not aborted).
      if (!this.ended) this.close();
    }
  }

  private connect(): void {
    let es: EventSourceLike;
    try {
      es = openEventSource(this.options, this.spec.url(this.lastEventId));
    } catch (err) {
      this.end("failed", err as Error);
      return;
    }
    this.es = es;
    es.onopen = () => {
      this.retries = 0;
      if (this.current !== "cancelling") this.setState("open");
    };
    es.onerror = (ev) => this.onError(es, ev as Event & { code?: number; message?: string });
    for (const type of this.spec.types) es.addEventListener(type, (m) => this.onMessage(m));
  }

  private onMessage(m: MessageEvent): void {
    // A run's `error` event shares its name with the EventSource's own connection errors,
    // which carry no data; those are handled by onError.
    if (this.ended || typeof m.data !== "string") return;
    const e = safeJson(String(m.data)) as StreamEvent<T> | undefined;
    if (!e || typeof e.id !== "number") return;
    // The server never repeats an event; this guards against a misbehaving proxy.
    if (this.lastEventId !== undefined && e.id <= this.lastEventId) return;
    this.lastEventId = e.id;
    this.workloadId = e.workload_id;
    this.queue.push(e);
    if (!this.iterating && this.queue.length > MAX_UNITERATED) this.queue.shift();
    this.wake?.();
    this.emit(e.type, e);
    this.emit("event", e);
    if (!TERMINAL_EVENTS.has(e.type) || this.spec.follow) return;
    if (e.type === "error") this.end("failed", new RunFailedError(e as StreamEvent<"error">));
    else this.end((e as StreamEvent<"done">).data.reason === "aborted" ? "cancelled" : "done", undefined, e);
  }

  private onError(es: EventSourceLike, ev: { code?: number; message?: string }): void {
    // In browsers `onerror` also sees a run's `error` frames (they have data): not a transport error.
    if (this.ended || es !== this.es || typeof (ev as { data?: unknown }).data === "string") return;
    const err = new StreamError(ev.message || "stream connection lost", ev.code);
    this.emit("connectionError", err);
    if (es.readyState !== CLOSED) {
      // The EventSource reconnects by itself, sending Last-Event-ID.
      if (this.current !== "cancelling") this.setState("reconnecting");
      return;
    }
    es.close();
    if (ev.code === 204) {
      // The server has nothing more: the run ended before this (re)connection.
      this.end("closed", new StreamError("the run had already ended before this stream", 204));
      return;
    }
    const max = this.options.maxRetries ?? 8;
    if ((ev.code !== undefined && PERMANENT_STATUS.has(ev.code)) || this.retries >= max) {
      this.end("failed", err);
      return;
    }
    const base = this.options.retryDelayMs ?? 500;
    const wait = Math.min(base * 2 ** this.retries++, this.options.maxRetryDelayMs ?? 10_000);
    if (this.current !== "cancelling") this.setState("reconnecting");
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  protected end(state: StreamState, error?: Error, terminal?: StreamEvent): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.retryTimer);
    this.es?.close();
    if (error) this.failure = error;
    this.setState(state);
    if (terminal?.type === "done") this.settle.resolve(terminal as StreamEvent<"done">);
    else this.settle.reject(error ?? new StreamError("stream ended"));
    this.wake?.();
    this.emit("end", state);
  }

  protected setState(state: StreamState): void {
    if (this.current === state) return;
    this.current = state;
    this.emit("state", state);
  }

  /** Untyped inside: `on` checks what each listener accepts. */
  private emit(type: string, value: unknown): void {
    for (const fn of this.listeners.get(type) ?? []) {
      try {
        (fn as Listener<unknown>)(value);
      } catch (err) {
        // A throwing listener must not break the stream or the other listeners.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }
}

/** Opens an EventSource on `url` that authenticates as the client's token can (see the header). */
function openEventSource(options: ClientOptions, url: string): EventSourceLike {
  const ES = options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
  if (!ES) {
    throw new StreamError(
      'no EventSource available: pass one (in Node: `import { EventSource } from "eventsource"`)',
    );
  }
  const token = options.token;
  // The `eventsource` package marks that it accepts a fetch override; a native one cannot.
  const canFetch = Symbol.for("eventsource.supports-fetch-override") in ES;
  if (canFetch) {
    const base = options.fetch ?? globalThis.fetch.bind(globalThis);
    const authFetch: typeof fetch = (input, init) =>
      base(input, {
        ...init,
        headers: {
          ...(init?.headers as Record<string, string>),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      });
    return new ES(url, { fetch: authFetch });
  }
  return new ES(url, { withCredentials: true });
}

/** `<baseUrl><path>?<params>`, leaving out undefined params. */
export function streamUrl(
  options: ClientOptions,
  path: string,
  params: Record<string, string | number | undefined>,
): string {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) query.set(k, String(v));
  const q = query.toString();
  return `${options.baseUrl.replace(/\/+$/, "")}${path}${q ? `?${q}` : ""}`;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
