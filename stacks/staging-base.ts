import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import { GkeCluster, PlueNetwork, PostgresInstance, SandboxNodePool } from "../constructs/gcp";
import type { StagingBaseConfig } from "./config";
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
  const opts = { providers: [provider] };
  const network = new PlueNetwork("staging", { region }, opts);
  const cluster = new GkeCluster(
    "staging",
    { project, location: region, network, clusterName: STAGING_CLUSTER, labels },
    opts,
  );
  new SandboxNodePool(
    "staging-sandbox",
    {
      cluster,
      location: region,
      machineType: config["plue:sandboxMachineType"],
      minNodes: config["plue:sandboxMinNodes"],
      maxNodes: config["plue:sandboxMaxNodes"],
    },
    opts,
  );
  const sql = new PostgresInstance(
    "staging",
    { project, region, network, tier: config["plue:sqlTier"], highAvailability: false, labels },
    opts,
  );
  return {
    project,
    region,
    clusterName: cluster.cluster.name,
    kubeconfig: cluster.kubeconfig,
    sqlInstanceName: sql.instance.name,
    sqlPrivateIp: sql.privateIp,
  };
}
