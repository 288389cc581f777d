/** Builds the executor RUNNER_MODE names (DESIGN.md §1 dispatch/). */
import type { AppContext } from "../context";
import type { Executor, ExecutorHooks } from "./executor";
import { InProcessExecutor } from "./in-process";
import { LocalExecutor, type LocalExecutorOptions } from "./local";

export interface ExecutorOverrides {
  /** Extra environment for local runners (tests point ANTHROPIC_BASE_URL at a fake model). */
  readonly env?: LocalExecutorOptions["env"];
}

export function createExecutor(
  ctx: Pick<AppContext, "config" | "log">,
  hooks: ExecutorHooks,
  overrides: ExecutorOverrides = {},
): Executor {
  const { config } = ctx;
  const log = ctx.log.child({ component: "executor" });
  const concurrency = config.PLUE_RUNNER_CONCURRENCY;
  switch (config.RUNNER_MODE) {
    case "local":
      return new LocalExecutor(hooks, log, { concurrency, sandbox: config.PLUE_SANDBOX, env: overrides.env });
    case "in-process":
      return new InProcessExecutor(hooks, log, { concurrency, sandbox: config.PLUE_SANDBOX });
    case "kubernetes":
      throw new Error(
        "RUNNER_MODE=kubernetes: the Kubernetes executor is not available in this build yet; use RUNNER_MODE=local or in-process",
      );
  }
}
