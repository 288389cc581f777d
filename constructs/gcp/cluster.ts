import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { ArgsCheck } from "../args";
import { PlueNetwork } from "./network";

export interface GkeClusterArgs {
  readonly project: pulumi.Input<string>;
  /** Region (regional control plane and nodes). */
  readonly location: pulumi.Input<string>;
  readonly network: PlueNetwork;
  /** Control-plane range for private nodes; must not overlap the VPC. @default "172.16.0.0/28" */
  readonly masterCidr?: string;
  /** CIDRs allowed to reach the public control-plane endpoint. @default [] (any, authenticated) */
  readonly masterAuthorizedNetworks?: readonly string[];
  /** @default "REGULAR" */
  readonly releaseChannel?: "RAPID" | "REGULAR" | "STABLE";
  /** @default false */
  readonly deletionProtection?: boolean;
  /** Machine type of the system pool (the API and cluster add-ons). @default "e2-standard-2" */
  readonly systemMachineType?: string;
  /** @default 1 */
  readonly systemMinNodes?: number;
  /** @default 3 */
  readonly systemMaxNodes?: number;
  readonly clusterName?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** OAuth scope for nodes; what they may do is limited by the node service account's roles instead. */
export const NODE_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"];
const NODE_ROLES = [
  "roles/logging.logWriter",
  "roles/monitoring.metricWriter",
  "roles/monitoring.viewer",
  "roles/stackdriver.resourceMetadata.writer",
  "roles/artifactregistry.reader",
];

interface ClusterParts {
  cluster: gcp.container.Cluster;
  nodeServiceAccount: gcp.serviceaccount.Account;
  systemPool: gcp.container.NodePool;
  kubeconfig: pulumi.Output<string>;
}

/**
 * A private GKE cluster: nodes without public IPs, Workload Identity, Dataplane V2 (without it GKE
 * accepts NetworkPolicies and silently does not enforce them), no legacy ABAC, shielded nodes, and a
 * least-privilege node service account. The default pool is replaced by a system pool; the gVisor
 * sandbox pool is a separate component (SandboxNodePool).
 */
export class GkeCluster extends pulumi.ComponentResource {
  readonly cluster: gcp.container.Cluster;
  readonly nodeServiceAccount: gcp.serviceaccount.Account;
  readonly systemPool: gcp.container.NodePool;
  /** kubeconfig (secret) using gke-gcloud-auth-plugin; feed it to a `@pulumi/kubernetes` Provider. */
  readonly kubeconfig: pulumi.Output<string>;

