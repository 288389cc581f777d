/**
 * What the local and in-process executors share: at most N workloads run at once, the rest
 * wait in order; abort stops a running one or drops a queued one; every workload that was
 * accepted ends with exactly one `onExit`; close stops everything and waits.
 */
import type { Logger } from "../log";
import type { Assignment } from "../wire/protocol";
import type { Executor, ExecutorHooks } from "./executor";

export interface ExitInfo {
  code: number | null;
  signal?: string | null;
  reason?: string;
}

/** One started workload, as a subclass runs it. */
export interface Running {
  /** Asks it to stop (SIGTERM / abort); it still ends through `exited`. */
  stop(): void;
  /** Forces it to end when stop was not enough (SIGKILL); optional for in-process work. */
  kill?(): void;
  readonly exited: Promise<ExitInfo>;
}

export interface SlotOptions {
  readonly concurrency: number;
  /** How long a stopped workload has to end before it is killed. */
  readonly killGraceMs?: number;
}

export abstract class SlotExecutor implements Executor {
  abstract readonly name: Executor["name"];
  private readonly queue: Assignment[] = [];
  private readonly running = new Map<string, Running>();
  private closed = false;

  constructor(
    protected readonly hooks: ExecutorHooks,
    protected readonly log: Logger,
    private readonly options: SlotOptions,
  ) {}

  protected abstract start(assignment: Assignment): Running;

  async dispatch(assignment: Assignment): Promise<void> {
    if (this.closed) throw new Error(`the ${this.name} executor is shutting down`);
    const id = assignment.workload.id;
    if (this.running.has(id) || this.queue.some((a) => a.workload.id === id)) return; // idempotent
    this.queue.push(assignment);
    this.fill();
  }

  async abort(workloadId: string): Promise<void> {
    const queued = this.queue.findIndex((a) => a.workload.id === workloadId);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.hooks.onExit(workloadId, { code: null, reason: "aborted before it started" });
      return;
    }
    const run = this.running.get(workloadId);
    if (!run) return;
    run.stop();
    const grace = setTimeout(() => run.kill?.(), this.options.killGraceMs ?? 5000);
    grace.unref();
    await run.exited;
    clearTimeout(grace);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const a of this.queue.splice(0)) {
      this.hooks.onExit(a.workload.id, { code: null, reason: "the server shut down before it started" });
    }
    await Promise.all([...this.running.keys()].map((id) => this.abort(id)));
  }

  /** Workloads running now (for status pages and tests). */
  get active(): string[] {
    return [...this.running.keys()];
  }

  /** Workloads waiting for a slot, in order. */
  get waiting(): string[] {
    return this.queue.map((a) => a.workload.id);
  }

  private fill(): void {
    while (this.running.size < this.options.concurrency && this.queue.length > 0) {
      const assignment = this.queue.shift()!;
      const id = assignment.workload.id;
      let run: Running;
      try {
        run = this.start(assignment);
      } catch (err) {
        this.log.error({ err, workload: id }, "cannot start runner");
        this.hooks.onExit(id, { code: null, reason: `runner failed to start: ${(err as Error).message}` });
        continue;
      }
      this.running.set(id, run);
      run.exited.then(
        (exit) => this.finish(id, exit),
        (err) => this.finish(id, { code: null, reason: `runner failed: ${(err as Error).message}` }),
      );
    }
  }

  private finish(id: string, exit: ExitInfo): void {
    this.running.delete(id);
    try {
      this.hooks.onExit(id, exit);
    } finally {
      if (!this.closed) this.fill();
    }
  }
}
