import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { ArgsCheck } from "../args";
import type { PlueNetwork } from "./network";

export interface PostgresInstanceArgs {
  readonly project: pulumi.Input<string>;
  readonly region: pulumi.Input<string>;
  readonly network: PlueNetwork;
  /** @default "db-custom-1-3840" */
  readonly tier?: string;
  /** Regional (failover replica) instead of zonal. @default false */
  readonly highAvailability?: boolean;
  /** Refuse deletion, both in Pulumi and in Cloud SQL. Production must set it. @default false */
  readonly deletionProtection?: boolean;
  /** Days of write-ahead log kept for point-in-time recovery. @default 7 */
  readonly logRetentionDays?: number;
  /** Daily backups kept. @default 14 */
  readonly retainedBackups?: number;
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * Cloud SQL for PostgreSQL reachable only on a private IP in the environment's VPC, TLS required,
 * daily backups with point-in-time recovery, optional deletion protection.
 */
export class PostgresInstance extends pulumi.ComponentResource {
  readonly instance: gcp.sql.DatabaseInstance;
  readonly privateIp: pulumi.Output<string>;

  constructor(name: string, args: PostgresInstanceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("plue:gcp:PostgresInstance", name, {}, opts);
    const days = args.logRetentionDays ?? 7;
    const kept = args.retainedBackups ?? 14;
    new ArgsCheck("PostgresInstance")
      .require(
        Number.isInteger(days) && days >= 1 && days <= 35,
        "logRetentionDays",
        `must be 1–35, got ${days}`,
      )
      .require(Number.isInteger(kept) && kept >= 1, "retainedBackups", `must be ≥ 1, got ${kept}`)
      .throwIfAny();
    const protect = args.deletionProtection ?? false;
    this.instance = new gcp.sql.DatabaseInstance(
      name,
      {
        project: args.project,
        region: args.region,
        databaseVersion: "POSTGRES_16",
        deletionProtection: protect,
        settings: {
          tier: args.tier ?? "db-custom-1-3840",
          edition: "ENTERPRISE",
          availabilityType: args.highAvailability ? "REGIONAL" : "ZONAL",
          deletionProtectionEnabled: protect,
          diskAutoresize: true,
          ipConfiguration: {
            ipv4Enabled: false,
            privateNetwork: args.network.network.id,
            sslMode: "ENCRYPTED_ONLY",
          },
          backupConfiguration: {
            enabled: true,
            pointInTimeRecoveryEnabled: true,
            startTime: "03:00",
            transactionLogRetentionDays: days,
            backupRetentionSettings: { retainedBackups: kept, retentionUnit: "COUNT" },
          },
          maintenanceWindow: { day: 7, hour: 4, updateTrack: "stable" },
          insightsConfig: { queryInsightsEnabled: true },
          userLabels: args.labels ? { ...args.labels } : undefined,
        },
      },
      // Private IP needs the service networking peering to exist first.
      { parent: this, dependsOn: [args.network.privateServiceConnection] },
    );
    this.privateIp = this.instance.privateIpAddress;
    this.registerOutputs({ name: this.instance.name, privateIp: this.privateIp });
  }
}
