/**
 * `Pulumi.<stack>.yaml` files: reading them for the offline synth (which has no Pulumi CLI to do
 * it) and writing a new engineer's file with defaults.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parse, stringify } from "yaml";
import { DEFAULT_REGISTRY } from "./config";
import { BASE_STACK, engineerStackName, PRODUCTION_STACK } from "./kind";

export interface StackFileConfig {
  /** Flat `namespace:key` → string, as Pulumi hands config to a program. */
  readonly config: Record<string, string>;
  readonly secretKeys: string[];
}

export function stackFilePath(root: string, stack: string): string {
  return path.join(root, `Pulumi.${stack}.yaml`);
}

/** Stacks with a file in `root`, shared stacks first (engineer stacks reference staging-base). */
export function listStacks(root: string): string[] {
  const stacks = readdirSync(root)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined);
  const rank = (s: string) => (s === BASE_STACK ? 0 : s === PRODUCTION_STACK ? 1 : 2);
  return stacks.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/**
 * Reads a stack's config the way Pulumi passes it to programs: every value a string (structured
 * values as JSON). Encrypted (`secure:`) values cannot be decrypted offline; they become a
 * placeholder and are marked secret.
 */
export function readStackFile(root: string, stack: string): StackFileConfig {
  const file = stackFilePath(root, stack);
  if (!existsSync(file))
    throw new Error(`no stack file ${file}; create it with \`npm run stack:init -- <engineer>\``);
  const doc = (parse(readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    if (!key.includes(":"))
      throw new Error(`${file}: config key "${key}" needs a namespace (e.g. plue:${key})`);
    if (typeof value === "object" && value !== null && "secure" in value) {
      config[key] = "offline-placeholder-for-a-secure-value";
      secretKeys.push(key);
    } else {
      config[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
  }
  return { config, secretKeys };
}

/** The defaults a new engineer stack starts from; deploys override the images by digest. */
export function engineerStackDefaults(registry = DEFAULT_REGISTRY): Record<string, unknown> {
  return {
    // Kubernetes resources must name the cluster's provider; an ambient kubeconfig is never used.
    "pulumi:disable-default-providers": ["kubernetes"],
    "plue:appImage": `${registry}/plue-app:0.1.0`,
    "plue:runnerImage": `${registry}/plue-runner:0.1.0`,
    "plue:appReplicas": 1,
    "plue:warmPoolSize": 2,
  };
}

export interface InitResult {
  readonly stack: string;
  readonly file: string;
}

/** Writes `Pulumi.staging-<engineer>.yaml`; refuses to overwrite an existing file. */
export function writeEngineerStackFile(root: string, engineer: string): InitResult {
  const stack = engineerStackName(engineer);
  const file = stackFilePath(root, stack);
  if (existsSync(file))
    throw new Error(`${path.basename(file)} already exists; edit it, or delete it to start over`);
  const header =
    `# ${stack}: ${engineer}'s Plue on the shared staging cluster (reads ${BASE_STACK} through a StackReference).\n` +
    "# Written by `npm run stack:init`; see docs/infrastructure.md.\n";
  writeFileSync(file, header + stringify({ config: engineerStackDefaults() }), { flag: "wx" });
  return { stack, file };
}
