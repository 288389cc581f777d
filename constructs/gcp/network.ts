import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";

export interface PlueNetworkArgs {
  readonly region: pulumi.Input<string>;
  /** Node range. All ranges sit inside 10.0.0.0/8, which runner egress excludes. @default "10.10.0.0/20" */
  readonly nodeCidr?: string;
  /** @default "10.20.0.0/14" */
  readonly podCidr?: string;
  /** @default "10.24.0.0/20" */
  readonly serviceCidr?: string;
  /** Range peered to Google services (Cloud SQL private IP). @default "10.30.0.0", /16 */
  readonly servicesPeeringAddress?: string;
}

/**
 * A VPC for one environment: a subnet with secondary ranges for a VPC-native cluster, Cloud NAT so
 * private nodes reach the internet, and private service access for Cloud SQL.
 */
export class PlueNetwork extends pulumi.ComponentResource {
  readonly network: gcp.compute.Network;
  readonly subnetwork: gcp.compute.Subnetwork;
  /** Resolves once Cloud SQL can be given a private IP in this network. */
  readonly privateServiceConnection: gcp.servicenetworking.Connection;
  static readonly podRange = "pods";
  static readonly serviceRange = "services";

  constructor(name: string, args: PlueNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("plue:gcp:Network", name, {}, opts);
    const child = { parent: this };
    this.network = new gcp.compute.Network(`${name}-vpc`, { autoCreateSubnetworks: false }, child);
    this.subnetwork = new gcp.compute.Subnetwork(
      `${name}-nodes`,
      {
        network: this.network.id,
        region: args.region,
        ipCidrRange: args.nodeCidr ?? "10.10.0.0/20",
        privateIpGoogleAccess: true,
        secondaryIpRanges: [
          { rangeName: PlueNetwork.podRange, ipCidrRange: args.podCidr ?? "10.20.0.0/14" },
          { rangeName: PlueNetwork.serviceRange, ipCidrRange: args.serviceCidr ?? "10.24.0.0/20" },
        ],
      },
      child,
    );
    const router = new gcp.compute.Router(
      `${name}-router`,
      { network: this.network.id, region: args.region },
      child,
    );
    new gcp.compute.RouterNat(
      `${name}-nat`,
      {
        router: router.name,
        region: args.region,
        natIpAllocateOption: "AUTO_ONLY",
        sourceSubnetworkIpRangesToNat: "ALL_SUBNETWORKS_ALL_IP_RANGES",
        logConfig: { enable: true, filter: "ERRORS_ONLY" },
      },
      child,
    );
    const peering = new gcp.compute.GlobalAddress(
      `${name}-services`,
      {
        network: this.network.id,
        purpose: "VPC_PEERING",
        addressType: "INTERNAL",
        address: args.servicesPeeringAddress ?? "10.30.0.0",
        prefixLength: 16,
      },
      child,
    );
    this.privateServiceConnection = new gcp.servicenetworking.Connection(
      `${name}-services`,
      {
        network: this.network.id,
        service: "servicenetworking.googleapis.com",
        reservedPeeringRanges: [peering.name],
      },
      child,
    );
    this.registerOutputs({ network: this.network.id, subnetwork: this.subnetwork.id });
  }
}
