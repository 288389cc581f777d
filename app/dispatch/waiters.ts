/**
 * The runners' long-polls held by this replica, and how they are woken: by a claim signal for
 * their runner (any replica's claim reaches the replica holding the poll), by a queue signal
 * (one waiting runner goes to look at the queue), or by shutdown (all of them answer at once).
 */
import type { Assignment } from "../wire/protocol";

/** One long-poll. `queueWake` marks a wake meant for "take from the queue". */
export class Waiter {
  queueWake = false;
  /** The assignment, when the claim's signal carried it (no database read needed). */
  handed?: Assignment;
  /** Between its database check's start and end. */
  checking = false;
  private woken = false;
  private resolve?: () => void;

  constructor(readonly runnerId: string) {}

  wake(queue: boolean): void {
    if (queue) this.queueWake = true;
    this.woken = true;
    this.resolve?.();
  }

  get pending(): boolean {
    return !this.woken;
  }

  /** Resolves on a wake (also one that came before this call), the timeout, or the signal. */
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (this.woken || signal.aborted) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.resolve = undefined;
        this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.resolve = done;
    });
  }
}

/** The long-polls held here, by runner id, oldest first. */
export class Waiters {
  private readonly byRunner = new Map<string, Set<Waiter>>();

  add(runnerId: string): Waiter {
    const w = new Waiter(runnerId);
    const set = this.byRunner.get(runnerId) ?? new Set();
    set.add(w);
    this.byRunner.set(runnerId, set);
    return w;
  }

  remove(w: Waiter): void {
    const set = this.byRunner.get(w.runnerId);
    set?.delete(w);
    if (set?.size === 0) this.byRunner.delete(w.runnerId);
  }

  /** One runner's long-polls, oldest first. */
  of(runnerId: string): Waiter[] {
    return [...(this.byRunner.get(runnerId) ?? [])];
  }

  /** Ends every long-poll (shutdown). */
  wakeAll(): void {
    for (const set of this.byRunner.values()) for (const w of set) w.wake(false);
  }

  /**
   * Wakes the longest-waiting runner here that is asleep, else one in the middle of a check (its
   * check may have read the queue before this item arrived).
   */
  wakeForQueue(): void {
    let busy: Waiter | undefined;
    for (const set of this.byRunner.values()) {
      for (const w of set) {
        if (!w.pending) continue;
        if (!w.checking) {
          w.wake(true);
          return;
        }
        busy ??= w;
      }
    }
    busy?.wake(true);
  }

  /** How many long-polls are held here. */
  get size(): number {
    let n = 0;
    for (const set of this.byRunner.values()) n += set.size;
    return n;
  }
}
