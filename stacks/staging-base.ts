import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import { SharedEnvironment } from "../constructs/gcp";
import { type StagingBaseConfig, sandboxPoolSize } from "./config";
import { STAGING_CLUSTER } from "./names";

/**
 * What staging-base exports for engineer stacks to read through a StackReference. Changing a name
 * here changes both sides.
 */
export const BASE_OUTPUTS = {
  project: "project",
  region: "region",
  clusterName: "clusterName",
  kubeconfig: "kubeconfig",
  sqlInstanceName: "sqlInstanceName",
  sqlPrivateIp: "sqlPrivateIp",
} as const;

export type BaseOutputs = Record<keyof typeof BASE_OUTPUTS, pulumi.Output<string> | string>;

/** The shared staging platform: VPC, private GKE cluster with a gVisor pool, one Cloud SQL instance. */
export function stagingBase(config: StagingBaseConfig): BaseOutputs {
  const project = config["gcp:project"];
  const region = config["gcp:region"];
  const labels = { environment: "staging", "managed-by": "pulumi" };
  const provider = new gcp.Provider("gcp", { project, region, defaultLabels: labels });
  const { cluster, database } = new SharedEnvironment(
    "staging",
    {
      project,
      region,
      clusterName: STAGING_CLUSTER,
      labels,
      sandboxPool: sandboxPoolSize(config),
      sqlTier: config["plue:sqlTier"],
      highAvailability: false,
      deletionProtection: false,
    },
    { providers: [provider] },
  );
  return {
    project,
    region,
    clusterName: cluster.cluster.name,
    kubeconfig: cluster.kubeconfig,
    sqlInstanceName: database.instance.name,
    sqlPrivateIp: database.privateIp,
  };
}
