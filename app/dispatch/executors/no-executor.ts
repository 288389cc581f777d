/**
 * The executor of a server that has none configured: every workload fails at once with a reason
 * the user sees in the stream ("no executor configured"), instead of waiting forever.
 */
import type { Executor } from "../executor";

export class NoExecutor implements Executor {
  readonly name = "none" as const;

  async dispatch(): Promise<void> {
    throw new Error("no executor configured");
  }

  async abort(): Promise<void> {}

  async close(): Promise<void> {}
}
