import { App, Chart } from "cdk8s";
import * as kplus from "cdk8s-plus-32";
import { runnerPodSpec } from "../../constructs/k8s/runner-pod";
import {
  egressNoPrivateRanges,
  fromManifest,
  imageProblems,
  imagesPinned,
  ingressTls,
  kubernetesType,
  namespacePodSecurity,
  runnerNamespaceIsolated,
  runnerPodHardened,
  workloadBaseline,
} from "../../policies/kubernetes";
import type { PolicyResource } from "../../policies/types";
import { context, environmentResources, mutate, pick, REGISTRY, runnerJobResource } from "./fixtures";

// biome-ignore lint/suspicious/noExplicitAny: fixtures poke at untyped JSON.
type Props = any;
const env = environmentResources();
const warmPool = pick(env, "Deployment", "plue-runner-pool");
const api = pick(env, "Deployment", "plue-api");
const podOf = (p: Props) => p.spec.template.spec;
const runner = (p: Props) => podOf(p).containers[0];

describe("runner-pod-hardened", () => {
  const check = (r: PolicyResource) => runnerPodHardened.validateResource(r, context);

  it("passes the runner Job and the warm pool built by runnerPodSpec", () => {
    expect(check(runnerJobResource())).toEqual([]);
    expect(check(warmPool)).toEqual([]);
  });

  it("does not apply to pods that are not runners", () => {
    expect(check(api)).toEqual([]);
  });

  it.each<[string, (p: Props) => void, RegExp]>([
    ["no runtime class", (p) => delete podOf(p).runtimeClassName, /runtimeClassName must be "gvisor"/],
    ["runc runtime", (p) => (podOf(p).runtimeClassName = "runc"), /runtimeClassName/],
    [
      "a service-account token",
      (p) => (podOf(p).automountServiceAccountToken = true),
      /automountServiceAccountToken/,
    ],
    ["host networking", (p) => (podOf(p).hostNetwork = true), /hostNetwork must not be set/],
    ["no gVisor toleration", (p) => (podOf(p).tolerations = []), /must tolerate/],
    ["no sandbox node selector", (p) => (podOf(p).nodeSelector = {}), /nodeSelector/],
    [
      "no deadline on a one-shot pod",
      (p) => {
        delete podOf(p).activeDeadlineSeconds;
        delete p.spec.activeDeadlineSeconds;
      },
      /activeDeadlineSeconds/,
    ],
    [
      "a hostPath volume",
      (p) => podOf(p).volumes.push({ name: "docker", hostPath: { path: "/var/run" } }),
      /hostPath/,
    ],
    [
      "root allowed",
      (p) => {
        podOf(p).securityContext.runAsNonRoot = false;
        runner(p).securityContext.runAsNonRoot = false;
      },
      /runAsNonRoot must be true/,
    ],
    ["uid 0", (p) => (runner(p).securityContext.runAsUser = 0), /runAsUser must be 1000/],
    ["gid 0", (p) => (runner(p).securityContext.runAsGroup = 0), /runAsGroup must be 1000/],
    [
      "no seccomp",
      (p) => {
        delete podOf(p).securityContext.seccompProfile;
        runner(p).securityContext.seccompProfile = { type: "Unconfined" };
      },
      /seccompProfile must be RuntimeDefault/,
    ],
    [
      "privilege escalation",
      (p) => (runner(p).securityContext.allowPrivilegeEscalation = true),
      /allowPrivilegeEscalation/,
    ],
    ["privileged", (p) => (runner(p).securityContext.privileged = true), /must not be privileged/],
    [
      "writable root",
      (p) => (runner(p).securityContext.readOnlyRootFilesystem = false),
      /readOnlyRootFilesystem/,
    ],
    ["capabilities kept", (p) => (runner(p).securityContext.capabilities.drop = []), /drop ALL/],
    [
      "a capability added",
      (p) => (runner(p).securityContext.capabilities.add = ["NET_RAW"]),
      /must not add capabilities/,
    ],
    [
      "no disk limit",
      (p) => delete runner(p).resources.limits["ephemeral-storage"],
      /limits\["ephemeral-storage"\]/,
    ],
    ["no cpu request", (p) => delete runner(p).resources.requests.cpu, /requests\["cpu"\]/],
    [
      "no workspace volume",
      (p) => (runner(p).volumeMounts = runner(p).volumeMounts.slice(1)),
      /\/workspace must be an emptyDir/,
    ],
  ])("fails a runner Job with %s", (_what, change, message) => {
    const problems = check(mutate(runnerJobResource(), change));
    expect(problems.some((p) => message.test(p))).toBe(true);
  });

  it("catches a broken construct: runnerPodSpec output without its runtime class", () => {
    const spec = runnerPodSpec({ image: `${REGISTRY}/plue-runner:1`, appUrl: "https://x.plue.dev" });
    delete spec.runtimeClassName;
    const pod = fromManifest({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "r",
        namespace: "plue-alice-workflows",
        labels: { "app.kubernetes.io/name": "plue", "app.kubernetes.io/component": "runner" },
      },
      spec,
    });
    expect(check(pod)).toEqual([expect.stringMatching(/^runtimeClassName must be "gvisor"/)]);
  });
});

