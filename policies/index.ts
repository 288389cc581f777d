/**
 * The CrossGuard pack: `pulumi preview --policy-pack policies`. It only wraps the rules in
 * policies/rules.ts. Never import this module in a test: constructing a PolicyPack starts a gRPC
 * server that keeps the process alive.
 */
import {
  PolicyPack,
  type ReportViolation,
  type ResourceValidationArgs,
  type StackValidationArgs,
} from "@pulumi/policy";
import { DEFAULT_REGISTRY } from "../stacks/config";
import { RESOURCE_RULES, STACK_RULES } from "./rules";
import type { PolicyContext } from "./types";

interface PackConfig {
  registries?: string[];
}

/** `pulumi config`-style pack config: `--policy-pack-config` may list other registries. */
const configSchema = {
  properties: {
    registries: { type: "array" as const, items: { type: "string" as const }, default: [DEFAULT_REGISTRY] },
  },
};

/** The stack is the first URN segment after `urn:pulumi:`. */
const stackOf = (urn: string) => urn.split("::")[0]?.replace(/^urn:pulumi:/, "") ?? "";

const contextOf = (urn: string, config: PackConfig): PolicyContext => ({
  stack: stackOf(urn),
  registries: config.registries ?? [DEFAULT_REGISTRY],
});

new PolicyPack("plue", {
  policies: [
    ...RESOURCE_RULES.map((rule) => ({
      name: rule.name,
      description: rule.description,
      enforcementLevel: rule.enforcementLevel,
      configSchema,
      validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
        const context = contextOf(args.urn, args.getConfig<PackConfig>());
        for (const message of rule.validateResource(args, context)) report(message);
      },
    })),
    ...STACK_RULES.map((rule) => ({
      name: rule.name,
      description: rule.description,
      enforcementLevel: rule.enforcementLevel,
      configSchema,
      validateStack: (args: StackValidationArgs, report: ReportViolation) => {
        const context = contextOf(args.resources[0]?.urn ?? "", args.getConfig<PackConfig>());
        for (const message of rule.validateStack(args.resources, context)) report(message);
      },
    })),
  ],
});
