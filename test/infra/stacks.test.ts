/**
 * Every kind of stack under Pulumi's mocks, run in this process one after another (as synth does),
 * with assertions on the resources that matter and on policies and schemas passing.
 */

import { runStack, type StackRun, type SynthResource } from "../../infra/run";
import { validateManifest } from "../../infra/validate";
import { runPolicies } from "../../policies/rules";
import { readStackFile } from "../../stacks/files";
import { baseStackReferenceFrom } from "./helpers";

const ROOT = process.cwd();
const runs: Record<string, StackRun> = {};
const BAD_IMAGE = "docker.io/library/busybox:latest";
let misconfigured: StackRun;

beforeAll(async () => {
  for (const stack of ["staging-base", "staging-alice", "production"]) {
    const { config, secretKeys } = readStackFile(ROOT, stack);
    const stackReferences = stack === "staging-alice" ? baseStackReferenceFrom(runs["staging-base"]!) : {};
    runs[stack] = await runStack(stack, { config, secretKeys, stackReferences });
  }
  // The same stack once more with an unpinned image from elsewhere: the policies must catch it.
  const alice = readStackFile(ROOT, "staging-alice");
  misconfigured = await runStack("staging-alice", {
    config: { ...alice.config, "plue:runnerImage": BAD_IMAGE },
    stackReferences: baseStackReferenceFrom(runs["staging-base"]!),
  });
});

const find = (run: StackRun, type: string, name?: string): SynthResource[] =>
  run.resources.filter((r) => r.type === type && (name === undefined || r.name === name));
const one = (run: StackRun, type: string, name?: string): SynthResource => {
  const found = find(run, type, name);
  if (found.length !== 1) throw new Error(`expected one ${type} ${name ?? ""}, found ${found.length}`);
  return found[0]!;
};
// biome-ignore lint/suspicious/noExplicitAny: resource inputs are JSON.
const inputs = (r: SynthResource): any => r.inputs;

describe("staging-base", () => {
  it("has a gVisor sandbox pool with the taint, e2-standard-4 and autoscaling 1–20", () => {
    const pool = inputs(one(runs["staging-base"]!, "gcp:container/nodePool:NodePool", "staging-sandbox"));
    expect(pool.nodeConfig.sandboxConfig).toEqual({ type: "GVISOR" });
    expect(pool.nodeConfig.taints).toEqual([
      { key: "sandbox.gke.io/runtime", value: "gvisor", effect: "NO_SCHEDULE" },
    ]);
    expect(pool.nodeConfig.machineType).toBe("e2-standard-4");
    expect(pool.nodeConfig.workloadMetadataConfig).toEqual({ mode: "GKE_METADATA" });
    expect(pool.autoscaling).toEqual({ minNodeCount: 1, maxNodeCount: 20 });
  });

  it("has a private Dataplane V2 cluster with Workload Identity", () => {
    const cluster = inputs(one(runs["staging-base"]!, "gcp:container/cluster:Cluster"));
    expect(cluster.datapathProvider).toBe("ADVANCED_DATAPATH");
    expect(cluster.privateClusterConfig.enablePrivateNodes).toBe(true);
    expect(cluster.workloadIdentityConfig.workloadPool).toBe("plue-staging.svc.id.goog");
    expect(cluster.enableLegacyAbac).toBe(false);
  });

  it("has Cloud SQL on a private IP with backups and point-in-time recovery", () => {
    const sql = inputs(one(runs["staging-base"]!, "gcp:sql/databaseInstance:DatabaseInstance"));
    expect(sql.settings.ipConfiguration.ipv4Enabled).toBe(false);
    expect(sql.settings.backupConfiguration).toMatchObject({
      enabled: true,
      pointInTimeRecoveryEnabled: true,
    });
  });

  it("exports what engineer stacks read, with the kubeconfig secret", () => {
    const base = runs["staging-base"]!;
    expect(Object.keys(base.outputs).sort()).toEqual(
      ["clusterName", "kubeconfig", "project", "region", "sqlInstanceName", "sqlPrivateIp"].sort(),
    );
    expect(base.secretOutputNames).toEqual(["kubeconfig"]);
    expect(base.outputs.kubeconfig).toBe("[secret]");
  });
});

