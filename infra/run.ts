/**
 * Runs the Pulumi program for one stack under Pulumi's mocks: no CLI, no credentials, no cloud.
 * The mocks, config and root stack resource are global state of the Pulumi runtime, so stacks run
 * one after another, never concurrently: each run installs fresh mocks and config, gets a new root
 * stack resource, and waits for every registration before it returns.
 */
import * as pulumi from "@pulumi/pulumi";
import { PlueMocks, REDACTED, type RecordedResource, type StackOutputs } from "./mocks";

export const PROJECT = "plue";
/** The organization Pulumi reports under mocks (and a self-managed backend uses). */
export const MOCK_ORGANIZATION = "organization";

export interface SynthResource extends RecordedResource {
  readonly urn: string;
  /** URN of the parent (the stack for top-level resources). */
  readonly parent?: string;
}

export interface StackRun {
  readonly stack: string;
  readonly outputs: StackOutputs;
  readonly secretOutputNames: string[];
  readonly resources: SynthResource[];
}

export interface RunStackOptions {
  readonly config: Record<string, string>;
  readonly secretKeys?: string[];
  readonly stackReferences?: Record<string, { outputs: StackOutputs; secretOutputNames?: string[] }>;
}

let running = false;

export async function runStack(stack: string, options: RunStackOptions): Promise<StackRun> {
  if (running)
    throw new Error("runStack: another stack is running in this process; run stacks one at a time");
  running = true;
  try {
    return await runUnderMocks(stack, options);
  } finally {
    // Whatever happened, let every outstanding registration finish before the next stack starts.
    await pulumi.runtime.disconnect();
    running = false;
  }
}

async function runUnderMocks(stack: string, options: RunStackOptions): Promise<StackRun> {
  const mocks = new PlueMocks({ stackReferences: options.stackReferences });
  // Mocks and config first: the program reads both as soon as it runs.
  await pulumi.runtime.setMocks(mocks, PROJECT, stack, false, MOCK_ORGANIZATION);
  pulumi.runtime.setAllConfig(options.config, options.secretKeys);
  const { program } = await import("./program");

  const links: { type: string; name: string; resource: pulumi.Resource; parent?: pulumi.Resource }[] = [];
  let returned: Record<string, unknown> = {};
  await pulumi.runtime.runInPulumiStack(async () => {
    // Mocks see no parents; a stack transformation sees every resource with its options.
    pulumi.runtime.registerStackTransformation((args) => {
      links.push({ type: args.type, name: args.name, resource: args.resource, parent: args.opts.parent });
      return undefined;
    });
    returned = await program();
    return returned;
  });
  await pulumi.runtime.disconnect();

  const stackUrn = `urn:pulumi:${stack}::${PROJECT}::pulumi:pulumi:Stack::${PROJECT}-${stack}`;
  const located = new Map<string, { urn: string; parent?: string }>();
  for (const link of links) {
    const key = `${link.type}::${link.name}`;
    if (located.has(key)) throw new Error(`runStack: two resources are both named ${key}`);
    located.set(key, {
      urn: await urnOf(link.resource),
      parent: link.parent ? await urnOf(link.parent) : stackUrn,
    });
  }
  const resources = mocks.resources.map((r) => {
    const where = located.get(`${r.type}::${r.name}`);
    return {
      ...r,
      urn: where?.urn ?? (r.type === "pulumi:pulumi:Stack" ? stackUrn : ""),
      parent: where?.parent,
    };
  });
  const { outputs, secretOutputNames } = await resolveOutputs(returned);
  return { stack, outputs, secretOutputNames, resources };
}

function urnOf(resource: pulumi.Resource): Promise<string> {
  return new Promise((resolve) => resource.urn.apply((u) => resolve(u)));
}

/** Resolves the program's outputs, redacting secret ones and naming them. */
async function resolveOutputs(returned: Record<string, unknown>) {
  const outputs: StackOutputs = {};
  const secretOutputNames: string[] = [];
  for (const [key, value] of Object.entries(returned)) {
    if (pulumi.Output.isInstance(value)) {
      if (await pulumi.isSecret(value)) secretOutputNames.push(key);
      const resolved = await new Promise((resolve) => value.apply((v) => resolve(v)));
      outputs[key] = secretOutputNames.includes(key) ? REDACTED : resolved;
    } else {
      outputs[key] = value;
    }
  }
  return { outputs, secretOutputNames };
}