describe("workload-security-baseline", () => {
  const check = (r: PolicyResource) => workloadBaseline.validateResource(r, context);

  it("passes the API and the runners", () => {
    expect(check(api)).toEqual([]);
    expect(check(warmPool)).toEqual([]);
    expect(check(runnerJobResource())).toEqual([]);
  });

  it.each<[string, (p: Props) => void, RegExp]>([
    [
      "root",
      (p) => {
        podOf(p).securityContext.runAsNonRoot = false;
        podOf(p).containers[0].securityContext.runAsNonRoot = false;
      },
      /runAsNonRoot/,
    ],
    [
      "escalation",
      (p) => (podOf(p).containers[0].securityContext.allowPrivilegeEscalation = true),
      /allowPrivilegeEscalation/,
    ],
    ["privileged", (p) => (podOf(p).containers[0].securityContext.privileged = true), /privileged/],
    ["no cpu limit", (p) => delete podOf(p).containers[0].resources.limits.cpu, /limits.cpu/],
    ["host PID", (p) => (podOf(p).hostPID = true), /hostPID/],
  ])("fails the API with %s", (_what, change, message) => {
    expect(check(mutate(api, change)).some((p) => message.test(p))).toBe(true);
  });
});

describe("images-pinned-from-registry", () => {
  it("passes pinned images from the registry", () => {
    expect(imagesPinned.validateResource(api, context)).toEqual([]);
    expect(imageProblems(`${REGISTRY}/plue-app@sha256:${"a".repeat(64)}`, [REGISTRY])).toEqual([]);
    expect(imageProblems(`${REGISTRY}/plue-app:3f2a1bc@sha256:${"a".repeat(64)}`, [REGISTRY])).toEqual([]);
  });

  it.each([
    [`${REGISTRY}/plue-app:latest`, /uses :latest/],
    [`${REGISTRY}/plue-app`, /no tag or digest/],
    ["docker.io/library/node:20", /not from the configured registry/],
    [`${REGISTRY}-evil/plue-app:1`, /not from the configured registry/],
  ])("fails %s", (image, message) => {
    const bad = mutate(api, (p) => (podOf(p).containers[0].image = image));
    expect(imagesPinned.validateResource(bad, context)).toEqual([expect.stringMatching(message)]);
  });

  it("treats a registry with a port as part of the name, not a tag", () => {
    expect(imageProblems("localhost:5000/plue-app", ["localhost:5000"])).toEqual([
      expect.stringMatching(/no tag or digest/),
    ]);
  });
});

describe("namespace-pod-security-restricted", () => {
  it("passes both environment namespaces", () => {
    for (const ns of env.filter((r) => r.props.kind === "Namespace")) {
      expect(namespacePodSecurity.validateResource(ns, context)).toEqual([]);
    }
  });

  it.each<[string, (p: Props) => void]>([
    ["a weaker enforce level", (p) => (p.metadata.labels["pod-security.kubernetes.io/enforce"] = "baseline")],
    ["no warn label", (p) => delete p.metadata.labels["pod-security.kubernetes.io/warn"]],
    ["no labels at all", (p) => delete p.metadata.labels],
  ])("fails a namespace with %s", (_what, change) => {
    expect(
      namespacePodSecurity.validateResource(mutate(pick(env, "Namespace", "plue-alice"), change), context)
        .length,
    ).toBeGreaterThan(0);
  });
});

