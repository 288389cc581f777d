/**
 * Client for agent sessions, for browsers and Node: start a run, stream its typed events, resume
 * after drops, abort.
 *
 * Transport: an `EventSource` — the global one in browsers, or one passed in (in Node, the
 * `eventsource` package). An EventSource resumes by itself with Last-Event-ID after a network
 * drop; when it gives up (an HTTP error such as a 502 from a proxy during a deploy) this client
 * opens a new one with `?lastEventId=`, with backoff. Either way every event arrives once.
 *
 * Authentication: an EventSource that accepts a custom fetch (the `eventsource` package) sends
 * `Authorization: Bearer <token>`; a browser's native EventSource cannot send headers, so it is
 * opened `withCredentials` and relies on cookies of the page's origin.
 *
 * A stream (`AgentStream`) is consumed by listeners (`on`), by `for await`, or by `done()`. It
 * ends exactly once: after the run's `done`/`error`, on `close()`, or on a failure it cannot
 * recover from. `state` says where it is, `cancelled` included, for a UI to show.
 */
import type { MessageView, SessionView } from "../sessions/service";
import { EVENT_TYPES, type EventType, type StreamEvent, TERMINAL_EVENTS } from "../wire/protocol";

export type { MessageView, SessionView, StreamEvent };

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

export interface AgentClientOptions {
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
  /** How long abort() waits for the run's final `done` before closing anyway. @default 10000 */
  readonly abortTimeoutMs?: number;
}

/** An HTTP call of the API failed. */
export class AgentApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "AgentApiError";
  }
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

export class AgentClient {
  private readonly fetchFn: typeof fetch;

