/**
 * A policy rule is data plus a pure function over a resource's type and inputs (or, for rules that
 * relate resources, over all of them). The CrossGuard pack (policies/index.ts), the offline synth and
 * the tests all call the same functions.
 */

/** A resource as a rule sees it: its Pulumi type token, logical name and input properties. */
export interface PolicyResource {
  readonly type: string;
  readonly name: string;
  // biome-ignore lint/suspicious/noExplicitAny: inputs are untyped JSON; rules narrow what they read.
  readonly props: Record<string, any>;
}

export interface PolicyContext {
  /** The stack being checked (`production` gets stricter rules). */
  readonly stack: string;
  /** Registry prefixes images may come from. */
  readonly registries: readonly string[];
}

export type EnforcementLevel = "mandatory" | "advisory";

interface RuleInfo {
  /** kebab-case, unique in the pack. */
  readonly name: string;
  /** One sentence saying what the rule requires, ending with a period. */
  readonly description: string;
  readonly enforcementLevel: EnforcementLevel;
}

export interface ResourceRule extends RuleInfo {
  /** Messages, one per problem; empty when the resource passes or the rule does not apply. */
  validateResource(resource: PolicyResource, context: PolicyContext): string[];
}

export interface StackRule extends RuleInfo {
  validateStack(resources: readonly PolicyResource[], context: PolicyContext): string[];
}

export interface Violation {
  readonly policy: string;
  readonly enforcementLevel: EnforcementLevel;
  /** `type::name`, absent for violations of a stack rule. */
  readonly resource?: string;
  readonly message: string;
}
