/**
 * What the local and in-process executors share: at most N workloads run at once, the rest
 * wait in order; abort stops a running one or drops a queued one; every workload that was
 * accepted ends with exactly one `onExit`; close stops everything and waits.
 *
 * The wall time is enforced here, outside the runner (whose own timers do not fire while it is
 * stuck in a synchronous call): at the workload's `wall_time_ms` plus a grace the workload fails
 * naming the limit and its runner is stopped — SIGTERM, then SIGKILL of everything it started
 * after `killGraceMs` — and if even that does not end it (in-process code cannot be killed) the
 * slot is given up after one more `killGraceMs`, so a stuck runner never holds a slot for good.
 */
import type { Logger } from "../../log";
import type { Assignment } from "../../wire/protocol";
import { DEADLINE_GRACE_SECONDS, type Executor, type ExecutorHooks, type ExitInfo } from "../executor";

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
  /** How long a stopped workload has to end before it is killed. @default 5000 */
  readonly killGraceMs?: number;
  /**
   * How long past its wall time a workload may run (its runner's own limit fires first) before
   * the executor stops it. @default DEADLINE_GRACE_SECONDS (120 s), as for pool runners
   */
  readonly wallTimeGraceMs?: number;
}

interface Slot {
  readonly run: Running;
  readonly deadline: NodeJS.Timeout;
  /** Set once it is being stopped (abort, deadline, close): resolves when it ended or was given up. */
  stopping?: Promise<void>;
}

export abstract class SlotExecutor implements Executor {
  abstract readonly name: Executor["name"];
  private readonly queue: Assignment[] = [];
  private readonly running = new Map<string, Slot>();
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
    await this.stopRunning(workloadId);
  }

  /** SIGTERM, SIGKILL after a grace, and after another grace the slot is freed regardless. */
  private stopRunning(id: string): Promise<void> {
    const slot = this.running.get(id);
    if (!slot) return Promise.resolve();
    slot.stopping ??= (async () => {
      const grace = this.options.killGraceMs ?? 5000;
      const { run } = slot;
      run.stop();
      const timers = [
        setTimeout(() => run.kill?.(), grace),
        setTimeout(() => {
          this.log.error({ workload: id }, "a runner did not end after SIGKILL; its slot is given up");
          this.finish(id, slot, { code: null, reason: "runner did not stop; abandoned by the executor" });
        }, 2 * grace),
      ];
      for (const t of timers) t.unref();
      const ended = new Promise<void>((resolve) => {
        run.exited.then(
          () => resolve(),
          () => resolve(),
        );
        timers.push(setTimeout(resolve, 2 * grace).unref());
      });
      await ended;
      for (const t of timers) clearTimeout(t);
    })();
    return slot.stopping;
  }

  private overrun(id: string, assignment: Assignment, graceMs: number): void {
    const slot = this.running.get(id);
    if (!slot || slot.stopping) return;
    const reason = `runner exceeded the workload's wall time limit of ${assignment.workload.limits.wall_time_ms / 1000} s (stopped by the executor ${graceMs / 1000} s past it)`;
    this.log.warn({ workload: id }, reason);
    this.hooks.onOverrun?.(id, reason);
    void this.stopRunning(id);
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
      const graceMs = this.options.wallTimeGraceMs ?? DEADLINE_GRACE_SECONDS * 1000;
      const deadline = setTimeout(
        () => this.overrun(id, assignment, graceMs),
        assignment.workload.limits.wall_time_ms + graceMs,
      );
      deadline.unref();
      const slot: Slot = { run, deadline };
      this.running.set(id, slot);
      run.exited.then(
        (exit) => this.finish(id, slot, exit),
        (err) => this.finish(id, slot, { code: null, reason: `runner failed: ${(err as Error).message}` }),
      );
    }
  }

  /** Once per slot: a runner that ends after its slot was given up changes nothing. */
  private finish(id: string, slot: Slot, exit: ExitInfo): void {
    if (this.running.get(id) !== slot) return;
    clearTimeout(slot.deadline);
    this.running.delete(id);
    try {
      this.hooks.onExit(id, exit);
    } finally {
      if (!this.closed) this.fill();
    }
  }
}