  constructor(readonly options: AgentClientOptions) {
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  createSession(input: { repo?: string; title?: string } = {}): Promise<SessionView> {
    return this.call("POST", "/api/sessions", input);
  }

  session(id: string): Promise<SessionView> {
    return this.call("GET", `/api/sessions/${enc(id)}`);
  }

  async messages(id: string): Promise<MessageView[]> {
    return (await this.call<{ messages: MessageView[] }>("GET", `/api/sessions/${enc(id)}/messages`))
      .messages;
  }

  /** Sends a message and streams the run it starts. */
  async run(sessionId: string, message: string): Promise<AgentStream> {
    const { workload_id, runs } = await this.call<{ workload_id: string; runs?: WorkflowRunRef[] }>(
      "POST",
      `/api/sessions/${enc(sessionId)}/run`,
      { message },
    );
    // Without a Last-Event-ID the stream starts at the beginning of the latest run: this one.
    const stream = this.stream(sessionId);
    stream.workloadId = workload_id;
    stream.workflowRuns = runs ?? [];
    return stream;
  }

  /** Streams a session: its latest run, or from `lastEventId`; `follow` keeps it open for later runs. */
  stream(sessionId: string, opts: { lastEventId?: number; follow?: boolean } = {}): AgentStream {
    return new AgentStream(this, sessionId, opts);
  }

  /** Asks the running workload to stop. Returns false when nothing was running (not an error). */
  async abort(sessionId: string): Promise<boolean> {
    try {
      await this.call("POST", `/api/sessions/${enc(sessionId)}/abort`);
      return true;
    } catch (err) {
      if (err instanceof AgentApiError && err.status === 409) return false;
      throw err;
    }
  }

  /** @internal Opens the EventSource of a stream. */
  openEventSource(url: string): EventSourceLike {
    const ES =
      this.options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
    if (!ES) {
      throw new StreamError(
        'no EventSource available: pass one (in Node: `import { EventSource } from "eventsource"`)',
      );
    }
    const token = this.options.token;
    // The `eventsource` package marks that it accepts a fetch override; a native one cannot.
    const canFetch = Symbol.for("eventsource.supports-fetch-override") in ES;
    if (canFetch) {
      const base = this.fetchFn;
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

  /** @internal */
  url(path: string): string {
    return this.options.baseUrl.replace(/\/+$/, "") + path;
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await this.fetchFn(this.url(path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const parsed = text ? safeJson(text) : undefined;
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new AgentApiError(
        res.status,
        e?.code ?? "http_error",
        e?.message ?? `${method} ${path}: ${res.status}`,
      );
    }
    return parsed as T;
  }
}

type Listener<T> = (value: T) => void;
export type AgentStreamEvents = { [K in EventType]: StreamEvent<K> } & {
  /** Every event, whatever its type. */
  event: StreamEvent;
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

/** A workflow run a chat message started (the repository's chat and mention workflows). */
export interface WorkflowRunRef {
  id: string;
  workflow: string;
  status: string;
}

export class AgentStream implements AsyncIterable<StreamEvent> {
  /** The workload of the run, once known. */
  workloadId?: string;
  /** Workflow runs the message started besides this agent run (see `AgentClient.run`). */
  workflowRuns: WorkflowRunRef[] = [];
  /** The id of the last event received; a new stream from here misses nothing. */
  lastEventId?: number;
  /** Why the stream failed, when `state` is `failed` without an `error` event. */
  failure?: Error;
  private current: StreamState = "connecting";
  private es?: EventSourceLike;
  private readonly listeners = new Map<keyof AgentStreamEvents, Set<Listener<never>>>();
  private readonly queue: StreamEvent[] = [];
  private wake?: () => void;
  private iterating = false;
  private ended = false;
  private retries = 0;
  private retryTimer?: ReturnType<typeof setTimeout>;
  private readonly finished: Promise<StreamEvent<"done">>;
  private settle!: { resolve(e: StreamEvent<"done">): void; reject(err: Error): void };

  constructor(
    private readonly client: AgentClient,
    readonly sessionId: string,
    private readonly opts: { lastEventId?: number; follow?: boolean },
  ) {
    this.lastEventId = opts.lastEventId;
    this.finished = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.finished.catch(() => {}); // observed through done(); never an unhandled rejection
    this.connect();
  }

  get state(): StreamState {
    return this.current;
  }

  on<K extends keyof AgentStreamEvents>(type: K, fn: Listener<AgentStreamEvents[K]>): this {
    const set = this.listeners.get(type) ?? new Set();
    this.listeners.set(type, set);
    set.add(fn as Listener<never>);
    return this;
  }

  off<K extends keyof AgentStreamEvents>(type: K, fn: Listener<AgentStreamEvents[K]>): this {
    this.listeners.get(type)?.delete(fn as Listener<never>);
    return this;
  }

  once<K extends keyof AgentStreamEvents>(type: K, fn: Listener<AgentStreamEvents[K]>): this {
    const wrapped: Listener<AgentStreamEvents[K]> = (v) => {
      this.off(type, wrapped);
      fn(v);
    };
    return this.on(type, wrapped);
  }

  /**
   * Resolves with the run's final `done` (its `reason` is `aborted` after an abort); rejects with
   * RunFailedError on an `error` event, StreamError if the stream fails or is closed first.
   */
  done(): Promise<StreamEvent<"done">> {
    return this.finished;
  }

  /** Stops the run: calls the abort endpoint, waits (bounded) for the final `done`, closes. */
  async abort(): Promise<void> {
    if (this.ended) return;
    this.setState("cancelling");
    const timeout = this.client.options.abortTimeoutMs ?? 10_000;
    try {
      await this.client.abort(this.sessionId);
    } finally {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeout)));
      await Promise.race([this.finished.catch(() => {}), timedOut]);
      clearTimeout(timer);
      if (!this.ended) this.end("cancelled", new StreamError("aborted before the run's final event arrived"));
    }
  }

  /** Stops listening; the run goes on. */
  close(): void {
    this.end("closed", new StreamError("stream closed before the run ended"));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
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
    const params = new URLSearchParams();
    if (this.opts.follow) params.set("follow", "1");
    if (this.lastEventId !== undefined) params.set("lastEventId", String(this.lastEventId));
    const query = params.toString();
    const url = this.client.url(`/api/sessions/${enc(this.sessionId)}/stream${query ? `?${query}` : ""}`);
    let es: EventSourceLike;
    try {
      es = this.client.openEventSource(url);
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
    for (const type of EVENT_TYPES) es.addEventListener(type, (m) => this.onMessage(m));
  }

  private onMessage(m: MessageEvent): void {
    // A run's `error` event shares its name with the EventSource's own connection errors,
    // which carry no data; those are handled by onError.
    if (this.ended || typeof m.data !== "string") return;
    const e = safeJson(String(m.data)) as StreamEvent | undefined;
    if (!e || typeof e.id !== "number") return;
    // The server never repeats an event; this guards against a misbehaving proxy.
    if (this.lastEventId !== undefined && e.id <= this.lastEventId) return;
    this.lastEventId = e.id;
    this.workloadId = e.workload_id;
    this.queue.push(e);
    if (!this.iterating && this.queue.length > MAX_UNITERATED) this.queue.shift();
    this.wake?.();
    this.emit(e.type, e as never);
    this.emit("event", e);
    if (!TERMINAL_EVENTS.has(e.type) || this.opts.follow) return;
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
    const max = this.client.options.maxRetries ?? 8;
    if ((ev.code !== undefined && PERMANENT_STATUS.has(ev.code)) || this.retries >= max) {
      this.end("failed", err);
      return;
    }
    const base = this.client.options.retryDelayMs ?? 500;
    const wait = Math.min(base * 2 ** this.retries++, this.client.options.maxRetryDelayMs ?? 10_000);
    if (this.current !== "cancelling") this.setState("reconnecting");
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  private end(state: StreamState, error?: Error, terminal?: StreamEvent): void {
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

  private setState(state: StreamState): void {
    if (this.current === state) return;
    this.current = state;
    this.emit("state", state);
  }

  private emit<K extends keyof AgentStreamEvents>(type: K, value: AgentStreamEvents[K]): void {
    for (const fn of this.listeners.get(type) ?? []) {
      try {
        (fn as Listener<AgentStreamEvents[K]>)(value);
      } catch (err) {
        // A throwing listener must not break the stream or the other listeners.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }
}

const enc = encodeURIComponent;

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
