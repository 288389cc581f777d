/**
 * A bounded pool of `cat-file` processes keyed by repository. A caller checks a process out,
 * uses it alone, and gives it back; a process that died or was left dirty is killed and
 * forgotten, and the next checkout spawns a fresh one. Idle processes age out after a TTL, and
 * when the global bound is reached the least recently used idle process of another repository
 * makes room. Callers beyond the bounds wait in FIFO order.
 */
import client from "prom-client";
import { registry } from "../metrics";
import { CatFileError, CatFileProcess } from "./catfile";

export interface CatFilePoolOptions {
  /** Processes across all repositories (idle and busy). */
  maxProcesses?: number;
  /** Processes for one repository; more concurrent readers of it wait. */
  maxPerRepo?: number;
  /** An idle process older than this is closed. */
  idleTtlMs?: number;
  /** How long a caller may wait for a process before giving up. */
  acquireTimeoutMs?: number;
}

const metrics = {
  checkouts: new client.Counter({
    name: "plue_git_catfile_checkouts_total",
    help: "cat-file checkouts by outcome: hit (idle process reused), spawn, wait",
    labelNames: ["outcome"],
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

interface Waiter {
  gitDir: string;
  resolve(p: CatFileProcess): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class CatFilePool {
  private readonly maxProcesses: number;
  private readonly maxPerRepo: number;
  private readonly idleTtlMs: number;
  private readonly acquireTimeoutMs: number;
  /** Idle processes per repository, most recently used last. */
  private readonly idle = new Map<string, CatFileProcess[]>();
  /** Live processes per repository, idle and busy. */
  private readonly live = new Map<string, Set<CatFileProcess>>();
  private total = 0;
  private waiters: Waiter[] = [];
  private readonly ticker: NodeJS.Timeout;
  private closed = false;

  constructor(options: CatFilePoolOptions = {}) {
    this.maxProcesses = options.maxProcesses ?? 100;
    this.maxPerRepo = Math.min(options.maxPerRepo ?? 8, this.maxProcesses);
    this.idleTtlMs = options.idleTtlMs ?? 10_000;
    this.acquireTimeoutMs = options.acquireTimeoutMs ?? 10_000;
    this.ticker = setInterval(() => this.evictIdle(), Math.max(250, Math.min(this.idleTtlMs / 2, 5000)));
    this.ticker.unref();
  }

  /** Runs `fn` with a process of its own; the process goes back to the pool (or dies) after. */
  async use<T>(gitDir: string, fn: (p: CatFileProcess) => Promise<T>): Promise<T> {
    const p = await this.acquire(gitDir);
    try {
      return await fn(p);
    } finally {
      this.release(p);
    }
  }

  acquire(gitDir: string): Promise<CatFileProcess> {
    const p = this.tryAcquire(gitDir);
    if (p) return Promise.resolve(p);
    metrics.checkouts.inc({ outcome: "wait" });
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        gitDir,
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

  /** Gives a process back. Dirty or dead ones are killed here. */
  release(p: CatFileProcess): void {
    if (!p.reusable || this.closed) {
      if (p.alive) metrics.discarded.inc({ reason: this.closed ? "shutdown" : "dirty" });
      this.forget(p);
      p.close();
      this.serveWaiters();
      return;
    }
    p.lastUsed = Date.now();
    const i = this.waiters.findIndex((w) => w.gitDir === p.gitDir);
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      clearTimeout(w!.timer);
      metrics.checkouts.inc({ outcome: "hit" });
      w!.resolve(p);
      return;
    }
    const list = this.idle.get(p.gitDir);
    if (list) list.push(p);
    else this.idle.set(p.gitDir, [p]);
    this.serveWaiters();
  }

  stats(): { total: number; idle: number; waiting: number; pids: Record<string, number[]> } {
    const pids: Record<string, number[]> = {};
    for (const [dir, set] of this.live) pids[dir] = [...set].map((p) => p.pid ?? -1);
    let idle = 0;
    for (const list of this.idle.values()) idle += list.length;
    return { total: this.total, idle, waiting: this.waiters.length, pids };
  }

  /** Closes every process of a repository (e.g. after it was deleted or rewritten on disk). */
  closeRepo(gitDir: string): void {
    for (const p of [...(this.idle.get(gitDir) ?? [])]) {
      this.forget(p);
      p.close();
    }
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
    const all = [...this.live.values()].flatMap((s) => [...s]);
    for (const list of [...this.idle.values()]) {
      for (const p of [...list]) {
        metrics.discarded.inc({ reason: "shutdown" });
        this.forget(p);
        p.close();
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
      timer.unref();
    });
    await Promise.race([Promise.all(all.map((p) => p.exited())), grace]);
    clearTimeout(timer);
    for (const p of all) {
      this.forget(p);
      p.close();
    }
    await Promise.all(all.map((p) => p.exited()));
  }

  private tryAcquire(gitDir: string): CatFileProcess | undefined {
    const list = this.idle.get(gitDir);
    while (list && list.length > 0) {
      const p = list.pop()!;
      if (p.reusable) {
        metrics.checkouts.inc({ outcome: "hit" });
        return p;
      }
      this.forget(p);
      p.close();
    }
    const mine = this.live.get(gitDir)?.size ?? 0;
    if (mine >= this.maxPerRepo) return undefined;
    if (this.total >= this.maxProcesses && !this.evictOldestIdle()) return undefined;
    metrics.checkouts.inc({ outcome: "spawn" });
    return this.spawn(gitDir);
  }

  private spawn(gitDir: string): CatFileProcess {
    const p = new CatFileProcess(gitDir, (dead) => {
      // Died on its own (or was killed from outside): drop it so the next checkout spawns anew.
      if (this.forget(dead)) {
        metrics.discarded.inc({ reason: "dead" });
        this.serveWaiters();
      }
    });
    const set = this.live.get(gitDir);
    if (set) set.add(p);
    else this.live.set(gitDir, new Set([p]));
    this.total++;
    metrics.processes.set(this.total);
    return p;
  }

  /** Removes a process from the books; true if it was still on them. */
  private forget(p: CatFileProcess): boolean {
    const set = this.live.get(p.gitDir);
    if (!set?.delete(p)) return false;
    if (set.size === 0) this.live.delete(p.gitDir);
    const list = this.idle.get(p.gitDir);
    if (list) {
      const i = list.indexOf(p);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.idle.delete(p.gitDir);
    }
    this.total--;
    metrics.processes.set(this.total);
    return true;
  }

  private evictOldestIdle(): boolean {
    let oldest: CatFileProcess | undefined;
    for (const list of this.idle.values()) {
      const p = list[0];
      if (p && (!oldest || p.lastUsed < oldest.lastUsed)) oldest = p;
    }
    if (!oldest) return false;
    metrics.discarded.inc({ reason: "evicted" });
    this.forget(oldest);
    oldest.close();
    return true;
  }

  private evictIdle(): void {
    const cutoff = Date.now() - this.idleTtlMs;
    for (const list of [...this.idle.values()]) {
      for (const p of list.filter((q) => q.lastUsed < cutoff)) {
        metrics.discarded.inc({ reason: "idle" });
        this.forget(p);
        p.close();
      }
    }
  }

  private serveWaiters(): void {
    for (const w of [...this.waiters]) {
      const p = this.tryAcquire(w.gitDir);
      if (!p) continue;
      this.waiters = this.waiters.filter((x) => x !== w);
      clearTimeout(w.timer);
      w.resolve(p);
    }
  }
}
