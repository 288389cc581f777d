/**
 * The one place Plue reads its environment. Every variable is declared here with its default;
 * a bad value stops the process at start with a message naming the variable and what it expected.
 */
import path from "node:path";
import { z } from "zod";

const bool = z
  .enum(["1", "0", "true", "false", "yes", "no"])
  .transform((v) => v === "1" || v === "true" || v === "yes");

const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().min(1).default("127.0.0.1"),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "a postgres:// or postgresql:// URL")
    .optional(),
  PLUE_DATA_DIR: z.string().min(1).default(".plue"),
  PLUE_PUBLIC_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  PLUE_MAX_BODY: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i, "a size such as 1mb or 512kb")
    .default("1mb"),
  RUNNER_MODE: z.enum(["local", "in-process", "kubernetes"]).default("local"),
  PLUE_RUNNER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(4),
  PLUE_WARM_POOL: z.coerce.number().int().min(0).max(64).default(0),
  PLUE_SANDBOX: z.enum(["auto", "gvisor", "bwrap", "none"]).default("auto"),
  PLUE_POOL_SECRET: z.string().min(16, "at least 16 characters").optional(),
  PLUE_WEBHOOK_SECRET: z.string().min(16, "at least 16 characters").optional(),
  PLUE_MODEL: z.string().min(1).default("claude-sonnet-4-5"),
  PLUE_SEED_DEMO: bool.default(true),
  PLUE_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
});

export type Config = z.infer<typeof EnvSchema> & {
  /** Absolute data directory; repositories, the embedded database and the admin token live here. */
  dataDir: string;
  /** Keep the embedded database in memory (`plue dev --memory`). */
  memory: boolean;
  /** The URL clients (and runners) use to reach this server. */
  publicUrl: string;
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: { memory?: boolean; port?: number } = {},
): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = i.path.join(".");
        const value = env[name];
        return `${name}=${JSON.stringify(value)}: ${i.message}`;
      }),
    );
  }
  const c = parsed.data;
  const port = overrides.port ?? c.PORT;
  const dataDir = path.resolve(c.PLUE_DATA_DIR);
  return {
    ...c,
    PORT: port,
    dataDir,
    memory: overrides.memory ?? false,
    publicUrl: c.PLUE_PUBLIC_URL ?? `http://${c.HOST}:${port}`,
  };
}
