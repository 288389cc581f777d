/**
 * A bounded pool of `cat-file` processes keyed by repository.
 *
 * Two kinds of checkout. A *shared* one is for exchanges whose answers are read at once (object
 * headers, trees, small blobs): many callers pipeline their commands on the same process, which
 * is what makes small reads cheap. An *exclusive* one is for streaming a large object to a client
 * at the client's pace: nobody else's answers can be stuck behind it. A process that died or was
 * left dirty (an abandoned stream) is killed and forgotten; the next checkout spawns a fresh one.
 *
 * A repository gets another process when its busiest ones carry `sharedPerProcess` callers, up
 * to `maxPerRepo`; at `maxProcesses` overall, the least recently used idle process of another
 * repository makes room. Idle processes age out after `idleTtlMs`. Callers beyond the bounds
 * wait in FIFO order.
 */
import client from "prom-client";
import { registry } from "../metrics";
import { CatFileError, CatFileProcess } from "./catfile";

export interface CatFilePoolOptions {
  /** Processes across all repositories (idle and busy). */
  maxProcesses?: number;
  /** Processes for one repository. */
  maxPerRepo?: number;
  /** Shared callers on one process before the repository gets another process. */
  sharedPerProcess?: number;
  /** An idle process older than this is closed. */
  idleTtlMs?: number;
  /** How long a caller may wait for a process before giving up. */
  acquireTimeoutMs?: number;
}

export type CheckoutMode = "shared" | "exclusive";

const metrics = {
  checkouts: new client.Counter({
    name: "plue_git_catfile_checkouts_total",
    help: "cat-file checkouts by mode and outcome: reuse (a live process), spawn, wait",
    labelNames: ["mode", "outcome"],
    registers: [registry],
  }),
  discarded: new client.Counter({
    name: "plue_git_catfile_discarded_total",
    help: "cat-file processes closed, by reason: dirty, dead, idle, evicted, shutdown",
    labelNames: ["reason"],
    registers: [registry],
  }),
  processes: new client.Gauge({
    name: "plue_git_catfile_processes",
    help: "live cat-file processes",
    registers: [registry],
  }),
};

interface Entry {
  p: CatFileProcess;
  /** Callers holding it; an exclusive checkout is one caller with `exclusive` set. */
  users: number;
  exclusive: boolean;
  /** Its repository was deleted: it takes no new callers and closes when given back. */
  retired?: boolean;
}

interface Waiter {
  gitDir: string;
  mode: CheckoutMode;
  resolve(p: CatFileProcess): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class CatFilePool {
  private readonly maxProcesses: number;
  private readonly maxPerRepo: number;
  private readonly sharedPerProcess: number;
  private readonly idleTtlMs: number;
  private readonly acquireTimeoutMs: number;
  /** Live processes per repository. */
  private readonly repos = new Map<string, Entry[]>();
  private readonly entries = new Map<CatFileProcess, Entry>();
  private waiters: Waiter[] = [];
  private readonly ticker: NodeJS.Timeout;
  private closed = false;

  constructor(options: CatFilePoolOptions = {}) {
    this.maxProcesses = options.maxProcesses ?? 100;
    this.maxPerRepo = Math.min(options.maxPerRepo ?? 4, this.maxProcesses);
    this.sharedPerProcess = options.sharedPerProcess ?? 64;
    this.idleTtlMs = options.idleTtlMs ?? 10_000;
    this.acquireTimeoutMs = options.acquireTimeoutMs ?? 10_000;
    this.ticker = setInterval(() => this.evictIdle(), Math.max(250, Math.min(this.idleTtlMs / 2, 5000)));
    this.ticker.unref();
  }

  /** Runs `fn` on a checked-out process and gives it back (or kills it, if dirty) after. */
  async use<T>(gitDir: string, mode: CheckoutMode, fn: (p: CatFileProcess) => Promise<T>): Promise<T> {
    const p = await this.acquire(gitDir, mode);
    try {
      return await fn(p);
    } finally {
      this.release(p);
    }
  }

  acquire(gitDir: string, mode: CheckoutMode = "exclusive"): Promise<CatFileProcess> {
    const p = this.tryAcquire(gitDir, mode);
    if (p) return Promise.resolve(p);
    metrics.checkouts.inc({ mode, outcome: "wait" });
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        gitDir,
        mode,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new CatFileError(`no cat-file process became free within ${this.acquireTimeoutMs} ms`));
        }, this.acquireTimeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Gives a checkout back. The last caller of a dirty or dead process kills it. */
  release(p: CatFileProcess): void {
    const e = this.entries.get(p);
    if (!e) return; // already forgotten (died)
    e.users--;
    e.exclusive = false;
    // Answers still on their way (a skipped object being read past) do no harm: later commands
    // queue behind them. Only a dirty pipe (an abandoned stream) cannot be reused.
    if (e.users === 0 && (!p.clean || this.closed || e.retired)) {
      if (p.alive)
        metrics.discarded.inc({ reason: this.closed ? "shutdown" : e.retired ? "evicted" : "dirty" });
      this.forget(p);
      p.close();
    }
    this.serveWaiters();
  }

