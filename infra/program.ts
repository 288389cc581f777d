/**
 * The Pulumi program: the stack's name decides its kind, its config is validated for that kind, and
 * the matching stack function builds the resources. Its return value is the stack's outputs.
 */
import * as pulumi from "@pulumi/pulumi";
import { readStackConfig } from "../stacks/config";
import { stackKind } from "../stacks/kind";
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
