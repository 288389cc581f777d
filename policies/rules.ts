/** Every rule, and the one function that runs them (synth and tests; the pack wraps the same list). */
import { workerNoDurableObjects } from "./cloudflare";
import {
  cloudSqlBackups,
  cloudSqlDeletionProtection,
  cloudSqlPrivate,
  gkeClusterHardened,
  gkeNodePoolMetadata,
  gkeSandboxPool,
} from "./gcp";
import {
  egressNoPrivateRanges,
  imagesPinned,
  ingressTls,
  namespacePodSecurity,
  runnerNamespaceIsolated,
  runnerPodHardened,
  workloadBaseline,
} from "./kubernetes";
import type { PolicyContext, PolicyResource, ResourceRule, StackRule, Violation } from "./types";

export const RESOURCE_RULES: readonly ResourceRule[] = [
  runnerPodHardened,
  workloadBaseline,
  imagesPinned,
  namespacePodSecurity,
  egressNoPrivateRanges,
  ingressTls,
  gkeClusterHardened,
  gkeNodePoolMetadata,
  gkeSandboxPool,
  cloudSqlPrivate,
  cloudSqlBackups,
  cloudSqlDeletionProtection,
  workerNoDurableObjects,
];

export const STACK_RULES: readonly StackRule[] = [runnerNamespaceIsolated];

export function runPolicies(resources: readonly PolicyResource[], context: PolicyContext): Violation[] {
  const violations: Violation[] = [];
  for (const rule of RESOURCE_RULES) {
    for (const r of resources) {
      for (const message of rule.validateResource(r, context)) {
        violations.push({
          policy: rule.name,
          enforcementLevel: rule.enforcementLevel,
          resource: `${r.type}::${r.name}`,
          message,
        });
      }
    }
  }
  for (const rule of STACK_RULES) {
    for (const message of rule.validateStack(resources, context)) {
      violations.push({ policy: rule.name, enforcementLevel: rule.enforcementLevel, message });
    }
  }
  return violations;
}
