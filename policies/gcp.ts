/** Rules over GCP resources (GKE clusters and node pools, Cloud SQL), by their Pulumi inputs. */
import { GVISOR, SANDBOX_POOL_LABEL } from "../constructs/sandbox";
import type { PolicyContext, ResourceRule } from "./types";

export const GCP_TYPES = {
  cluster: "gcp:container/cluster:Cluster",
  nodePool: "gcp:container/nodePool:NodePool",
  sqlInstance: "gcp:sql/databaseInstance:DatabaseInstance",
} as const;

/** Production is the stack whose data cannot be recreated. */
export const isProduction = (context: PolicyContext) => context.stack === "production";

export const gkeClusterHardened: ResourceRule = {
  name: "gke-cluster-hardened",
  description: "GKE clusters use Dataplane V2, private nodes, Workload Identity and no legacy ABAC.",
  enforcementLevel: "mandatory",
  validateResource({ type, props }) {
    if (type !== GCP_TYPES.cluster) return [];
    const out: string[] = [];
    if (props.datapathProvider !== "ADVANCED_DATAPATH") {
      out.push(
        'datapathProvider must be "ADVANCED_DATAPATH": without Dataplane V2 GKE accepts NetworkPolicies and silently does not enforce them',
      );
    }
    if (props.privateClusterConfig?.enablePrivateNodes !== true)
      out.push("privateClusterConfig.enablePrivateNodes must be true (no public node IPs)");
    if (props.enableLegacyAbac === true) out.push("enableLegacyAbac must be off: ABAC grants bypass RBAC");
    if (!props.workloadIdentityConfig?.workloadPool)
      out.push("workloadIdentityConfig.workloadPool must be set (Workload Identity)");
    return out;
  },
};

export const gkeNodePoolMetadata: ResourceRule = {
  name: "gke-node-pool-metadata-concealed",
  description: "Node pools expose only the GKE metadata server to pods, never the node's credentials.",
  enforcementLevel: "mandatory",
  validateResource({ type, props }) {
    if (type !== GCP_TYPES.nodePool) return [];
    const mode = props.nodeConfig?.workloadMetadataConfig?.mode;
    return mode === "GKE_METADATA"
      ? []
      : [`nodeConfig.workloadMetadataConfig.mode must be "GKE_METADATA" (got ${JSON.stringify(mode)})`];
  },
};

export const gkeSandboxPool: ResourceRule = {
  name: "gke-sandbox-pool-gvisor",
  description: "Sandbox node pools run gVisor, carry the sandbox taint and autoscale within bounds.",
  enforcementLevel: "mandatory",
  validateResource({ type, props }) {
    if (type !== GCP_TYPES.nodePool) return [];
    const nc = props.nodeConfig ?? {};
    const labelled = nc.labels?.[SANDBOX_POOL_LABEL.key] === SANDBOX_POOL_LABEL.value;
    if (!labelled && !nc.sandboxConfig) return [];
    const out: string[] = [];
    const sandbox = String(nc.sandboxConfig?.type ?? nc.sandboxConfig?.sandboxType ?? "").toLowerCase();
    if (sandbox !== "gvisor") out.push("nodeConfig.sandboxConfig must select gVisor");
    const tainted = (nc.taints ?? []).some(
      (t: { key?: string; value?: string; effect?: string }) =>
        t.key === GVISOR.taintKey && t.value === GVISOR.taintValue && t.effect === "NO_SCHEDULE",
    );
    if (!tainted)
      out.push(`nodeConfig.taints must include ${GVISOR.taintKey}=${GVISOR.taintValue}:NO_SCHEDULE`);
    const a = props.autoscaling;
    if (!a || !(a.maxNodeCount >= 1) || !(a.minNodeCount >= 0) || a.minNodeCount > a.maxNodeCount) {
      out.push("autoscaling must be set with 0 ≤ minNodeCount ≤ maxNodeCount and maxNodeCount ≥ 1");
    }
    return out;
  },
};

export const cloudSqlPrivate: ResourceRule = {
  name: "cloudsql-private-only",
  description: "Cloud SQL instances have no public IP and no authorised networks.",
  enforcementLevel: "mandatory",
  validateResource({ type, props }) {
    if (type !== GCP_TYPES.sqlInstance) return [];
    const ip = props.settings?.ipConfiguration ?? {};
    const out: string[] = [];
    if (ip.ipv4Enabled !== false)
      out.push("settings.ipConfiguration.ipv4Enabled must be false (private IP only)");
    for (const n of ip.authorizedNetworks ?? []) {
      out.push(
        `authorised network ${n.value}${n.value === "0.0.0.0/0" ? " opens the database to the internet" : " is not allowed"}`,
      );
    }
    if (!ip.privateNetwork) out.push("settings.ipConfiguration.privateNetwork must be set");
    return out;
  },
};

export const cloudSqlBackups: ResourceRule = {
  name: "cloudsql-backups",
  description: "Cloud SQL instances take daily backups with point-in-time recovery.",
  enforcementLevel: "mandatory",
  validateResource({ type, props }) {
    if (type !== GCP_TYPES.sqlInstance) return [];
    const b = props.settings?.backupConfiguration ?? {};
    const out: string[] = [];
    if (b.enabled !== true) out.push("settings.backupConfiguration.enabled must be true");
    if (b.pointInTimeRecoveryEnabled !== true)
      out.push("settings.backupConfiguration.pointInTimeRecoveryEnabled must be true");
    return out;
  },
};

export const cloudSqlDeletionProtection: ResourceRule = {
  name: "cloudsql-deletion-protection",
  description: "Production Cloud SQL instances cannot be deleted by Pulumi or in the console.",
  enforcementLevel: "mandatory",
  validateResource({ type, props }, context) {
    if (type !== GCP_TYPES.sqlInstance || !isProduction(context)) return [];
    const out: string[] = [];
    if (props.deletionProtection !== true) out.push("deletionProtection must be true in production");
    if (props.settings?.deletionProtectionEnabled !== true)
      out.push("settings.deletionProtectionEnabled must be true in production");
    return out;
  },
};
