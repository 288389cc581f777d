/**
 * The one place Plue reads its environment. Every variable is declared here with its default (those
 * runners read too in app/wire/runner-env.ts); a bad value stops the process at start with a message
 * naming the variable and what it expected.
 */
import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import path from "node:path";
import { z } from "zod";
import { SIGNUP_MODES } from "./wire/accounts";
import { envProblems } from "./wire/redact";
import { byteSize, RunnerSettings } from "./wire/runner-env";

const bool = z
  .enum(["1", "0", "true", "false", "yes", "no"])
  .transform((v) => v === "1" || v === "true" || v === "yes");

/** Express's names for address ranges, usable in PLUE_TRUST_PROXY. */
const PROXY_RANGES = new Set(["loopback", "linklocal", "uniquelocal"]);
const isProxyAddress = (item: string): boolean => {
  const [ip, bits, ...rest] = item.split("/");
  if (rest.length > 0 || !ip || !isIP(ip)) return PROXY_RANGES.has(item) && bits === undefined;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (isIP(ip) === 4 ? 32 : 128));
};

/**
 * Which proxies' X-Forwarded-For to believe for the client address (Express's `trust proxy`):
 * a number of hops, or addresses, CIDR ranges and loopback/linklocal/uniquelocal, comma-separated.
 * The address is what sign-in limits count per client and what the audit log records.
 */
const trustProxy = z
  .string()
  .trim()
  .refine(
    (v) => /^\d{1,2}$/.test(v) || v.split(",").every((item) => isProxyAddress(item.trim())),
    "a hop count (1) or addresses, CIDR ranges and loopback/linklocal/uniquelocal, comma-separated",
  )
  .transform((v): number | string[] => (/^\d+$/.test(v) ? Number(v) : v.split(",").map((i) => i.trim())))
  .default(["loopback"]);

const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().min(1).default("127.0.0.1"),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "a postgres:// or postgresql:// URL")
    .optional(),
  PLUE_DATA_DIR: z.string().min(1).default(".plue"),
  PLUE_PUBLIC_URL: z.string().url().optional(),
  PLUE_TRUST_PROXY: trustProxy,
  PLUE_MAX_BODY: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i, "a size such as 1mb or 512kb")
    .default("1mb"),
  RUNNER_MODE: z.enum(["local", "in-process", "kubernetes"]).default("local"),
  PLUE_RUNNER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(4),
  PLUE_WARM_POOL: z.coerce.number().int().min(0).max(64).default(0),
  /** LOG_LEVEL, PLUE_SANDBOX(_*), PLUE_WORKSPACE(_SIZE), PLUE_POOL_SECRET: runners read them too. */
  ...RunnerSettings.shape,
  /** Warm pool: how long a runner's long-poll waits; runners silent for two of these are reaped. */
  PLUE_RUNNER_POLL_SECONDS: z.coerce.number().int().min(1).max(300).default(50),
  /**
   * How often every replica sweeps for what a dead server left (recovery.ts), and the warm-pool
   * reaper's period when set (else half a poll period).
   */
  PLUE_REAPER_INTERVAL_MS: z.coerce.number().int().min(100).max(600_000).optional(),
  /** A server on another host whose heartbeat is this old is dead: its workloads fail. */
  PLUE_INSTANCE_LEASE_SECONDS: z.coerce.number().int().min(2).max(3600).default(30),
  /** How long a workload waits for a free pool runner before a cold start is made for it. */
  PLUE_COLD_START_AFTER_MS: z.coerce.number().int().min(0).max(600_000).default(1000),
  /** A workload no runner took within this long fails with that reason. */
  PLUE_RUNNER_QUEUE_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(86_400).default(600),
  /** RUNNER_MODE=kubernetes: the namespace of runner Jobs and pods, and the runner image. */
  PLUE_RUNNER_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "a namespace name")
    .optional(),
  PLUE_RUNNER_IMAGE: z.string().min(1).optional(),
  PLUE_WEBHOOK_SECRET: z.string().min(16, "at least 16 characters").optional(),
  /** `/metrics` answers only `Authorization: Bearer <this>` when set; only direct loopback clients otherwise. */
  PLUE_METRICS_TOKEN: z
    .string()
    .min(16, "at least 16 characters")
    .regex(/^[\x21-\x7e]+$/, "visible ASCII without spaces")
    .optional(),
  /** Webhooks: how old (seconds) a signed X-Plue-Timestamp may be; 60 s of clock skew ahead is allowed. */
  PLUE_WEBHOOK_TOLERANCE_SECONDS: z.coerce.number().int().min(30).max(3600).default(300),
  /** Largest push (the pack receive-pack reads, and the smart-HTTP request body after inflating). */
  PLUE_MAX_PUSH_SIZE: byteSize.prefault("256mb"),
  /** A repository's on-disk size (packs + loose objects) above which pushes are refused; 0 = none. */
  PLUE_REPO_QUOTA: byteSize.prefault("2gb"),
  /** Repositories one (non-admin) user may own; 0 = no limit. */
  PLUE_MAX_REPOS_PER_USER: z.coerce.number().int().min(0).max(1_000_000).default(100),
  /** Per-user creations per hour (non-admins; counted in the database, so across replicas); 0 = no limit. */
  PLUE_REPO_CREATES_PER_HOUR: z.coerce.number().int().min(0).max(1_000_000).default(30),
  PLUE_SESSION_CREATES_PER_HOUR: z.coerce.number().int().min(0).max(1_000_000).default(300),
  PLUE_MODEL: z.string().min(1).default("claude-sonnet-5"),
  PLUE_SEED_DEMO: bool.default(true),
  PLUE_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
  /** Workflow evaluation: worker threads, one event's deadline (all its files together), worker heap. */
  PLUE_WORKFLOW_WORKERS: z.coerce.number().int().min(1).max(64).default(2),
  PLUE_WORKFLOW_DEADLINE_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  PLUE_WORKFLOW_WORKER_MEMORY: byteSize.prefault("256mb"),
  /** Workflow files read per commit, and `@workflow`s per file; beyond them, errors. */
  PLUE_WORKFLOW_FILES_PER_PUSH: z.coerce.number().int().min(1).max(1000).default(50),
  PLUE_WORKFLOWS_PER_FILE: z.coerce.number().int().min(1).max(1000).default(20),
  /** Who may create an account themselves: nobody, people with an invite, or anyone. */
  PLUE_SIGNUP: z.enum(SIGNUP_MODES).default("invite"),
  /** Single sign-on (OpenID Connect): the provider's issuer URL and this server's client; all or none. */
  PLUE_OIDC_ISSUER: z.string().url().optional(),
  PLUE_OIDC_CLIENT_ID: z.string().min(1).optional(),
  PLUE_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
});

