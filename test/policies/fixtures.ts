/**
 * Passing fixtures for the rules, built from the real constructs wherever a construct exists (the
 * runner Job and warm pool from constructs/k8s, the namespaces and network policies from the
 * environment chart), plus GCP and Cloudflare inputs shaped like the components' own.
 */
import { environmentCharts } from "../../constructs/k8s/environment";
import { runnerJob } from "../../constructs/k8s/runner-pod";
import { fromManifest } from "../../policies/kubernetes";
import type { PolicyContext, PolicyResource } from "../../policies/types";

export const REGISTRY = "us-docker.pkg.dev/plue-platform/plue";
export const context: PolicyContext = { stack: "staging-alice", registries: [REGISTRY] };
export const production: PolicyContext = { ...context, stack: "production" };

/** A deep copy changed by `fn`: one mutation per failing fixture. */
// biome-ignore lint/suspicious/noExplicitAny: fixtures poke at untyped JSON.
export function mutate(resource: PolicyResource, fn: (props: any) => void): PolicyResource {
  const props = structuredClone(resource.props);
  fn(props);
  return { ...resource, props };
}

export function runnerJobResource(): PolicyResource {
  return fromManifest(
    runnerJob({
      taskId: "0b7c5e1e-2d5f-4a57-9d0e-3f1f6a1c2b3d",
      workloadType: "agent",
      namespace: "plue-alice-workflows",
      image: `${REGISTRY}/plue-runner:0.1.0`,
      appUrl: "https://alice.staging.plue.dev",
    }),
  );
}

/** Every object of a staging environment's charts, as policy resources. */
export function environmentResources(): PolicyResource[] {
  const charts = environmentCharts({
    instance: "alice",
    namespace: "plue-alice",
    host: "alice.staging.plue.dev",
    appImage: `${REGISTRY}/plue-app:0.1.0`,
    runnerImage: `${REGISTRY}/plue-runner:0.1.0`,
    warmPoolSize: 2,
  });
  return [...charts.namespaces.toJson(), ...charts.workloads.toJson()].map(fromManifest);
}

export function pick(resources: PolicyResource[], kind: string, name: string): PolicyResource {
  const found = resources.find((r) => r.props.kind === kind && r.props.metadata?.name === name);
  if (!found) throw new Error(`fixture has no ${kind} ${name}`);
  return found;
}

export const gkeCluster = (): PolicyResource => ({
  type: "gcp:container/cluster:Cluster",
  name: "staging",
  props: {
    datapathProvider: "ADVANCED_DATAPATH",
    privateClusterConfig: {
      enablePrivateNodes: true,
      enablePrivateEndpoint: false,
      masterIpv4CidrBlock: "172.16.0.0/28",
    },
    workloadIdentityConfig: { workloadPool: "plue-staging.svc.id.goog" },
    enableLegacyAbac: false,
  },
});

export const sandboxPool = (): PolicyResource => ({
  type: "gcp:container/nodePool:NodePool",
  name: "staging-sandbox",
  props: {
    autoscaling: { minNodeCount: 1, maxNodeCount: 20 },
    nodeConfig: {
      machineType: "e2-standard-4",
      sandboxConfig: { type: "GVISOR" },
      taints: [{ key: "sandbox.gke.io/runtime", value: "gvisor", effect: "NO_SCHEDULE" }],
      workloadMetadataConfig: { mode: "GKE_METADATA" },
      labels: { "plue.dev/pool": "sandbox" },
    },
  },
});

export const systemPool = (): PolicyResource => ({
  type: "gcp:container/nodePool:NodePool",
  name: "staging-system",
  props: { nodeConfig: { machineType: "e2-standard-2", workloadMetadataConfig: { mode: "GKE_METADATA" } } },
});

export const sqlInstance = (): PolicyResource => ({
  type: "gcp:sql/databaseInstance:DatabaseInstance",
  name: "production",
  props: {
    deletionProtection: true,
    settings: {
      deletionProtectionEnabled: true,
      ipConfiguration: {
        ipv4Enabled: false,
        privateNetwork: "projects/p/global/networks/n",
        sslMode: "ENCRYPTED_ONLY",
      },
      backupConfiguration: { enabled: true, pointInTimeRecoveryEnabled: true },
    },
  },
});

export const workersScript = (): PolicyResource => ({
  type: "cloudflare:index/workersScript:WorkersScript",
  name: "edge-script",
  props: {
    scriptName: "plue-edge",
    mainModule: "worker.js",
    content: "export default { fetch() { return new Response('ok') } }",
    bindings: [{ type: "plain_text", name: "ORIGIN_URL", text: "https://origin.plue.dev" }],
  },
});
