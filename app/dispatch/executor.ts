/**
 * Executors run workloads: `local` (runner child processes), `in-process` (the runner's code in
 * the app), `kubernetes` (runner pods, warm pool first). The dispatcher owns workload rows and
 * tokens; an executor only starts, aborts and watches runners.
 */
import type { Assignment } from "../wire/protocol";

export interface ExecutorHooks {
  /**
   * A runner ended. The app normally learns the outcome from the runner's own `done`/`error`
   * event; this is the backstop for a runner that died without saying so.
   */
  onExit(workloadId: string, exit: { code: number | null; signal?: string | null; reason?: string }): void;
  /**
   * The executor is stopping a runner that overran its workload's deadline (`reason` names the
   * limit): the workload fails now, whatever the runner still does.
   */
  onOverrun?(workloadId: string, reason: string): void;
}

export interface Executor {
  readonly name: "local" | "in-process" | "kubernetes" | "none";
  /** Starts the workload now or queues it; resolves once accepted, not when it ends. */
  dispatch(assignment: Assignment): Promise<void>;
  /** Stops a workload directly (kill / AbortController / delete pod). Idempotent. */
  abort(workloadId: string): Promise<void>;
  /** Prepares to start runners without delay (build, sandbox check, a pre-started runner); optional. */
  warmUp?(): Promise<void>;
  /** Stops everything it started (shutdown). */
  close(): Promise<void>;
}
