import { environmentCharts, environmentNames } from "../../constructs/k8s/environment";
import { validateManifest } from "../../infra/validate";

const REGISTRY = "us-docker.pkg.dev/plue-platform/plue";
const charts = environmentCharts({
  instance: "alice",
  namespace: "plue-alice",
  host: "alice.staging.plue.dev",
  appImage: `${REGISTRY}/plue-app:0.1.0`,
  runnerImage: `${REGISTRY}/plue-runner:0.1.0`,
  appReplicas: 1,
  warmPoolSize: 2,
  staticIpName: "plue-alice-ingress",
});
// biome-ignore lint/suspicious/noExplicitAny: manifests are JSON.
const objects: any[] = [...charts.namespaces.toJson(), ...charts.workloads.toJson()];
const get = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);

describe("environment charts", () => {
  it("match the snapshot", () => {
    expect(objects).toMatchSnapshot();
  });

  it("validate against the Kubernetes schema", async () => {
    for (const o of objects)
      expect([o.kind, o.metadata.name, await validateManifest(o)]).toEqual([o.kind, o.metadata.name, []]);
  });

  it("put runners in <namespace>-workflows", () => {
    expect(charts.names).toEqual(environmentNames("plue-alice"));
    expect(charts.names.runnerNamespace).toBe("plue-alice-workflows");
    expect(get("Deployment", "plue-runner-pool").metadata.namespace).toBe("plue-alice-workflows");
  });

  it("label both namespaces Pod Security restricted, and mark the runner one", () => {
    for (const name of ["plue-alice", "plue-alice-workflows"]) {
      expect(get("Namespace", name).metadata.labels).toMatchObject({
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
      });
    }
    expect(get("Namespace", "plue-alice-workflows").metadata.labels["plue.dev/tier"]).toBe("runners");
    expect(get("Namespace", "plue-alice").metadata.labels["plue.dev/tier"]).toBeUndefined();
  });

  it("deny everything in the runner namespace, then allow DNS to kube-dns and 443 to public addresses", () => {
    expect(get("NetworkPolicy", "default-deny").spec).toEqual({
      podSelector: {},
      policyTypes: ["Egress", "Ingress"],
    });
    const egress = get("NetworkPolicy", "runner-egress").spec;
    expect(egress.policyTypes).toEqual(["Egress"]);
    expect(egress.ingress).toBeUndefined();
    expect(egress.egress).toEqual([
      {
        ports: [
          { port: 53, protocol: "UDP" },
          { port: 53, protocol: "TCP" },
        ],
        to: [
          {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
            podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
          },
        ],
      },
      {
        ports: [{ port: 443, protocol: "TCP" }],
        to: [
          {
            ipBlock: {
              cidr: "0.0.0.0/0",
              except: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"],
            },
          },
        ],
      },
    ]);
  });

  it("limit the API's Role to Jobs and Pods in its own runner namespace", () => {
    const role = get("Role", "plue-runner-manager");
    expect(role.metadata.namespace).toBe("plue-alice-workflows");
    expect(role.rules.flatMap((r: { resources: string[] }) => r.resources).sort()).toEqual([
      "jobs",
      "pods",
      "pods/log",
    ]);
    expect(objects.filter((o) => o.kind === "ClusterRole" || o.kind === "ClusterRoleBinding")).toEqual([]);
    const binding = get("RoleBinding", "plue-runner-manager");
    expect(binding.metadata.namespace).toBe("plue-alice-workflows");
    expect(binding.subjects).toEqual([
      { apiGroup: "", kind: "ServiceAccount", name: "plue-api", namespace: "plue-alice" },
    ]);
  });

  it("serve the API over TLS on the static IP, with a PDB and config from ConfigMap and Secrets", () => {
    const ingress = get("Ingress", "plue");
    expect(ingress.spec.tls).toEqual([{ hosts: ["alice.staging.plue.dev"], secretName: "plue-tls" }]);
    expect(ingress.metadata.annotations["kubernetes.io/ingress.global-static-ip-name"]).toBe(
      "plue-alice-ingress",
    );
    expect(get("PodDisruptionBudget", "plue-api").spec.maxUnavailable).toBe(1);
    const pod = get("Deployment", "plue-api").spec.template.spec;
    expect(pod.containers[0].envFrom).toEqual([{ configMapRef: { name: "plue-config" } }]);
    expect(pod.containers[0].env.map((e: { name: string }) => e.name)).toEqual([
      "DATABASE_URL",
      "PLUE_POOL_SECRET",
    ]);
    expect(pod.containers[0].readinessProbe.httpGet).toMatchObject({ path: "/api/health", port: 4000 });
    expect(get("ConfigMap", "plue-config").data).toMatchObject({
      RUNNER_MODE: "kubernetes",
      PLUE_PUBLIC_URL: "https://alice.staging.plue.dev",
      PLUE_RUNNER_NAMESPACE: "plue-alice-workflows",
    });
  });

  it("let SSE streams and long-polls outlive GKE's 30 s load balancer timeout", () => {
    const service = get("Service", "plue-api");
    const name = JSON.parse(service.metadata.annotations["cloud.google.com/backend-config"]).default;
    const backend = get("BackendConfig", name);
    expect(backend.metadata.namespace).toBe(service.metadata.namespace);
    // Longer than the longest runner long-poll (PLUE_RUNNER_POLL_SECONDS, at most 300 s).
    expect(backend.spec.timeoutSec).toBeGreaterThan(300);
    expect(backend.spec.healthCheck).toMatchObject({ requestPath: "/api/health", port: 4000 });
  });

  it("keep a replaced API pod serving until the load balancer has let it go, then give it time to drain", () => {
    const pod = get("Deployment", "plue-api").spec.template.spec;
    const wait = Number(pod.containers[0].lifecycle.preStop.exec.command.at(-1));
    expect(pod.containers[0].lifecycle.preStop.exec.command[0]).toBe("sleep");
    expect(wait).toBeGreaterThanOrEqual(5);
    // The pre-stop wait, then the app's 10 s drain, inside the grace period.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(wait + 10);
  });

  it("keep repositories on a persistent volume: one replica on a disk, replaced with Recreate", () => {
    const claim = get("PersistentVolumeClaim", "plue-data");
    expect(claim.metadata.namespace).toBe("plue-alice");
    expect(claim.spec).toMatchObject({
      accessModes: ["ReadWriteOnce"],
      storageClassName: "standard-rwo",
      resources: { requests: { storage: "20Gi" } },
    });
    const deployment = get("Deployment", "plue-api").spec;
    expect(deployment.strategy.type).toBe("Recreate");
    const pod = deployment.template.spec;
    const volume = pod.volumes.find(
      (v: { persistentVolumeClaim?: { claimName: string } }) => v.persistentVolumeClaim,
    );
    expect(volume.persistentVolumeClaim.claimName).toBe("plue-data");
    expect(pod.containers[0].volumeMounts).toContainEqual(
      expect.objectContaining({ name: volume.name, mountPath: "/data" }),
    );
    expect(
      pod.volumes.filter((v: { emptyDir?: unknown }) => v.emptyDir).map((v: { name: string }) => v.name),
    ).toEqual(["tmp"]);
  });

  it("share repositories between several replicas on a ReadWriteMany volume, rolling updates", () => {
    const several = environmentCharts({
      instance: "prod",
      namespace: "plue",
      host: "origin.plue.dev",
      appImage: "a:1",
      runnerImage: "r:1",
      appReplicas: 3,
    });
    // biome-ignore lint/suspicious/noExplicitAny: manifests are JSON.
    const objs: any[] = several.workloads.toJson();
    const claim = objs.find((o) => o.kind === "PersistentVolumeClaim");
    expect(claim.spec).toMatchObject({ accessModes: ["ReadWriteMany"], storageClassName: "standard-rwx" });
    expect(
      objs.find((o) => o.kind === "Deployment" && o.metadata.name === "plue-api").spec.strategy.type,
    ).toBe("RollingUpdate");
  });

  it("refuse a replica count that is not a positive integer", () => {
    expect(() =>
      environmentCharts({
        instance: "x",
        namespace: "plue-x",
        host: "x.plue.dev",
        appImage: "a:1",
        runnerImage: "r:1",
        appReplicas: 0,
      }),
    ).toThrow(/replicas must be a positive integer/);
  });
});
