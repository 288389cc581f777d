/**
 * What every part of the app is handed: configuration, the database, the logger, and the
 * shutdown hooks of long-lived pieces (SSE streams, process pools) so SIGTERM drains them all.
 */
import type { Config } from "./config";
import type { Db } from "./db";
import type { Dispatcher } from "./dispatch/dispatcher";
import type { RunnerRegistry } from "./dispatch/registry";
import type { EventHub } from "./events/hub";
import type { SseOptions } from "./events/sse";
import type { GitService } from "./git/service";
import type { Logger } from "./log";
import type { RunService } from "./runs/service";
import type { SessionService } from "./sessions/service";

export interface AppContext {
  readonly config: Config;
  readonly db: Db;
  readonly log: Logger;
  /** Repositories, file reads through the cat-file pool, and push events (app/git). */
  readonly git: GitService;
  /** Live fan-out of the event log (app/events). */
  readonly events: EventHub;
  /** Workloads: creation, task tokens, runner callbacks, abort (app/dispatch). */
  readonly dispatcher: Dispatcher;
  /** The warm pool's runner registry (app/dispatch/registry.ts), behind /internal/runners. */
  readonly runners: RunnerRegistry;
  /** Agent sessions (app/sessions). */
  readonly sessions: SessionService;
  /** Workflow runs: triggers, folding, cancel, rerun (app/runs). */
  readonly runs: RunService;
  /** Heartbeat, retry hint and slow-client bound of SSE streams. */
  readonly sse: SseOptions;
  /** Registers work to do on shutdown; hooks run in reverse order of registration. */
  onShutdown(hook: () => Promise<void> | void): void;
}
