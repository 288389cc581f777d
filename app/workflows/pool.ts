/**
 * Workflow evaluation off the main thread: batches (batch.ts) run in a pool of worker threads
 * (piscina), so a hostile workflow file cannot hold the event loop that answers HTTP.
 *
 * - A batch has a deadline for all of its files together, counted from when a worker takes it (time
 *   spent waiting for a free worker is not the file's fault). The interpreter stops itself at the
 *   deadline; if a worker is still busy `KILL_GRACE_MS` later (the parser, an uninterruptible
 *   builtin), the task is aborted, which terminates that worker thread; piscina starts another.
 * - `serial(key, fn)` runs one key's work (a repository's events) one at a time, so one repository
 *   occupies at most one worker however often it pushes, and the other workers keep serving others.
 * - Workers are started on first use, not at start-up, and then kept warm.
 */
import fs from "node:fs";
import type { Piscina } from "piscina";
import type { BatchRequest, BatchResponse, FileOutcome } from "./batch";
import { type Deadline, deadlineMessage, type Limits } from "./budget";

/** How long after its deadline a busy worker is terminated. */
export const KILL_GRACE_MS = 500;

export type PoolOptions = {
  /** Worker threads (PLUE_WORKFLOW_WORKERS). */
  threads: number;
  /** Deadline of one event's evaluation, all files together (PLUE_WORKFLOW_DEADLINE_MS). */
  deadlineMs: number;
  /** Heap of one worker in MiB (PLUE_WORKFLOW_WORKER_MEMORY). */
  memoryMb: number;
  limits?: Partial<Limits>;
};

export const DEFAULT_POOL_OPTIONS: PoolOptions = { threads: 2, deadlineMs: 10_000, memoryMb: 256 };

export type BatchInput = Omit<BatchRequest, "deadline" | "limits">;

/** A batch's answer, and the milliseconds of the deadline it used (a second batch gets the rest). */
export type PoolAnswer = BatchResponse & { spentMs: number };

export class WorkflowPool {
  private pool: Promise<Piscina> | undefined;
  /** Settles when a worker of the current pool has started (a cold start is not a file's fault). */
  private started: Promise<unknown> | undefined;
  private busy = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Workers terminated at a deadline (for tests and logs). */
  killed = 0;

  constructor(readonly options: PoolOptions = DEFAULT_POOL_OPTIONS) {
    if (!Number.isInteger(options.threads) || options.threads < 1) throw new Error("threads must be ≥ 1");
  }

  /**
   * Evaluates a batch in a worker. `spentMs` of the deadline were used by an earlier batch of the
   * same event. Never rejects: a batch stopped at its deadline, or a worker that died, gives every
   * file an error (retryable, like the interpreter's own time budget).
   */
  async run(input: BatchInput, spentMs = 0): Promise<PoolAnswer> {
    await this.acquire();
    await this.ready();
    const started = Date.now();
    const budget = Math.max(0, this.options.deadlineMs - spentMs);
    const deadline: Deadline = { at: started + budget, ms: this.options.deadlineMs };
    const signal = AbortSignal.timeout(budget + KILL_GRACE_MS);
    try {
      const request: BatchRequest = { ...input, deadline, limits: this.options.limits ?? {} };
      const res = (await (await this.piscina()).run(request, { signal })) as BatchResponse;
      return { ...res, spentMs: spentMs + Date.now() - started };
    } catch (err) {
      if (signal.aborted) {
        this.killed++;
        this.started = undefined; // the replacement worker starts before the next deadline does
      }
      const message = signal.aborted ? deadlineMessage(deadline) : workerFailure(err, this.options);
      return { files: input.files.map((f) => failed(f, message)), spentMs: this.options.deadlineMs };
    } finally {
      this.release();
    }
  }

  /** Runs `fn` after every earlier `serial` call with the same key has settled. */
  serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return next;
  }

  /** Starts the workers now (they otherwise start with the first batch). */
  warm(): Promise<unknown> {
    return this.ready();
  }

  private ready(): Promise<unknown> {
    this.started ??= this.piscina()
      .then((pool) => pool.run("ping"))
      .catch(() => undefined);
    return this.started;
  }

  /** Stops the workers; a later batch starts new ones. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    this.started = undefined;
    await (await pool)?.destroy();
  }

  /** piscina is imported on first use: loading it costs ~90 ms that start-up need not pay. */
  private piscina(): Promise<Piscina> {
    this.pool ??= import("piscina").then(
      ({ Piscina }) =>
        new Piscina({
          filename: workerFile(),
          minThreads: this.options.threads,
          maxThreads: this.options.threads,
          idleTimeout: 60_000,
          resourceLimits: { maxOldGenerationSizeMb: this.options.memoryMb },
          // Linux nices each worker thread (@napi-rs/nice): on a busy machine, HTTP on the main thread wins.
          niceIncrement: 10,
        }),
    );
    return this.pool;
  }

  /** At most `threads` batches are handed to piscina, so a batch's deadline starts when it runs. */
  private async acquire(): Promise<void> {
    if (this.busy < this.options.threads) {
      this.busy++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.busy--;
  }
}

/** The bundle's prebuilt worker beside this chunk, or the checkout's loader (worker.mjs). */
export function workerFile(): string {
  const bundled = new URL("./workflow-worker.js", import.meta.url);
  if (fs.existsSync(bundled)) return bundled.href;
  return new URL("./worker.mjs", import.meta.url).href;
}

function failed(f: { path: string; blobId: string }, message: string): FileOutcome {
  return {
    path: f.path,
    blobId: f.blobId,
    result: { ok: false, errors: [{ path: f.path, line: 1, col: 1, message }], retryable: true },
    plans: [],
  };
}

function workerFailure(err: unknown, options: PoolOptions): string {
  const code = (err as { code?: string } | undefined)?.code;
  if (code === "ERR_WORKER_OUT_OF_MEMORY")
    return `evaluating the workflow files of this event ran out of memory (the limit is ${options.memoryMb} MiB, PLUE_WORKFLOW_WORKER_MEMORY)`;
  return `internal error: workflow evaluation failed: ${err instanceof Error ? err.message : String(err)}`;
}
