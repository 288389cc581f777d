/**
 * Client for agent sessions, for browsers and Node: start a run, stream its typed events, resume
 * after drops, abort. A session's stream is an EventStream (./event-stream.ts: transport,
 * authentication, resuming) of every event type; `AgentStream` adds the session and `abort()`.
 * `state` says where a stream is, `cancelled` included, for a UI to show.
 */
import type {
  CreatedRun,
  MessageList,
  MessageView,
  SessionAbort,
  SessionRunStarted,
  SessionView,
} from "../wire/api";
import { EVENT_TYPES, type EventType } from "../wire/protocol";
import { ApiError, apiError } from "./api-error";
import { type ClientOptions, EventStream, StreamError, streamUrl } from "./event-stream";

export interface AgentClientOptions extends ClientOptions {
  /** How long abort() waits for the run's final `done` before closing anyway. @default 10000 */
  readonly abortTimeoutMs?: number;
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
    return (await this.call<MessageList>("GET", `/api/sessions/${enc(id)}/messages`)).messages;
  }

  /** Sends a message and streams the run it starts. */
  async run(sessionId: string, message: string): Promise<AgentStream> {
    const { workload_id, runs } = await this.call<SessionRunStarted>(
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
      await this.call<SessionAbort>("POST", `/api/sessions/${enc(sessionId)}/abort`);
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) return false;
      throw err;
    }
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await this.fetchFn(this.options.baseUrl.replace(/\/+$/, "") + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw apiError(res.status, text, `${method} ${path}: ${res.status}`);
    try {
      return (text ? JSON.parse(text) : undefined) as T;
    } catch {
      return undefined as T;
    }
  }
}

/** A session's stream: its latest run, or from `lastEventId`; with `follow`, its later runs too. */
export class AgentStream extends EventStream<EventType> {
  /** Workflow runs the message started besides this agent run (see `AgentClient.run`). */
  workflowRuns: CreatedRun[] = [];

  constructor(
    private readonly client: AgentClient,
    readonly sessionId: string,
    opts: { lastEventId?: number; follow?: boolean },
  ) {
    super(client.options, {
      url: (lastEventId) =>
        streamUrl(client.options, `/api/sessions/${enc(sessionId)}/stream`, {
          follow: opts.follow ? "1" : undefined,
          lastEventId,
        }),
      types: EVENT_TYPES,
      lastEventId: opts.lastEventId,
      follow: opts.follow,
    });
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
}

const enc = encodeURIComponent;
