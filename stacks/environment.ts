import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { AppDatabase } from "../constructs/gcp";
import { DATABASE_SECRET, environmentCharts, RUNNER_POOL_SECRET } from "../constructs/k8s";
import { deployChart } from "../constructs/k8s/deploy";

export interface PlueEnvironmentArgs {
  /** `alice`, `production`: labels objects and names the static IP. */
  readonly instance: string;
  /** App namespace; runners go to `<namespace>-workflows`. */
  readonly namespace: string;
  readonly host: string;
  /** The runner-facing URL of the API. @default `https://<host>` */
  readonly appUrl?: string;
  /** The URL users see. @default `https://<host>` */
  readonly publicUrl?: string;
  readonly appImage: string;
  readonly runnerImage: string;
  readonly appReplicas: number;
  readonly warmPoolSize: number;
  readonly project: pulumi.Input<string>;
  readonly sqlInstanceName: pulumi.Input<string>;
  readonly sqlHost: pulumi.Input<string>;
  /** Postgres database and user (`plue_alice`). */
  readonly database: string;
  readonly kubernetesProvider: k8s.Provider;
  /** Pulumi refuses to delete or replace the repositories' volume claim (production). */
  readonly protectData?: boolean;
}

/**
 * One running Plue: its namespaces, network policies, API, warm pool, database and the Secrets that
 * join them. Applied in order: namespaces, then Secrets, then workloads.
 */
export class PlueEnvironment extends pulumi.ComponentResource {
  readonly appNamespace: string;
  readonly runnerNamespace: string;
  readonly database: AppDatabase;
  readonly ingressAddress: gcp.compute.GlobalAddress;

  constructor(name: string, args: PlueEnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("plue:stacks:Environment", name, {}, opts);
    const provider = args.kubernetesProvider;
    const staticIpName = `plue-${args.instance}-ingress`;
    this.ingressAddress = new gcp.compute.GlobalAddress(
      `${name}-ingress`,
      { name: staticIpName, project: args.project },
      { parent: this },
    );
    const charts = environmentCharts({
      instance: args.instance,
      namespace: args.namespace,
      host: args.host,
      appUrl: args.appUrl,
      publicUrl: args.publicUrl,
      appImage: args.appImage,
      runnerImage: args.runnerImage,
      appReplicas: args.appReplicas,
      warmPoolSize: args.warmPoolSize,
      staticIpName,
    });
    this.appNamespace = charts.names.appNamespace;
    this.runnerNamespace = charts.names.runnerNamespace;
    const namespaces = deployChart(`${name}-namespaces`, {
      chart: charts.namespaces,
      provider,
      parent: this,
    });

    const after = { parent: this, dependsOn: [namespaces] };
    this.database = new AppDatabase(
      `${name}-database`,
      {
        project: args.project,
        instanceName: args.sqlInstanceName,
        host: args.sqlHost,
        database: args.database,
        secret: { namespace: this.appNamespace, ...DATABASE_SECRET },
        kubernetesProvider: provider,
      },
      after,
    );
    const poolSecrets = this.poolSecrets(name, provider, after);
    deployChart(`${name}-workloads`, {
      chart: charts.workloads,
      provider,
      parent: this,
      dependsOn: [namespaces, this.database, ...poolSecrets],
      protectData: args.protectData,
    });
    this.registerOutputs({ appNamespace: this.appNamespace, runnerNamespace: this.runnerNamespace });
  }

  /** The warm-pool registration secret, generated once and placed in both namespaces. */
  private poolSecrets(name: string, provider: k8s.Provider, opts: pulumi.CustomResourceOptions) {
    const value = new random.RandomPassword(
      `${name}-pool-secret`,
      { length: 48, special: false },
      { parent: this },
    );
    return [this.appNamespace, this.runnerNamespace].map(
      (namespace) =>
        new k8s.core.v1.Secret(
          `${name}-pool-secret-${namespace}`,
          {
            metadata: { name: RUNNER_POOL_SECRET.name, namespace },
            type: "Opaque",
            stringData: { [RUNNER_POOL_SECRET.key]: value.result },
          },
          { ...opts, provider },
        ),
    );
  }
}
