import * as pulumi from "@pulumi/pulumi";
import { GkeCluster } from "./cluster";
import { PlueNetwork } from "./network";
import { PostgresInstance } from "./postgres";
import { SandboxNodePool } from "./sandbox-pool";

export interface SharedEnvironmentArgs {
  readonly project: pulumi.Input<string>;
  readonly region: string;
  readonly clusterName: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly sandboxPool: {
    readonly machineType: string;
    readonly minNodes: number;
    readonly maxNodes: number;
  };
  readonly sqlTier: string;
  /** Regional Cloud SQL (a failover replica) instead of zonal. */
  readonly highAvailability: boolean;
  /** The cluster and the database instance refuse deletion (production). */
  readonly deletionProtection: boolean;
}

/**
 * What the Plue environments of one GCP project share: the VPC, the private GKE cluster, its
 * gVisor sandbox pool and the Cloud SQL instance. staging-base and production are built from it;
 * the differences between them are its args.
 *
 * Stacks made these four at their top level before this component existed: the alias to the
 * stack as their former parent keeps them (and, through them, their children) the same resources
 * on `pulumi up` instead of replacing them.
 */
export class SharedEnvironment extends pulumi.ComponentResource {
  readonly network: PlueNetwork;
  readonly cluster: GkeCluster;
  readonly sandboxPool: SandboxNodePool;
  readonly database: PostgresInstance;

  constructor(name: string, args: SharedEnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("plue:gcp:SharedEnvironment", name, {}, opts);
    const child = { parent: this, aliases: [{ parent: pulumi.rootStackResource }] };
    const { project, region, labels } = args;
    this.network = new PlueNetwork(name, { region }, child);
    this.cluster = new GkeCluster(
      name,
      {
        project,
        location: region,
        network: this.network,
        clusterName: args.clusterName,
        deletionProtection: args.deletionProtection,
        labels,
      },
      child,
    );
    this.sandboxPool = new SandboxNodePool(
      `${name}-sandbox`,
      { cluster: this.cluster, location: region, ...args.sandboxPool },
      child,
    );
    this.database = new PostgresInstance(
      name,
      {
        project,
        region,
        network: this.network,
        tier: args.sqlTier,
        highAvailability: args.highAvailability,
        deletionProtection: args.deletionProtection,
        labels,
      },
      child,
    );
    this.registerOutputs({
      clusterName: this.cluster.cluster.name,
      sqlInstanceName: this.database.instance.name,
    });
  }
}
