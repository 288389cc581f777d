/**
 * A test double for an Executor: instead of starting a runner process it plays one in this
 * process, speaking the real wire protocol — HTTP batches to the assignment's callback URL with
 * its task token. Each test gives it a script. Test code only: never a default of the app.
 */
import type { Executor, ExecutorHooks } from "../../app/dispatch/executor";
import {
  type Assignment,
  type EventAck,
  type EventDataOf,
  type EventType,
  ExitCode,
} from "../../app/wire/protocol";

export type RunnerScript = (runner: ScriptedRunner) => Promise<void>;

export class RunnerKilled extends Error {
  constructor() {
    super("runner killed");
  }
}

export class ScriptedRunner {
  /** The last seq sent. */
  seq = 0;
  /** Set once an ack said `abort: true`. */
  abortRequested = false;
  /** Set when the executor stopped it (`Executor.abort`). */
  readonly killed: AbortController = new AbortController();
  readonly acks: EventAck[] = [];

  constructor(readonly assignment: Assignment) {}

  get workloadId(): string {
    return this.assignment.workload.id;
  }

  /** Posts one batch with the next seqs; throws on any answer but 200. */
  async send(events: Array<{ type: EventType; data: unknown }>): Promise<EventAck> {
    if (this.killed.signal.aborted) throw new RunnerKilled();
    const batch = events.map((e) => ({ seq: ++this.seq, ...e }));
    const res = await this.post({ events: batch });
    const body = await res.json();
    if (res.status !== 200) throw new Error(`callback answered ${res.status}: ${JSON.stringify(body)}`);
    const ack = body as EventAck;
    this.acks.push(ack);
    if (ack.abort) this.abortRequested = true;
    return ack;
  }

  event<T extends EventType>(type: T, data: EventDataOf<T>): Promise<EventAck> {
    return this.send([{ type, data }]);
  }

  tokens(texts: string[]): Promise<EventAck> {
    return this.send(texts.map((text) => ({ type: "token", data: { text } })));
  }

  /** A raw POST to the callback (bad-input tests choose body, token and URL). */
  post(body: unknown, opts: { token?: string | null; url?: string; raw?: string } = {}): Promise<Response> {
    const token = opts.token === undefined ? this.assignment.token : opts.token;
    return fetch(opts.url ?? this.assignment.callback_url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: opts.raw ?? JSON.stringify(body),
    });
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.killed.signal.aborted) return reject(new RunnerKilled());
      const stop = () => {
        clearTimeout(t);
        reject(new RunnerKilled());
      };
      const t = setTimeout(() => {
        this.killed.signal.removeEventListener("abort", stop);
        resolve();
      }, ms);
      this.killed.signal.addEventListener("abort", stop, { once: true });
    });
  }
}

export class ScriptedExecutor implements Executor {
  readonly name = "in-process" as const;
  readonly runners: ScriptedRunner[] = [];
  /** What every dispatched runner does; tests replace it. By default: one token, then done. */
  script: RunnerScript = async (r) => {
    await r.tokens(["hello"]);
    await r.event("done", { reason: "end_turn" });
  };
  /** When set, dispatch refuses every workload with this message (an executor that is down). */
  refuse?: string;
  private readonly waiting: Array<(r: ScriptedRunner) => void> = [];
  private readonly running = new Map<string, ScriptedRunner>();

  constructor(private readonly hooks: ExecutorHooks) {}

  async dispatch(assignment: Assignment): Promise<void> {
    if (this.refuse) throw new Error(this.refuse);
    const runner = new ScriptedRunner(assignment);
    this.runners.push(runner);
    this.running.set(runner.workloadId, runner);
    this.waiting.shift()?.(runner);
    const script = this.script;
    // Like a process: runs on its own, and its exit reaches the dispatcher through onExit.
    setImmediate(async () => {
      let code: number | null = ExitCode.ok;
      let signal: string | null = null;
      try {
        await script(runner);
      } catch (err) {
        if (err instanceof RunnerKilled) [code, signal] = [null, "SIGTERM"];
        else code = ExitCode.failed;
      }
      this.running.delete(runner.workloadId);
      this.hooks.onExit(runner.workloadId, { code, signal });
    });
  }

  /** Resolves with the next runner dispatched after this call. */
  next(): Promise<ScriptedRunner> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async abort(workloadId: string): Promise<void> {
    this.running.get(workloadId)?.killed.abort();
  }

  async close(): Promise<void> {
    for (const r of this.running.values()) r.killed.abort();
  }
}
