/**
 * Stack configuration: one zod schema per kind of stack over the flat `namespace:key` names found in
 * `Pulumi.<stack>.yaml`. Parsing is pure (tests and the CLI use it without loading Pulumi);
 * infra/program.ts feeds it from Pulumi's config. A bad value fails the program with every problem listed by its full key.
 */
import { z } from "zod";
import type { StackKind } from "./kind";
import { PRODUCTION_DOMAIN } from "./names";

/** The one registry images may come from unless a stack configures another (`plue:registry`). */
export const DEFAULT_REGISTRY = "us-docker.pkg.dev/plue-platform/plue";
export const DEFAULT_REGION = "us-central1";

const IMAGE_REF = /^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)+(:[\w][\w.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;
const image = z.string().regex(IMAGE_REF, "an image reference such as <registry>/plue-app:<tag>[@sha256:…]");
const count = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const domain = z.string().regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$/, "a lowercase DNS name");

const cluster = {
  "gcp:project": z.string().regex(/^[a-z][-a-z0-9]{4,28}[a-z0-9]$/, "a GCP project id"),
  "gcp:region": z.string().default(DEFAULT_REGION),
  "plue:sandboxMachineType": z.string().default("e2-standard-4"),
  "plue:sandboxMinNodes": count(0, 100).default(1),
  "plue:sandboxMaxNodes": count(1, 100).default(20),
};

const app = {
  "plue:registry": z.string().default(DEFAULT_REGISTRY),
  "plue:appImage": image,
  "plue:runnerImage": image,
};

export const StagingBaseConfig = z.object({
  ...cluster,
  "plue:sqlTier": z.string().default("db-custom-1-3840"),
});

export const StagingEngineerConfig = z.object({
  ...app,
  "plue:appReplicas": count(1, 20).default(1),
  "plue:warmPoolSize": count(0, 50).default(2),
  /** `<org>/plue/staging-base` unless set. */
  "plue:baseStack": z.string().optional(),
});

export const ProductionConfig = z.object({
  ...cluster,
  ...app,
  "plue:sqlTier": z.string().default("db-custom-2-7680"),
  "plue:domain": domain.default(PRODUCTION_DOMAIN),
  "plue:appReplicas": count(2, 50).default(3),
  "plue:warmPoolSize": count(0, 100).default(5),
});

export type StagingBaseConfig = z.output<typeof StagingBaseConfig>;
export type StagingEngineerConfig = z.output<typeof StagingEngineerConfig>;
export type ProductionConfig = z.output<typeof ProductionConfig>;

/** The sandbox node pool's machine type and autoscaling bounds, as a stack with a cluster sets them. */
export function sandboxPoolSize(config: StagingBaseConfig | ProductionConfig) {
  return {
    machineType: config["plue:sandboxMachineType"],
    minNodes: config["plue:sandboxMinNodes"],
    maxNodes: config["plue:sandboxMaxNodes"],
  };
}

const SCHEMAS = {
  "staging-base": StagingBaseConfig,
  "staging-engineer": StagingEngineerConfig,
  production: ProductionConfig,
} as const;

type Schemas = typeof SCHEMAS;
export type ConfigFor<K extends StackKind["kind"]> = z.output<Schemas[K]>;

export class StackConfigError extends Error {
  constructor(
    readonly stackName: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid configuration for stack ${stackName}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "StackConfigError";
  }
}

/** The config keys a kind of stack reads (and `stack init` may write). */
export function configKeys(kind: StackKind["kind"]): string[] {
  return Object.keys(SCHEMAS[kind].shape);
}

/** Validates raw config values (strings, as Pulumi stores them) for a kind of stack. */
export function parseStackConfig<K extends StackKind["kind"]>(
  kind: K,
  stack: string,
  raw: Readonly<Record<string, string | undefined>>,
): ConfigFor<K> {
  const schema = SCHEMAS[kind];
  const known = new Set(configKeys(kind));
  const unknown = Object.keys(raw).filter((k) => k.startsWith("plue:") && !known.has(k));
  const result = schema.safeParse(raw);
  const problems = [
    ...unknown.map((k) => `${k}: not a setting of a ${kind} stack (known: ${[...known].join(", ")})`),
    ...(result.success
      ? []
      : result.error.issues.map((i) => `${i.path.join(".") || "(config)"}: ${i.message}`)),
  ];
  if (problems.length > 0 || !result.success) throw new StackConfigError(stack, problems);
  return result.data as ConfigFor<K>;
}
