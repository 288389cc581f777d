/**
 * Pulumi's own mocks (`pulumi.runtime.setMocks`) with what the Plue program needs to run offline:
 * plausible values for properties that only a cloud provider computes (cluster endpoint, Cloud SQL
 * IP, generated passwords, auto-names), the outputs of referenced stacks, and the Cloudflare zone
 * lookup. Every registered resource is recorded with its inputs for synth, policies and tests.
 * All invented values are deterministic (hashes of names), so synth output is stable.
 */
import { createHash } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";

/** Pulumi's wire encoding of a secret value (see @pulumi/pulumi runtime/rpc). */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
export const REDACTED = "[secret]";

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  readonly custom: boolean;
  /** Provider reference (`<urn>::<id>`) when one was given explicitly or inherited. */
  readonly provider?: string;
  /** Inputs with secrets in place (policies and tests read these). */
  readonly inputs: Record<string, unknown>;
  /** Inputs with every secret replaced by "[secret]" (what gets written to disk). */
  readonly redacted: Record<string, unknown>;
}

export type StackOutputs = Record<string, unknown>;

export interface PlueMocksOptions {
  /** Outputs of stacks this one references, by fully qualified stack name. */
  readonly stackReferences?: Readonly<
    Record<string, { outputs: StackOutputs; secretOutputNames?: string[] }>
  >;
}

function isSecret(v: unknown): v is { value: unknown } {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

function mapSecrets(v: unknown, onSecret: (inner: unknown) => unknown): unknown {
  if (isSecret(v)) return onSecret(mapSecrets(v.value, onSecret));
  if (Array.isArray(v)) return v.map((x) => mapSecrets(x, onSecret));
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapSecrets(x, onSecret)]));
  }
  return v;
}

/** Replaces every scalar inside a value, keeping its shape (keys of a secret map stay readable). */
function redactLeaves(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redactLeaves);
  if (typeof v === "object" && v !== null)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactLeaves(x)]));
  return REDACTED;
}

export const unwrapSecrets = (v: unknown): unknown => mapSecrets(v, (inner) => inner);
export const redactSecrets = (v: unknown): unknown => mapSecrets(v, redactLeaves);

export function hash(text: string, length = 8): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

/** An address in 203.0.113.0/24 (TEST-NET-3), which can never be mistaken for a real one. */
const testNetIp = (seed: string) => `203.0.113.${(Number.parseInt(hash(seed, 4), 16) % 250) + 2}`;

/** Properties the cloud would compute, by resource type. */
function computed(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  // Pulumi auto-names physical resources `<name>-<random>`; a hash keeps it stable here.
  const physicalName = (inputs.name as string | undefined) ?? `${name}-${hash(name, 7)}`;
  const base = { name: physicalName, id: physicalName };
  switch (type) {
    case "gcp:container/cluster:Cluster":
      return {
        ...base,
        endpoint: testNetIp(name),
        masterAuth: { clusterCaCertificate: Buffer.from(`mock CA of ${name}`).toString("base64") },
      };
    case "gcp:sql/databaseInstance:DatabaseInstance":
      return {
        ...base,
        privateIpAddress: `10.30.0.${(Number.parseInt(hash(name, 2), 16) % 250) + 2}`,
        connectionName: `${inputs.project ?? "project"}:${inputs.region ?? "region"}:${physicalName}`,
      };
    case "gcp:compute/globalAddress:GlobalAddress":
      return { ...base, address: inputs.address ?? testNetIp(name) };
    case "gcp:serviceaccount/account:Account":
      return { ...base, email: `${inputs.accountId}@mock-project.iam.gserviceaccount.com` };
    case "random:index/randomPassword:RandomPassword":
      return { result: `mock${hash(`password:${name}`, 60)}`.slice(0, Number(inputs.length ?? 32)) };
    default:
      return base;
  }
}

export class PlueMocks implements pulumi.runtime.Mocks {
  readonly resources: RecordedResource[] = [];

  constructor(private readonly options: PlueMocksOptions = {}) {}

  newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
    const inputs = unwrapSecrets(args.inputs ?? {}) as Record<string, unknown>;
    this.resources.push({
      type: args.type,
      name: args.name,
      custom: args.custom ?? true,
      provider: args.provider || undefined,
      inputs,
      redacted: redactSecrets(args.inputs ?? {}) as Record<string, unknown>,
    });
    if (args.type === "pulumi:pulumi:StackReference") return this.stackReference(String(inputs.name));
    const state = { ...computed(args.type, args.name, inputs), ...inputs };
    return { id: args.custom === false ? undefined : String(state.id ?? `${args.name}-id`), state };
  }

  call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
    if (args.token === "cloudflare:index/getZone:getZone") {
      const zoneName = (args.inputs.filter as { name?: string } | undefined)?.name ?? "zone";
      const id = hash(`zone:${zoneName}`, 32);
      return { id, zoneId: id, name: zoneName, account: { id: hash(`account:${zoneName}`, 32) } };
    }
    throw new Error(`PlueMocks: no mock for the call ${args.token}; add one in infra/mocks.ts`);
  }

  private stackReference(stackName: string): pulumi.runtime.MockResourceResult {
    const ref = this.options.stackReferences?.[stackName];
    if (!ref) {
      const known = Object.keys(this.options.stackReferences ?? {});
      throw new Error(
        `PlueMocks: the program references stack "${stackName}", whose outputs are not available ` +
          `(have: ${known.join(", ") || "none"}). Synthesise that stack first.`,
      );
    }
    return {
      id: stackName,
      state: { name: stackName, outputs: ref.outputs, secretOutputNames: ref.secretOutputNames ?? [] },
    };
  }
}