  /**
   * Closes a deleted repository's processes: idle ones now, busy ones when given back. None of them
   * may serve a repository created later at the same path (they hold the old one's packs open).
   */
  retire(gitDir: string): void {
    for (const e of [...(this.repos.get(gitDir) ?? [])]) {
      if (e.users === 0) this.discard(e.p, "evicted");
      else e.retired = true;
    }
    this.repos.delete(gitDir);
  }

  stats(): { total: number; idle: number; waiting: number; pids: Record<string, number[]> } {
    const pids: Record<string, number[]> = {};
    for (const [dir, list] of this.repos) pids[dir] = list.map((e) => e.p.pid ?? -1);
    let idle = 0;
    for (const e of this.entries.values()) if (e.users === 0) idle++;
    return { total: this.entries.size, idle, waiting: this.waiters.length, pids };
  }

  /**
   * Closes idle processes now and busy ones as they are given back, so requests in flight during
   * a graceful shutdown still finish; whatever is still running after `graceMs` is killed.
   */
  async close(graceMs = 5000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ticker);
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new CatFileError("cat-file pool is closed"));
    }
    const all = [...this.entries.values()];
    for (const e of all.filter((x) => x.users === 0)) this.discard(e.p, "shutdown");
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
      timer.unref();
    });
    await Promise.race([Promise.all(all.map((e) => e.p.exited())), grace]);
    clearTimeout(timer);
    for (const e of all) this.discard(e.p, "shutdown");
    await Promise.all(all.map((e) => e.p.exited()));
  }

  private tryAcquire(gitDir: string, mode: CheckoutMode): CatFileProcess | undefined {
    const list = this.repos.get(gitDir) ?? [];
    let pick: Entry | undefined;
    if (mode === "exclusive") {
      // The most recently used idle process: its pages are warm.
      for (const e of list) if (e.users === 0 && (!pick || e.p.lastUsed > pick.p.lastUsed)) pick = e;
    } else {
      for (const e of list) if (!e.exclusive && (!pick || e.users < pick.users)) pick = e;
      if (pick && pick.users >= this.sharedPerProcess && this.canSpawn(gitDir, list.length)) pick = undefined;
    }
    if (!pick) {
      if (!this.canSpawn(gitDir, list.length)) return undefined;
      if (this.entries.size >= this.maxProcesses) this.evictOldestIdle();
      pick = this.spawn(gitDir);
      metrics.checkouts.inc({ mode, outcome: "spawn" });
    } else metrics.checkouts.inc({ mode, outcome: "reuse" });
    pick.users++;
    pick.exclusive = mode === "exclusive";
    return pick.p;
  }

  private canSpawn(gitDir: string, forRepo: number): boolean {
    if (this.closed || forRepo >= this.maxPerRepo) return false;
    if (this.entries.size < this.maxProcesses) return true;
    for (const e of this.entries.values()) if (e.users === 0 && e.p.gitDir !== gitDir) return true;
    return false;
  }

  private spawn(gitDir: string): Entry {
    const p = new CatFileProcess(gitDir, (dead) => {
      // Died on its own (or was killed from outside): drop it so the next checkout spawns anew.
      if (this.forget(dead)) {
        metrics.discarded.inc({ reason: "dead" });
        this.serveWaiters();
      }
    });
    const e: Entry = { p, users: 0, exclusive: false };
    this.entries.set(p, e);
    const list = this.repos.get(gitDir);
    if (list) list.push(e);
    else this.repos.set(gitDir, [e]);
    metrics.processes.set(this.entries.size);
    return e;
  }

  /** Removes a process from the books; true if it was still on them. */
  private forget(p: CatFileProcess): boolean {
    if (!this.entries.delete(p)) return false;
    const list = this.repos.get(p.gitDir) ?? [];
    const i = list.findIndex((e) => e.p === p);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.repos.delete(p.gitDir);
    metrics.processes.set(this.entries.size);
    return true;
  }

  private discard(p: CatFileProcess, reason: string): void {
    if (this.forget(p)) metrics.discarded.inc({ reason });
    p.close();
  }

  private evictOldestIdle(): void {
    let oldest: Entry | undefined;
    for (const e of this.entries.values()) {
      if (e.users === 0 && (!oldest || e.p.lastUsed < oldest.p.lastUsed)) oldest = e;
    }
    if (oldest) this.discard(oldest.p, "evicted");
  }

  private evictIdle(): void {
    const cutoff = Date.now() - this.idleTtlMs;
    for (const e of [...this.entries.values()]) {
      if (e.users === 0 && e.p.lastUsed < cutoff) this.discard(e.p, "idle");
    }
  }

  private serveWaiters(): void {
    for (const w of [...this.waiters]) {
      const p = this.tryAcquire(w.gitDir, w.mode);
      if (!p) continue;
      this.waiters = this.waiters.filter((x) => x !== w);
      clearTimeout(w.timer);
      w.resolve(p);
    }
  }
}