const OIDC_VARIABLES = ["PLUE_OIDC_ISSUER", "PLUE_OIDC_CLIENT_ID", "PLUE_OIDC_CLIENT_SECRET"] as const;

/** Single sign-on needs its three variables together: a partial set is a mistake, not "off". */
function oidcProblems(c: z.infer<typeof EnvSchema>): string[] {
  const missing = OIDC_VARIABLES.filter((v) => c[v] === undefined);
  if (missing.length === 0 || missing.length === OIDC_VARIABLES.length) return [];
  const given = OIDC_VARIABLES.filter((v) => !missing.includes(v));
  const verb = given.length > 1 ? "are" : "is";
  return [
    `${missing.join(", ")}: required when ${given.join(", ")} ${verb} set (single sign-on needs all three)`,
  ];
}

/** Derived once by loadConfig and frozen: nothing changes the configuration afterwards. */
export type Config = Readonly<
  z.infer<typeof EnvSchema> & {
    /** Absolute data directory; repositories, the embedded database and the admin token live here. */
    dataDir: string;
    /** Keep the embedded database in memory (`plue dev --memory`). */
    memory: boolean;
    /**
     * The URL clients (and runners) use to reach this server, as configured. With PORT=0 the real
     * port is known only once the server listens: the running platform's `publicUrl()` has it.
     */
    publicUrl: string;
  }
>;

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
    throw new ConfigError(envProblems(parsed.error.issues, env));
  }
  const c = parsed.data;
  const problems = oidcProblems(c);
  if (problems.length > 0) throw new ConfigError(problems);
  const port = overrides.port ?? c.PORT;
  const dataDir = path.resolve(c.PLUE_DATA_DIR);
  return Object.freeze({
    ...c,
    PORT: port,
    // A local warm pool's runners share a secret; this process makes one when given none.
    // Kubernetes must be given one (a Secret the runner pods mount too).
    PLUE_POOL_SECRET:
      c.PLUE_POOL_SECRET ?? (usesWarmPool(c) && c.RUNNER_MODE === "local" ? generatePoolSecret() : undefined),
    dataDir,
    memory: overrides.memory ?? false,
    publicUrl: c.PLUE_PUBLIC_URL ?? `http://${c.HOST}:${port}`,
  });
}

/** Whether this configuration runs workloads through the warm pool. */
export function usesWarmPool(config: Pick<Config, "RUNNER_MODE" | "PLUE_WARM_POOL">): boolean {
  return config.RUNNER_MODE === "kubernetes" || (config.RUNNER_MODE === "local" && config.PLUE_WARM_POOL > 0);
}

/** A pool secret for a server that was given none. */
export function generatePoolSecret(): string {
  return randomBytes(24).toString("base64url");
}
