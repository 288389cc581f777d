/**
 * The environment of a runner process, declared once: the variable names (`RUNNER_ENV`), which
 * whoever starts a runner sets (the local executors, the runner pod of constructs/k8s/runner-pod.ts),
 * and the schema the runner checks them with before it does anything (runner/main.ts,
 * runner/sandbox/host.ts). The settings the app reads too (log level, sandbox choice and limits,
 * workspace base, pool secret) are `RunnerSettings`, which app/config.ts takes into its own
 * schema, so each has one rule. In the wire module because a runner may load nothing else of the app.
 */
import { z } from "zod";
import { envProblems } from "./redact";

/** The names of the variables a runner reads. */
export const RUNNER_ENV = {
  appUrl: "PLUE_APP_URL",
  mode: "MODE",
  poolSecret: "PLUE_POOL_SECRET",
  podName: "PLUE_POD_NAME",
  podIp: "PLUE_POD_IP",
  taskId: "PLUE_TASK_ID",
  sandbox: "PLUE_SANDBOX",
  workspace: "PLUE_WORKSPACE",
  home: "HOME",
  /** How a local runner tells that the app that started it is gone (runner/standby.ts). */
  lifeline: "PLUE_LIFELINE",
  /** The assignment itself, when it is given neither as a file nor on standard input. */
  assignment: "PLUE_ASSIGNMENT",
  logLevel: "LOG_LEVEL",
  sandboxMemory: "PLUE_SANDBOX_MEMORY",
  sandboxPids: "PLUE_SANDBOX_PIDS",
  sandboxCpus: "PLUE_SANDBOX_CPUS",
  workspaceSize: "PLUE_WORKSPACE_SIZE",
} as const;

/** `512kb`, `256mb`, `2gb` (or plain bytes) as a number of bytes; app/config.ts's sizes too. */
const UNITS = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 } as const;
export const byteSize = z
  .string()
  .regex(/^\d+(b|kb|mb|gb)?$/i, "a size such as 256mb or 2gb")
  .transform((v) => {
    const m = /^(\d+)([a-z]*)$/i.exec(v)!;
    return Number(m[1]) * UNITS[(m[2]!.toLowerCase() || "b") as keyof typeof UNITS];
  });

/** What the app and its runners both read, with the same rules. */
export const RunnerSettings = z.object({
  [RUNNER_ENV.logLevel]: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
    .default("info"),
  [RUNNER_ENV.sandbox]: z.enum(["auto", "gvisor", "bwrap", "none"]).default("auto"),
  /** Runners: where workspaces (repository clones) go; the OS temp dir when unset. Runner pods set it. */
  [RUNNER_ENV.workspace]: z.string().startsWith("/", "an absolute path").optional(),
  /** Runners: whole-sandbox limits; unset = DEFAULT_LIMITS in runner/sandbox/types.ts (one place). */
  [RUNNER_ENV.sandboxMemory]: byteSize.optional(),
  [RUNNER_ENV.sandboxPids]: z.coerce.number().int().min(8).max(1_000_000).optional(),
  [RUNNER_ENV.sandboxCpus]: z.coerce.number().min(0.01).max(1024).optional(),
  [RUNNER_ENV.workspaceSize]: byteSize.optional(),
  [RUNNER_ENV.poolSecret]: z.string().min(16, "at least 16 characters").optional(),
});

/** A runner's whole environment: the shared settings, and what only a runner reads (read as given). */
export const RunnerEnv = RunnerSettings.extend({
  [RUNNER_ENV.appUrl]: z.string().optional(),
  [RUNNER_ENV.mode]: z.string().optional(),
  [RUNNER_ENV.podName]: z.string().optional(),
  [RUNNER_ENV.podIp]: z.string().optional(),
  [RUNNER_ENV.taskId]: z.string().optional(),
  [RUNNER_ENV.lifeline]: z.string().optional(),
  [RUNNER_ENV.assignment]: z.string().optional(),
});
export type RunnerEnv = z.infer<typeof RunnerEnv>;

/** A runner's environment has bad values; the message names each variable, never a secret's value. */
export class RunnerEnvError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "RunnerEnvError";
  }
}

export function parseRunnerEnv(env: NodeJS.ProcessEnv = process.env): RunnerEnv {
  const parsed = RunnerEnv.safeParse(env);
  if (!parsed.success) throw new RunnerEnvError(envProblems(parsed.error.issues, env));
  return parsed.data;
}
