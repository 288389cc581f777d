import { workerNoDurableObjects } from "../../policies/cloudflare";
import {
  cloudSqlBackups,
  cloudSqlDeletionProtection,
  cloudSqlPrivate,
  gkeClusterHardened,
  gkeNodePoolMetadata,
  gkeSandboxPool,
} from "../../policies/gcp";
import type { PolicyResource, ResourceRule } from "../../policies/types";
import {
  context,
  gkeCluster,
  mutate,
  production,
  sandboxPool,
  sqlInstance,
  systemPool,
  workersScript,
} from "./fixtures";

// biome-ignore lint/suspicious/noExplicitAny: fixtures poke at untyped JSON.
type Props = any;
type Case = [string, (p: Props) => void, RegExp];

function ruleCases(rule: ResourceRule, fixture: () => PolicyResource, cases: Case[], ctx = context) {
  describe(rule.name, () => {
    it("passes its fixture", () => {
      expect(rule.validateResource(fixture(), ctx)).toEqual([]);
    });
    it.each(cases)("fails with %s", (_what, change, message) => {
      const problems = rule.validateResource(mutate(fixture(), change), ctx);
      expect(problems.some((p) => message.test(p))).toBe(true);
    });
  });
}

ruleCases(gkeClusterHardened, gkeCluster, [
  ["the legacy datapath", (p) => (p.datapathProvider = "LEGACY_DATAPATH"), /silently does not enforce/],
  ["public nodes", (p) => (p.privateClusterConfig.enablePrivateNodes = false), /enablePrivateNodes/],
  ["legacy ABAC", (p) => (p.enableLegacyAbac = true), /ABAC/],
  ["no Workload Identity", (p) => delete p.workloadIdentityConfig, /Workload Identity/],
]);

ruleCases(gkeNodePoolMetadata, systemPool, [
  [
    "the node's metadata exposed",
    (p) => (p.nodeConfig.workloadMetadataConfig.mode = "GCE_METADATA"),
    /GKE_METADATA/,
  ],
  ["no metadata config", (p) => delete p.nodeConfig.workloadMetadataConfig, /GKE_METADATA/],
]);

ruleCases(gkeSandboxPool, sandboxPool, [
  ["no sandbox", (p) => delete p.nodeConfig.sandboxConfig, /gVisor/],
  ["no taint", (p) => (p.nodeConfig.taints = []), /sandbox\.gke\.io\/runtime=gvisor:NO_SCHEDULE/],
  ["a PreferNoSchedule taint", (p) => (p.nodeConfig.taints[0].effect = "PREFER_NO_SCHEDULE"), /NO_SCHEDULE/],
  ["no autoscaling", (p) => delete p.autoscaling, /autoscaling/],
  ["inverted bounds", (p) => (p.autoscaling = { minNodeCount: 5, maxNodeCount: 2 }), /autoscaling/],
]);

describe("gke-sandbox-pool-gvisor scope", () => {
  it("accepts the deprecated sandboxType spelling and skips ordinary pools", () => {
    const legacy = mutate(sandboxPool(), (p) => (p.nodeConfig.sandboxConfig = { sandboxType: "gvisor" }));
    expect(gkeSandboxPool.validateResource(legacy, context)).toEqual([]);
    expect(gkeSandboxPool.validateResource(systemPool(), context)).toEqual([]);
  });
});

ruleCases(cloudSqlPrivate, sqlInstance, [
  ["a public IP", (p) => (p.settings.ipConfiguration.ipv4Enabled = true), /ipv4Enabled must be false/],
  [
    "the internet authorised",
    (p) => (p.settings.ipConfiguration.authorizedNetworks = [{ value: "0.0.0.0/0" }]),
    /opens the database to the internet/,
  ],
  [
    "an office authorised",
    (p) => (p.settings.ipConfiguration.authorizedNetworks = [{ value: "198.51.100.0/24" }]),
    /is not allowed/,
  ],
  ["no private network", (p) => delete p.settings.ipConfiguration.privateNetwork, /privateNetwork/],
]);

ruleCases(cloudSqlBackups, sqlInstance, [
  ["backups off", (p) => (p.settings.backupConfiguration.enabled = false), /enabled must be true/],
  [
    "no point-in-time recovery",
    (p) => delete p.settings.backupConfiguration.pointInTimeRecoveryEnabled,
    /pointInTimeRecoveryEnabled/,
  ],
]);

ruleCases(
  cloudSqlDeletionProtection,
  sqlInstance,
  [
    ["Pulumi protection off", (p) => (p.deletionProtection = false), /deletionProtection must be true/],
    [
      "Cloud SQL protection off",
      (p) => (p.settings.deletionProtectionEnabled = false),
      /deletionProtectionEnabled/,
    ],
  ],
  production,
);

describe("cloudsql-deletion-protection scope", () => {
  it("does not require protection outside production", () => {
    const unprotected = mutate(sqlInstance(), (p) => {
      p.deletionProtection = false;
      p.settings.deletionProtectionEnabled = false;
    });
    expect(cloudSqlDeletionProtection.validateResource(unprotected, context)).toEqual([]);
  });
});

ruleCases(workerNoDurableObjects, workersScript, [
  [
    "a Durable Object binding",
    (p) => p.bindings.push({ type: "durable_object_namespace", name: "ROOMS", className: "Room" }),
    /ROOMS is a Durable Object/,
  ],
  ["Durable Object migrations", (p) => (p.migrations = { newClasses: ["Room"] }), /migrations/],
]);
