/** The Pulumi components' argument checks and helpers, under Pulumi's own mocks. */

import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { PlueMocks } from "../../infra/mocks";

const mocks = new PlueMocks();
// Mocks first, then the modules that create resources.
await pulumi.runtime.setMocks(mocks, "plue", "test", false);
const { ArgsError } = await import("../../constructs/args");
const { GkeCluster, PlueNetwork, PostgresInstance, SandboxNodePool, renderKubeconfig } = await import(
  "../../constructs/gcp"
);
const { EdgeWorker, loadEdgeBundle } = await import("../../constructs/cloudflare");
const k8s = await import("@pulumi/kubernetes");
const { AppDatabase } = await import("../../constructs/gcp/database");
const { protectClaims } = await import("../../constructs/k8s/deploy");

const network = new PlueNetwork("t", { region: "us-central1" });
const cluster = new GkeCluster("t", { project: "plue-test", location: "us-central1", network });

const problemsOf = (make: () => unknown): string[] => {
  try {
    make();
  } catch (err) {
    if (err instanceof ArgsError) return err.problems.map((p) => `${p.property}: ${p.message}`);
    throw err;
  }
  return [];
};

afterAll(() => pulumi.runtime.disconnect());

describe("SandboxNodePool", () => {
  it("refuses inverted or impossible bounds and shared-core machines, naming each property", () => {
    const problems = problemsOf(
      () =>
        new SandboxNodePool("bad", {
          cluster,
          location: "us-central1",
          minNodes: 5,
          maxNodes: 2,
          machineType: "e2-medium",
        }),
    );
    expect(problems).toEqual([
      "maxNodes: must be ≥ minNodes (5), got 2",
      "machineType: shared-core machine types cannot run GKE Sandbox",
    ]);
  });

  it("defaults to e2-standard-4, gVisor, the taint and 1–20 nodes", async () => {
    new SandboxNodePool("ok", { cluster, location: "us-central1" });
    await pulumi.runtime.disconnect();
    const pool = mocks.resources.find(
      (r) => r.type === "gcp:container/nodePool:NodePool" && r.name === "ok",
    )!;
    expect(pool.inputs).toMatchObject({
      autoscaling: { minNodeCount: 1, maxNodeCount: 20 },
      nodeConfig: {
        machineType: "e2-standard-4",
        imageType: "COS_CONTAINERD",
        sandboxConfig: { type: "GVISOR" },
        taints: [{ key: "sandbox.gke.io/runtime", value: "gvisor", effect: "NO_SCHEDULE" }],
        workloadMetadataConfig: { mode: "GKE_METADATA" },
      },
    });
  });
});

describe("PostgresInstance and AppDatabase", () => {
  it("refuse out-of-range retention", () => {
    expect(
      problemsOf(
        () =>
          new PostgresInstance("bad", {
            project: "p",
            region: "r",
            network,
            logRetentionDays: 0,
            retainedBackups: 0,
          }),
      ),
    ).toEqual(["logRetentionDays: must be 1–35, got 0", "retainedBackups: must be ≥ 1, got 0"]);
  });

  it("refuses a database name Postgres would need quoted", () => {
    const provider = new k8s.Provider("k", { kubeconfig: "{}" });
    const args = {
      project: "p",
      instanceName: "i",
      host: "10.0.0.1",
      database: "plue-alice",
      secret: { namespace: "plue-alice", name: "plue-database", key: "DATABASE_URL" },
      kubernetesProvider: provider,
    };
    expect(problemsOf(() => new AppDatabase("bad", args))).toEqual([
      'database: "plue-alice" is not a lowercase Postgres identifier',
    ]);
  });
});

describe("EdgeWorker", () => {
  it("refuses a plain-http origin, no hostnames and a second ORIGIN_URL", () => {
    const problems = problemsOf(
      () =>
        new EdgeWorker("bad", {
          accountId: "a",
          zoneId: "z",
          content: "export default {}",
          originUrl: "http://origin.plue.dev",
          hostnames: [],
          vars: { ORIGIN_URL: "https://elsewhere" },
        }),
    );
    expect(problems.map((p) => p.split(":")[0])).toEqual(["originUrl", "hostnames", "vars"]);
  });

  it("loads dist/edge.js when built and says how to build it when nothing is there", async () => {
    const empty = mkdtempSync(path.join(tmpdir(), "plue-edge-"));
    await expect(loadEdgeBundle(empty)).rejects.toThrow(/Run `npm run build`/);
    mkdirSync(path.join(empty, "dist"));
    writeFileSync(path.join(empty, "dist", "edge.js"), "export default { fetch() {} };");
    await expect(loadEdgeBundle(empty)).resolves.toBe("export default { fetch() {} };");
  });
});

describe("renderKubeconfig", () => {
  it("authenticates through gke-gcloud-auth-plugin and holds no static credentials", () => {
    const config = JSON.parse(renderKubeconfig("plue-staging", "203.0.113.9", "Q0E="));
    expect(config.clusters[0].cluster).toEqual({
      server: "https://203.0.113.9",
      "certificate-authority-data": "Q0E=",
    });
    expect(config.users[0].user.exec.command).toBe("gke-gcloud-auth-plugin");
    expect(JSON.stringify(config)).not.toMatch(/token|password|client-key/);
  });
});

describe("protectClaims", () => {
  it("protects PersistentVolumeClaims (repositories) and nothing else", () => {
    const opts = (kind: string) => {
      const o: { protect?: boolean } = {};
      protectClaims({ kind }, o);
      return o.protect;
    };
    expect(opts("PersistentVolumeClaim")).toBe(true);
    expect([opts("Deployment"), opts("Service"), opts("ConfigMap")]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });
});
