/**
 * What the dispatcher and the executors agree on. Executors run workloads: `local` (runner child
 * processes), `in-process` (the runner's code in the app), `kubernetes` and the local warm pool
 * (runners claimed from the pool, executors/warm-pool-executor.ts, over a `RunnerBackend`). The
 * dispatcher owns workload rows and tokens; an executor only starts, aborts and watches runners.
 */
import type { Assignment } from "../wire/protocol";

/** Time a runner gets beyond its workload's wall time before it is stopped from outside. */
export const DEADLINE_GRACE_SECONDS = 120;

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

/** How a runner ended. */
export interface ExitInfo {
  code: number | null;
  signal?: string | null;
  reason?: string;
}

// --------------------------------------------------------------------------------------------
// Runners of the warm pool: what differs between local standby processes and Kubernetes pods.

/** A pool runner, as the registry knows it. */
export interface RunnerRef {
  id: string;
  podName: string;
  cold: boolean;
  workloadId: string | null;
}

/** A runner was claimed for a workload (sent to every replica). */
export interface ClaimEvent {
  runner: string;
  pod: string;
  task: string;
  type: Assignment["workload"]["type"];
  /** A runner started for this workload (a Job's pod), not one from the pool. */
  cold: boolean;
  /** The registry instance that made the claim. */
  origin: string;
  /** The sealed assignment (base64), when small enough to ride in the signal. */
  sealed?: string;
}

/**
 * A runner ended. `pod` names it (the pod, or the local process's name); `finishedAt`, when known,
 * keeps a late report from touching a successor registered in the same pod after the exit.
 */
export type ExitReport = (runner: { pod: string; finishedAt?: Date }, exit: ExitInfo) => Promise<void>;

export interface RunnerBackend {
  readonly kind: "local" | "kubernetes";
  /** Starts keeping the pool and watching runners; `exited` is called for every runner that ends. */
  start(
    exited: ExitReport,
    coldStartFailed: (workloadId: string, reason: string) => Promise<void>,
  ): Promise<void>;
  /** Whether a cold start may begin now (a local process budget; Kubernetes always may). */
  canColdStart(): boolean;
  /** Starts a runner for exactly this workload. */
  coldStart(assignment: Assignment): Promise<void>;
  /** A pool runner was claimed, on any replica (`mine`: by this one). */
  claimed(e: ClaimEvent, mine: boolean): void;
  /** Stops a runner (SIGTERM then SIGKILL / pod or Job deletion). Idempotent. */
  stop(runner: RunnerRef): Promise<void>;
  /** Deletes runners nothing needs any more (Kubernetes objects left behind); returns how many. */
  collectOrphans?(): Promise<number>;
  close(): Promise<void>;
}
