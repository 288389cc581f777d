import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { ArgsCheck } from "../args";
import { GVISOR, SANDBOX_POOL_LABEL } from "../sandbox";
import { type GkeCluster, NODE_SCOPES } from "./cluster";

export interface SandboxNodePoolArgs {
  readonly cluster: GkeCluster;
  readonly location: pulumi.Input<string>;
  /** @default "e2-standard-4" */
  readonly machineType?: string;
  /** @default 1 */
  readonly minNodes?: number;
  /** @default 20 */
  readonly maxNodes?: number;
  /** @default 100 */
  readonly diskSizeGb?: number;
}

/**
 * Nodes for runner pods: every pod runs in gVisor (GKE Sandbox), and the NoSchedule taint keeps
 * everything that does not tolerate it (that is, everything but runners) off these nodes. Pods
 * reach the metadata server only through the GKE metadata server (Workload Identity).
 */
export class SandboxNodePool extends pulumi.ComponentResource {
  readonly nodePool: gcp.container.NodePool;

  constructor(name: string, args: SandboxNodePoolArgs, opts?: pulumi.ComponentResourceOptions) {
    super("plue:gcp:SandboxNodePool", name, {}, opts);
    const min = args.minNodes ?? 1;
    const max = args.maxNodes ?? 20;
    new ArgsCheck("SandboxNodePool")
      .require(Number.isInteger(min) && min >= 0, "minNodes", `must be an integer ≥ 0, got ${min}`)
      .require(Number.isInteger(max) && max >= 1, "maxNodes", `must be an integer ≥ 1, got ${max}`)
      .require(max >= min, "maxNodes", `must be ≥ minNodes (${min}), got ${max}`)
      .require(
        !/^e2-(micro|small|medium)$/.test(args.machineType ?? ""),
        "machineType",
        "shared-core machine types cannot run GKE Sandbox",
      )
      .throwIfAny();
    this.nodePool = new gcp.container.NodePool(
      name,
      {
        cluster: args.cluster.cluster.name,
        location: args.location,
        autoscaling: { minNodeCount: min, maxNodeCount: max },
        management: { autoRepair: true, autoUpgrade: true },
        nodeConfig: {
          machineType: args.machineType ?? "e2-standard-4",
          diskSizeGb: args.diskSizeGb ?? 100,
          // GKE Sandbox requires Container-Optimized OS with containerd.
          imageType: "COS_CONTAINERD",
          sandboxConfig: { type: "GVISOR" },
          // GKE adds this taint to sandbox pools by itself; declaring it keeps previews free of drift.
          taints: [{ key: GVISOR.taintKey, value: GVISOR.taintValue, effect: "NO_SCHEDULE" }],
          workloadMetadataConfig: { mode: "GKE_METADATA" },
          serviceAccount: args.cluster.nodeServiceAccount.email,
          oauthScopes: NODE_SCOPES,
          shieldedInstanceConfig: { enableSecureBoot: true, enableIntegrityMonitoring: true },
          labels: { [SANDBOX_POOL_LABEL.key]: SANDBOX_POOL_LABEL.value },
        },
      },
      { parent: this },
    );
    this.registerOutputs({ name: this.nodePool.name });
  }
}
