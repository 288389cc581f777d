/**
 * What every part of the app is handed: configuration, the database, the logger, and the
 * shutdown hooks of long-lived pieces (SSE streams, process pools) so SIGTERM drains them all.
 */
import type { Config } from "./config";
import type { Db } from "./db";
import type { Logger } from "./log";

export interface AppContext {
  readonly config: Config;
  readonly db: Db;
  readonly log: Logger;
  /** Registers work to do on shutdown; hooks run in reverse order of registration. */
  onShutdown(hook: () => Promise<void> | void): void;
}