describe("egress-excludes-private-ranges", () => {
  const egress = pick(env, "NetworkPolicy", "runner-egress");
  const check = (r: PolicyResource) => egressNoPrivateRanges.validateResource(r, context);

  it("passes the runner egress policy and the default deny", () => {
    expect(check(egress)).toEqual([]);
    expect(check(pick(env, "NetworkPolicy", "default-deny"))).toEqual([]);
  });

  it("catches a broken construct: egress to 10.0.0.0/8 written with cdk8s-plus", () => {
    const chart = new Chart(new App(), "broken");
    new kplus.NetworkPolicy(chart, "Leaky", {
      metadata: { name: "leaky", namespace: "plue-alice-workflows" },
      egress: {
        rules: [
          {
            peer: kplus.NetworkPolicyIpBlock.ipv4(chart, "Private", "10.0.0.0/8"),
            ports: [kplus.NetworkPolicyPort.tcp(443)],
          },
        ],
      },
    });
    const [leaky] = chart.toJson().map(fromManifest);
    expect(check(leaky!)).toEqual(["egress[0]: egress to 10.0.0.0/8 reaches the private range 10.0.0.0/8"]);
  });

  const firstBlock = (p: Props) => p.spec.egress[1].to[0].ipBlock;
  it.each<[string, (p: Props) => void, RegExp]>([
    [
      "the metadata range not excepted",
      (p) => (firstBlock(p).except = firstBlock(p).except.filter((c: string) => c !== "169.254.0.0/16")),
      /must except 169\.254\.0\.0\/16/,
    ],
    [
      "a block inside 172.16/12",
      (p) => (p.spec.egress[1].to[0].ipBlock = { cidr: "172.20.0.0/16" }),
      /reaches the private range 172\.16\.0\.0\/12/,
    ],
    ["a rule without destinations", (p) => delete p.spec.egress[1].to, /allows every destination/],
    ["IPv6", (p) => (p.spec.egress[1].to[0].ipBlock = { cidr: "::/0" }), /IPv6/],
    [
      "a malformed CIDR",
      (p) => (p.spec.egress[1].to[0].ipBlock = { cidr: "0.0.0.0" }),
      /not a valid IPv4 CIDR/,
    ],
  ])("fails %s", (_what, change, message) => {
    expect(check(mutate(egress, change)).some((m) => message.test(m))).toBe(true);
  });
});

describe("runner-namespace-isolated", () => {
  const check = (rs: PolicyResource[]) => runnerNamespaceIsolated.validateStack(rs, context);
  const without = (kind: string, name: string) =>
    env.filter((r) => !(r.props.kind === kind && r.props.metadata?.name === name));
  const replace = (kind: string, name: string, change: (p: Props) => void) =>
    env.map((r) => (r.props.kind === kind && r.props.metadata?.name === name ? mutate(r, change) : r));

  it("passes the environment charts", () => {
    expect(check(env)).toEqual([]);
  });

  it("fails without the default deny", () => {
    expect(check(without("NetworkPolicy", "default-deny"))).toEqual([
      expect.stringMatching(/needs a default-deny/),
    ]);
  });

  it("fails without the runner egress policy", () => {
    expect(check(without("NetworkPolicy", "runner-egress"))).toEqual([
      expect.stringMatching(/needs the runner egress policy/),
    ]);
  });

  it("fails when DNS is not limited to kube-dns", () => {
    const r = replace(
      "NetworkPolicy",
      "runner-egress",
      (p) => delete p.spec.egress[0].to[0].namespaceSelector,
    );
    expect(check(r)).toEqual([expect.stringMatching(/needs the runner egress policy/)]);
  });

  it("fails when a policy admits ingress to runners", () => {
    const r = replace("NetworkPolicy", "runner-egress", (p) => {
      p.spec.policyTypes.push("Ingress");
      p.spec.ingress = [{ from: [{ podSelector: {} }] }];
    });
    expect(check(r)).toEqual([expect.stringMatching(/admits ingress; runners accept no connections/)]);
  });

  it("fails when something else runs in the runner namespace", () => {
    const r = replace("Deployment", "plue-api", (p) => (p.metadata.namespace = "plue-alice-workflows"));
    expect(check(r)).toEqual([
      expect.stringMatching(/only runner pods may run in runner namespace plue-alice-workflows/),
    ]);
  });

  it("fails when runners run outside a runner namespace", () => {
    const r = replace("Namespace", "plue-alice-workflows", (p) => delete p.metadata.labels["plue.dev/tier"]);
    expect(check(r)).toEqual([expect.stringMatching(/runner pods must run in a runner namespace/)]);
  });
});

describe("ingress-tls", () => {
  const ingress = pick(env, "Ingress", "plue");
  const check = (r: PolicyResource) => ingressTls.validateResource(r, context);

  it("passes the API's ingress", () => {
    expect(check(ingress)).toEqual([]);
  });

  it.each<[string, (p: Props) => void, RegExp]>([
    ["no tls", (p) => delete p.spec.tls, /has no tls/],
    [
      "a host left out",
      (p) => p.spec.rules.push({ host: "other.plue.dev", http: p.spec.rules[0].http }),
      /other\.plue\.dev is not covered/,
    ],
    ["no certificate secret", (p) => delete p.spec.tls[0].secretName, /no secretName/],
    ["a catch-all rule", (p) => delete p.spec.rules[0].host, /without host/],
  ])("fails with %s", (_what, change, message) => {
    expect(check(mutate(ingress, change)).some((m) => message.test(m))).toBe(true);
  });
});

describe("kubernetesType", () => {
  it("maps core and grouped kinds to Pulumi type tokens", () => {
    expect(kubernetesType({ apiVersion: "v1", kind: "Pod" })).toBe("kubernetes:core/v1:Pod");
    expect(kubernetesType({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy" })).toBe(
      "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    );
  });
});