  constructor(name: string, args: GkeClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("plue:gcp:GkeCluster", name, {}, opts);
    const parts = createCluster(name, this, args);
    this.cluster = parts.cluster;
    this.nodeServiceAccount = parts.nodeServiceAccount;
    this.systemPool = parts.systemPool;
    this.kubeconfig = parts.kubeconfig;
    this.registerOutputs({
      name: this.cluster.name,
      endpoint: this.cluster.endpoint,
      kubeconfig: this.kubeconfig,
    });
  }
}

function createCluster(name: string, parent: pulumi.Resource, args: GkeClusterArgs): ClusterParts {
  const min = args.systemMinNodes ?? 1;
  const max = args.systemMaxNodes ?? 3;
  new ArgsCheck("GkeCluster")
    .require(Number.isInteger(min) && min >= 0, "systemMinNodes", `must be an integer ≥ 0, got ${min}`)
    .require(
      Number.isInteger(max) && max >= Math.max(min, 1),
      "systemMaxNodes",
      `must be ≥ systemMinNodes and ≥ 1`,
    )
    .throwIfAny();
  const child = { parent };
  const nodeServiceAccount = new gcp.serviceaccount.Account(
    `${name}-nodes`,
    { accountId: `${name}-nodes`.slice(0, 30), displayName: `GKE nodes of ${name}` },
    child,
  );
  for (const role of NODE_ROLES) {
    new gcp.projects.IAMMember(
      `${name}-nodes-${role.split("/")[1]!.replaceAll(".", "-")}`,
      { project: args.project, role, member: pulumi.interpolate`serviceAccount:${nodeServiceAccount.email}` },
      child,
    );
  }
  const cluster = new gcp.container.Cluster(
    name,
    {
      name: args.clusterName,
      project: args.project,
      location: args.location,
      network: args.network.network.id,
      subnetwork: args.network.subnetwork.id,
      // A cluster must start with a pool; it is removed at once in favour of the managed pools below.
      removeDefaultNodePool: true,
      initialNodeCount: 1,
      networkingMode: "VPC_NATIVE",
      ipAllocationPolicy: {
        clusterSecondaryRangeName: PlueNetwork.podRange,
        servicesSecondaryRangeName: PlueNetwork.serviceRange,
      },
      privateClusterConfig: {
        enablePrivateNodes: true,
        enablePrivateEndpoint: false,
        masterIpv4CidrBlock: args.masterCidr ?? "172.16.0.0/28",
      },
      masterAuthorizedNetworksConfig: args.masterAuthorizedNetworks?.length
        ? { cidrBlocks: args.masterAuthorizedNetworks.map((cidrBlock) => ({ cidrBlock })) }
        : undefined,
      datapathProvider: "ADVANCED_DATAPATH",
      workloadIdentityConfig: { workloadPool: pulumi.interpolate`${args.project}.svc.id.goog` },
      enableLegacyAbac: false,
      enableShieldedNodes: true,
      masterAuth: { clientCertificateConfig: { issueClientCertificate: false } },
      releaseChannel: { channel: args.releaseChannel ?? "REGULAR" },
      addonsConfig: {
        httpLoadBalancing: { disabled: false },
        // Several API replicas share their repositories on a Filestore volume (ReadWriteMany).
        gcpFilestoreCsiDriverConfig: { enabled: true },
      },
      resourceLabels: args.labels ? { ...args.labels } : undefined,
      deletionProtection: args.deletionProtection ?? false,
    },
    child,
  );
  const systemPool = new gcp.container.NodePool(
    `${name}-system`,
    {
      cluster: cluster.name,
      location: args.location,
      autoscaling: { minNodeCount: min, maxNodeCount: max },
      management: { autoRepair: true, autoUpgrade: true },
      nodeConfig: {
        machineType: args.systemMachineType ?? "e2-standard-2",
        imageType: "COS_CONTAINERD",
        serviceAccount: nodeServiceAccount.email,
        oauthScopes: NODE_SCOPES,
        workloadMetadataConfig: { mode: "GKE_METADATA" },
        shieldedInstanceConfig: { enableSecureBoot: true, enableIntegrityMonitoring: true },
        labels: { "plue.dev/pool": "system" },
      },
    },
    child,
  );
  return { cluster, nodeServiceAccount, systemPool, kubeconfig: gkeKubeconfig(cluster) };
}

/** A kubeconfig that authenticates through gke-gcloud-auth-plugin (no static credentials in state). */
export function gkeKubeconfig(cluster: gcp.container.Cluster): pulumi.Output<string> {
  return pulumi.secret(
    pulumi
      .all([cluster.name, cluster.endpoint, cluster.masterAuth])
      .apply(([name, endpoint, auth]) => renderKubeconfig(name, endpoint, auth.clusterCaCertificate ?? "")),
  );
}

export function renderKubeconfig(name: string, endpoint: string, caCertificate: string): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name, cluster: { server: `https://${endpoint}`, "certificate-authority-data": caCertificate } },
    ],
    contexts: [{ name, context: { cluster: name, user: name } }],
    "current-context": name,
    users: [
      {
        name,
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1beta1",
            command: "gke-gcloud-auth-plugin",
            installHint: "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
            provideClusterInfo: true,
          },
        },
      },
    ],
  });
}
