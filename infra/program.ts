/**
 * The Pulumi program: the stack's name decides its kind, its config is validated for that kind, and
 * the matching stack function builds the resources. Its return value is the stack's outputs.
 */
import * as pulumi from "@pulumi/pulumi";
import { type ConfigFor, configKeys, parseStackConfig } from "../stacks/config";
import { type StackKind, stackKind } from "../stacks/kind";
import { production } from "../stacks/production";
import { stagingBase } from "../stacks/staging-base";
import { stagingEngineer } from "../stacks/staging-engineer";

export async function program(): Promise<Record<string, unknown>> {
  const kind = stackKind(pulumi.getStack());
  switch (kind.kind) {
    case "staging-base":
      return stagingBase(readStackConfig(kind.kind, kind.stack));
    case "staging-engineer":
      return stagingEngineer(kind.engineer, readStackConfig(kind.kind, kind.stack));
    case "production":
      return production(readStackConfig(kind.kind, kind.stack));
    default: {
      const never: never = kind;
      throw new Error(`unhandled stack kind ${JSON.stringify(never)}`);
    }
  }
}

/** Reads and validates the running stack's config through Pulumi. */
function readStackConfig<K extends StackKind["kind"]>(kind: K, stack: string): ConfigFor<K> {
  const raw: Record<string, string | undefined> = {};
  // Every plue: key, so a misspelt one is reported rather than ignored.
  for (const [key, value] of Object.entries(pulumi.runtime.allConfig())) {
    if (key.startsWith("plue:")) raw[key] = value;
  }
  for (const key of configKeys(kind)) {
    const [ns, name] = key.split(":") as [string, string];
    raw[key] = new pulumi.Config(ns).get(name);
  }
  return parseStackConfig(kind, stack, raw);
}
