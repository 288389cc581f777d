import * as cloudflare from "@pulumi/cloudflare";
import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import { EdgeWorker, loadEdgeBundle } from "../constructs/cloudflare";
import { SharedEnvironment } from "../constructs/gcp";
import { type ProductionConfig, sandboxPoolSize } from "./config";
import { PlueEnvironment } from "./environment";
import { PRODUCTION_CLUSTER } from "./names";

/**
 * Production: its own VPC, cluster, gVisor pool and highly available Cloud SQL (deletion protected),
 * the API at `origin.<domain>` and the edge Worker on `<domain>` in front of it.
 */
export async function production(config: ProductionConfig) {
  const project = config["gcp:project"];
  const region = config["gcp:region"];
  const domain = config["plue:domain"];
  const originHost = `origin.${domain}`;
  const labels = { environment: "production", "managed-by": "pulumi" };
  const gcpProvider = new gcp.Provider("gcp", { project, region, defaultLabels: labels });
  const opts = { providers: [gcpProvider] };
  const { cluster, database: sql } = new SharedEnvironment(
    "production",
    {
      project,
      region,
      clusterName: PRODUCTION_CLUSTER,
      labels,
      sandboxPool: sandboxPoolSize(config),
      sqlTier: config["plue:sqlTier"],
      highAvailability: true,
      deletionProtection: true,
    },
    opts,
  );
  const kubernetesProvider = new k8s.Provider("production-cluster", { kubeconfig: cluster.kubeconfig });
  const env = new PlueEnvironment(
    "production",
    {
      instance: "production",
      namespace: "plue",
      host: originHost,
      publicUrl: `https://${domain}`,
      appImage: config["plue:appImage"],
      runnerImage: config["plue:runnerImage"],
      appReplicas: config["plue:appReplicas"],
      warmPoolSize: config["plue:warmPoolSize"],
      project,
      sqlInstanceName: sql.instance.name,
      sqlHost: sql.privateIp,
      database: "plue",
      kubernetesProvider,
      protectData: true,
    },
    opts,
  );

  // The zone determines the account, so neither id has to be configured.
  const zone = cloudflare.getZoneOutput({ filter: { name: domain } });
  // The origin is DNS-only: the load balancer terminates TLS with its own certificate.
  new cloudflare.DnsRecord("origin", {
    zoneId: zone.id,
    name: originHost,
    type: "A",
    content: env.ingressAddress.address,
    proxied: false,
    ttl: 300,
  });
  const edge = new EdgeWorker("edge", {
    accountId: zone.account.id,
    zoneId: zone.id,
    content: await loadEdgeBundle(),
    originUrl: `https://${originHost}`,
    hostnames: [domain],
  });
  return {
    url: `https://${domain}`,
    originUrl: `https://${originHost}`,
    clusterName: cluster.cluster.name,
    sqlInstanceName: sql.instance.name,
    appNamespace: env.appNamespace,
    runnerNamespace: env.runnerNamespace,
    edgeScript: edge.script.scriptName,
  };
}
