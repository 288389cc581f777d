/**
 * cdk8s into Pulumi: a chart's objects become typed `@pulumi/kubernetes` resources (one per object,
 * so previews diff them individually), all through the explicit provider of the stack's cluster.
 */
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { Chart } from "cdk8s";

export interface ChartDeploymentArgs {
  readonly chart: Chart;
  /** The provider for the target cluster; there is deliberately no default. */
  readonly provider: k8s.Provider;
  readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
  readonly parent?: pulumi.Resource;
  /** Pulumi refuses to delete or replace the chart's PersistentVolumeClaims (repositories live there). */
  readonly protectData?: boolean;
}

export function deployChart(name: string, args: ChartDeploymentArgs): k8s.yaml.ConfigGroup {
  if (!args.provider) throw new Error(`deployChart(${name}): a Kubernetes provider is required`);
  return new k8s.yaml.ConfigGroup(
    name,
    { objs: args.chart.toJson(), transformations: args.protectData ? [protectClaims] : [] },
    { provider: args.provider, dependsOn: args.dependsOn, parent: args.parent },
  );
}

/**
 * Marks PersistentVolumeClaims `protect`: a destroy, or a change that would replace the claim (a
 * new storage class, say), stops with an error instead of deleting its volume and what is on it.
 */
export function protectClaims(object: { kind?: string }, opts: pulumi.CustomResourceOptions): void {
  if (object.kind === "PersistentVolumeClaim") opts.protect = true;
}
