/**
 * Synthesises one stack offline: runs the program under mocks, writes what it would deploy to
 * `<out>/<stack>/`, validates every Kubernetes object and runs every policy.
 *
 *   manifests.yaml  every Kubernetes object, in apply order (secrets redacted)
 *   resources.json  every resource: URN, type, name, parent, provider and inputs (secrets redacted)
 *   outputs.json    stack outputs (secret ones redacted), read by stacks that reference this one
 *   report.json     counts, invalid objects and policy violations
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { stringify } from "yaml";
import { runPolicies } from "../policies/rules";
import type { Violation } from "../policies/types";
import { DEFAULT_REGISTRY } from "../stacks/config";
import { readStackFile } from "../stacks/files";
import { BASE_STACK, stackKind } from "../stacks/kind";
import { MOCK_ORGANIZATION, PROJECT, runStack, type SynthResource } from "./run";
import { validateManifest } from "./validate";

export interface InvalidObject {
  readonly object: string;
  readonly problems: string[];
}

export interface StackReport {
  readonly stack: string;
  readonly resources: number;
  readonly kubernetesObjects: number;
  readonly invalid: InvalidObject[];
  readonly violations: Violation[];
  readonly durationMs: number;
}

export interface SynthStackOptions {
  readonly root: string;
  readonly out: string;
  /** `namespace:key` → value, applied over the stack file (e.g. to try a bad value). */
  readonly overrides?: Record<string, string>;
}

const isKubernetesObject = (r: SynthResource) =>
  r.custom &&
  r.type.startsWith("kubernetes:") &&
  !r.type.startsWith("kubernetes:yaml:") &&
  "kind" in r.inputs;

/** Namespaces first, then by namespace, kind and name, so the file reads (and diffs) in a stable order. */
function applyOrder(a: SynthResource, b: SynthResource): number {
  const key = (r: SynthResource) => {
    const m = r.inputs as { kind: string; metadata?: { namespace?: string; name?: string } };
    return [
      m.kind === "Namespace" ? "0" : "1",
      m.metadata?.namespace ?? "",
      m.kind,
      m.metadata?.name ?? "",
    ].join("\0");
  };
  const [ka, kb] = [key(a), key(b)];
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export function baseStackReference(
  out: string,
): Record<string, { outputs: Record<string, unknown>; secretOutputNames: string[] }> {
  const file = path.join(out, BASE_STACK, "outputs.json");
  const saved = JSON.parse(readFileSync(file, "utf8")) as {
    outputs: Record<string, unknown>;
    secretOutputNames: string[];
  };
  return { [`${MOCK_ORGANIZATION}/${PROJECT}/${BASE_STACK}`]: saved };
}

export async function synthStack(stack: string, options: SynthStackOptions): Promise<StackReport> {
  const started = Date.now();
  const kind = stackKind(stack);
  const file = readStackFile(options.root, stack);
  const config = { ...file.config, ...options.overrides };
  const stackReferences = kind.kind === "staging-engineer" ? baseStackReference(options.out) : {};
  const run = await runStack(stack, { config, secretKeys: file.secretKeys, stackReferences });

  const objects = run.resources.filter(isKubernetesObject).sort(applyOrder);
  const invalid: InvalidObject[] = [];
  for (const r of objects) {
    const problems = await validateManifest(r.inputs);
    if (problems.length > 0) invalid.push({ object: `${r.type}::${r.name}`, problems });
  }
  const registries = [config["plue:registry"] ?? DEFAULT_REGISTRY];
  const violations = runPolicies(
    run.resources.map((r) => ({ type: r.type, name: r.name, props: r.inputs })),
    { stack, registries },
  );

  const dir = path.join(options.out, stack);
  mkdirSync(dir, { recursive: true });
  const header = `# ${stack}: Kubernetes objects as the Pulumi program would apply them (npm run synth). Secrets redacted.\n`;
  writeFileSync(
    path.join(dir, "manifests.yaml"),
    header + objects.map((r) => stringify(r.redacted)).join("---\n"),
  );
  const resources = [...run.resources]
    .sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0))
    .map((r) => ({
      urn: r.urn,
      type: r.type,
      name: r.name,
      parent: r.parent,
      provider: r.provider?.slice(0, r.provider.lastIndexOf("::")),
      custom: r.custom,
      inputs: r.redacted,
    }));
  writeJson(path.join(dir, "resources.json"), resources);
  writeJson(path.join(dir, "outputs.json"), {
    outputs: run.outputs,
    secretOutputNames: run.secretOutputNames,
  });
  const report: StackReport = {
    stack,
    resources: run.resources.length,
    kubernetesObjects: objects.length,
    invalid,
    violations,
    durationMs: Date.now() - started,
  };
  writeJson(path.join(dir, "report.json"), report);
  return report;
}

function writeJson(file: string, value: unknown): void {
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}