describe("staging-alice", () => {
  const run = () => runs["staging-alice"]!;

  it("reads staging-base through a StackReference", () => {
    expect(inputs(one(run(), "pulumi:pulumi:StackReference")).name).toBe("organization/plue/staging-base");
    expect(find(run(), "gcp:container/cluster:Cluster")).toHaveLength(0);
    const gcp = inputs(one(run(), "pulumi:providers:gcp"));
    expect(gcp.project).toBe("plue-staging");
  });

  it("has its own namespaces, database and user", () => {
    expect(
      find(run(), "kubernetes:core/v1:Namespace")
        .map((r) => r.name)
        .sort(),
    ).toEqual(["plue-alice", "plue-alice-workflows"]);
    expect(inputs(one(run(), "gcp:sql/database:Database")).name).toBe("plue_alice");
    const user = inputs(one(run(), "gcp:sql/user:User"));
    expect(user).toMatchObject({
      name: "plue_alice",
      instance: runs["staging-base"]!.outputs.sqlInstanceName,
    });
    const secret = one(run(), "kubernetes:core/v1:Secret", "alice-database-secret");
    expect(inputs(secret).metadata).toEqual({ name: "plue-database", namespace: "plue-alice" });
    expect(inputs(secret).stringData.DATABASE_URL).toMatch(
      /^postgres:\/\/plue_alice:[A-Za-z0-9]{32}@10\.30\.0\.\d+:5432\/plue_alice\?sslmode=require$/,
    );
    expect((secret.redacted as { stringData: unknown }).stringData).toEqual({ DATABASE_URL: "[secret]" });
  });

  it("serves alice.staging.plue.dev over TLS and keeps a warm pool of 2", () => {
    const ingress = inputs(one(run(), "kubernetes:networking.k8s.io/v1:Ingress"));
    expect(ingress.spec.rules.map((r: { host: string }) => r.host)).toEqual(["alice.staging.plue.dev"]);
    expect(ingress.spec.tls).toEqual([{ hosts: ["alice.staging.plue.dev"], secretName: "plue-tls" }]);
    const pool = inputs(one(run(), "kubernetes:apps/v1:Deployment", "plue-alice-workflows/plue-runner-pool"));
    expect(pool.spec.replicas).toBe(2);
    expect(pool.spec.template.spec.runtimeClassName).toBe("gvisor");
  });

  it("deploys every Kubernetes object through the staging cluster's provider", () => {
    const objects = run().resources.filter((r) => r.custom && r.type.startsWith("kubernetes:"));
    expect(objects.length).toBeGreaterThan(15);
    for (const r of objects) expect(r.provider).toContain("pulumi:providers:kubernetes::staging-cluster::");
  });
});

describe("production", () => {
  const run = () => runs.production!;

  it("protects its cluster and highly available database from deletion", () => {
    expect(inputs(one(run(), "gcp:container/cluster:Cluster")).deletionProtection).toBe(true);
    const sql = inputs(one(run(), "gcp:sql/databaseInstance:DatabaseInstance"));
    expect(sql.deletionProtection).toBe(true);
    expect(sql.settings).toMatchObject({ deletionProtectionEnabled: true, availabilityType: "REGIONAL" });
  });

  it("puts the edge Worker on plue.dev with ORIGIN_URL bound and no Durable Objects", () => {
    const script = inputs(one(run(), "cloudflare:index/workersScript:WorkersScript"));
    expect(script.bindings).toEqual([
      { type: "plain_text", name: "ORIGIN_URL", text: "https://origin.plue.dev" },
    ]);
    expect(script.mainModule).toBe("worker.js");
    expect(script.content).toMatch(/export\s*\{[^}]*default|export default/);
    expect(script.migrations).toBeUndefined();
    expect(inputs(one(run(), "cloudflare:index/workersRoute:WorkersRoute")).pattern).toBe("plue.dev/*");
  });

  it("runs 3 API replicas and a warm pool of 5 on origin.plue.dev", () => {
    const api = inputs(one(run(), "kubernetes:apps/v1:Deployment", "plue/plue-api"));
    expect(api.spec.replicas).toBe(3);
    expect(
      inputs(one(run(), "kubernetes:apps/v1:Deployment", "plue-workflows/plue-runner-pool")).spec.replicas,
    ).toBe(5);
    const ingress = inputs(one(run(), "kubernetes:networking.k8s.io/v1:Ingress"));
    expect(ingress.spec.rules[0].host).toBe("origin.plue.dev");
  });
});

describe.each(["staging-base", "staging-alice", "production"])("%s", (stack) => {
  it("passes every policy", () => {
    const run = runs[stack]!;
    const violations = runPolicies(
      run.resources.map((r) => ({ type: r.type, name: r.name, props: r.inputs })),
      { stack, registries: ["us-docker.pkg.dev/plue-platform/plue"] },
    );
    expect(violations).toEqual([]);
  });

  it("has only Kubernetes objects that match the Kubernetes schema", async () => {
    const objects = runs[stack]!.resources.filter(
      (r) => r.custom && r.type.startsWith("kubernetes:") && "kind" in r.inputs,
    );
    for (const r of objects)
      expect({ name: r.name, problems: await validateManifest(r.inputs) }).toEqual({
        name: r.name,
        problems: [],
      });
  });
});

describe("a misconfigured stack", () => {
  it("is caught by the image policy, twice over, on the warm pool", () => {
    const violations = runPolicies(
      misconfigured.resources.map((r) => ({ type: r.type, name: r.name, props: r.inputs })),
      { stack: "staging-alice", registries: ["us-docker.pkg.dev/plue-platform/plue"] },
    );
    expect(violations.map((v) => [v.policy, v.resource])).toEqual([
      ["images-pinned-from-registry", "kubernetes:apps/v1:Deployment::plue-alice-workflows/plue-runner-pool"],
      ["images-pinned-from-registry", "kubernetes:apps/v1:Deployment::plue-alice-workflows/plue-runner-pool"],
    ]);
    expect(violations.map((v) => v.message)).toEqual([
      `container "runner": image "${BAD_IMAGE}" uses :latest; pin a version or digest so rollouts are reproducible`,
      `container "runner": image "${BAD_IMAGE}" is not from the configured registry (us-docker.pkg.dev/plue-platform/plue)`,
    ]);
  });
});
