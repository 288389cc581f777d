/** Rules over Kubernetes objects, as `@pulumi/kubernetes` resources carry them (props = the manifest). */
import {
  KUBE_DNS,
  LABEL,
  POD_SECURITY_RESTRICTED,
  RUNNER_SELECTOR,
  RUNNER_TIER,
} from "../constructs/k8s/labels";
import { RUNNER_UID, TMP_PATH, WORKSPACE_PATH } from "../constructs/k8s/runner-pod";
import { ANY_IPV4_CIDR, DNS_PORT, FORBIDDEN_EGRESS_CIDRS, GVISOR, HTTPS_PORT } from "../constructs/sandbox";
import { containsBlock, isIpv6Cidr, parseIpv4Cidr } from "./cidr";
import type { PolicyResource, ResourceRule, StackRule } from "./types";

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped JSON here.
type Json = any;

/** The Pulumi type token of a manifest: `kubernetes:apps/v1:Deployment`, `kubernetes:core/v1:Pod`. */
export function kubernetesType(manifest: { apiVersion: string; kind: string }): string {
  const [group, version] = manifest.apiVersion.includes("/")
    ? manifest.apiVersion.split("/")
    : ["core", manifest.apiVersion];
  return `kubernetes:${group}/${version}:${manifest.kind}`;
}

/** A manifest as a PolicyResource (named the way ConfigGroup names it: `namespace/name`). */
export function fromManifest(manifest: Json): PolicyResource {
  const ns = manifest.metadata?.namespace;
  return {
    type: kubernetesType(manifest),
    name: ns ? `${ns}/${manifest.metadata.name}` : manifest.metadata?.name,
    props: manifest,
  };
}

const kindOf = (type: string): string | undefined =>
  type.startsWith("kubernetes:") ? type.slice(type.lastIndexOf(":") + 1) : undefined;

export interface PodTemplate {
  readonly kind: string;
  readonly namespace?: string;
  readonly labels: Record<string, string>;
  readonly spec: Json;
  /** Runs to completion (Job, CronJob, bare Pod): needs a deadline. */
  readonly oneShot: boolean;
  /** activeDeadlineSeconds on the Job itself, which also bounds the pod. */
  readonly jobDeadline?: number;
}

/** The pod template inside any workload kind, or undefined for other objects. */
export function podTemplate(resource: PolicyResource): PodTemplate | undefined {
  const kind = kindOf(resource.type);
  const p = resource.props ?? {};
  const namespace = p.metadata?.namespace;
  const from = (t: Json, oneShot: boolean, jobDeadline?: number): PodTemplate | undefined =>
    t?.spec
      ? { kind: kind!, namespace, labels: t.metadata?.labels ?? {}, spec: t.spec, oneShot, jobDeadline }
      : undefined;
  switch (kind) {
    case "Pod":
      return from(p, p.spec?.restartPolicy !== "Always");
    case "Deployment":
    case "StatefulSet":
    case "DaemonSet":
    case "ReplicaSet":
      return from(p.spec?.template, false);
    case "Job":
      return from(p.spec?.template, true, p.spec?.activeDeadlineSeconds);
    case "CronJob":
      return from(
        p.spec?.jobTemplate?.spec?.template,
        true,
        p.spec?.jobTemplate?.spec?.activeDeadlineSeconds,
      );
    default:
      return undefined;
  }
}

const isRunner = (t: PodTemplate) => Object.entries(RUNNER_SELECTOR).every(([k, v]) => t.labels[k] === v);
const containersOf = (spec: Json): Json[] => [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
/** A container's effective security setting: its own, else the pod's. */
const effective = (spec: Json, c: Json, key: string) =>
  c.securityContext?.[key] ?? spec.securityContext?.[key];
const RESOURCE_NAMES = ["cpu", "memory", "ephemeral-storage"];

/** Every clause of the runner pod spec (constructs/k8s/runner-pod.ts), checked on any runner workload. */
function runnerProblems(t: PodTemplate): string[] {
  const s = t.spec;
  const out: string[] = [];
  if (s.runtimeClassName !== GVISOR.runtimeClassName) {
    out.push(
      `runtimeClassName must be "${GVISOR.runtimeClassName}" (got ${JSON.stringify(s.runtimeClassName)}): runner code is untrusted and must run in the gVisor sandbox`,
    );
  }
  if (s.automountServiceAccountToken !== false) {
    out.push("automountServiceAccountToken must be false: a runner must hold no Kubernetes credentials");
  }
  for (const flag of ["hostNetwork", "hostPID", "hostIPC"]) if (s[flag]) out.push(`${flag} must not be set`);
  const tolerates = (s.tolerations ?? []).some(
    (x: Json) =>
      x.key === GVISOR.taintKey &&
      (x.operator === "Exists" || x.value === GVISOR.taintValue) &&
      (!x.effect || x.effect === "NoSchedule"),
  );
  if (!tolerates)
    out.push(
      `must tolerate the ${GVISOR.taintKey}=${GVISOR.taintValue}:NoSchedule taint of the sandbox pool`,
    );
  if (s.nodeSelector?.[GVISOR.taintKey] !== GVISOR.taintValue) {
    out.push(`nodeSelector must pin ${GVISOR.taintKey}=${GVISOR.taintValue} (sandbox nodes only)`);
  }
  if (t.oneShot && !(s.activeDeadlineSeconds > 0) && !(t.jobDeadline && t.jobDeadline > 0)) {
    out.push("one-shot runner pods need activeDeadlineSeconds so a stuck workload cannot run forever");
  }
  const volumes = new Map<string, Json>((s.volumes ?? []).map((v: Json) => [v.name, v]));
  if ([...volumes.values()].some((v) => v.hostPath)) out.push("hostPath volumes are not allowed");
  for (const c of containersOf(s)) out.push(...runnerContainerProblems(s, c, volumes));
  return out;
}

function runnerContainerProblems(spec: Json, c: Json, volumes: Map<string, Json>): string[] {
  const out: string[] = [];
  const at = `container "${c.name}"`;
  if (effective(spec, c, "runAsNonRoot") !== true) out.push(`${at}: runAsNonRoot must be true`);
  for (const key of ["runAsUser", "runAsGroup"]) {
    if (effective(spec, c, key) !== RUNNER_UID) out.push(`${at}: ${key} must be ${RUNNER_UID}`);
  }
  if (effective(spec, c, "seccompProfile")?.type !== "RuntimeDefault")
    out.push(`${at}: seccompProfile must be RuntimeDefault`);
  const sc = c.securityContext ?? {};
  if (sc.allowPrivilegeEscalation !== false) out.push(`${at}: allowPrivilegeEscalation must be false`);
  if (sc.privileged) out.push(`${at}: must not be privileged`);
  if (sc.readOnlyRootFilesystem !== true) out.push(`${at}: readOnlyRootFilesystem must be true`);
  if (!(sc.capabilities?.drop ?? []).includes("ALL")) out.push(`${at}: capabilities must drop ALL`);
  if ((sc.capabilities?.add ?? []).length > 0) out.push(`${at}: must not add capabilities`);
  for (const side of ["requests", "limits"]) {
    for (const r of RESOURCE_NAMES) {
      if (c.resources?.[side]?.[r] === undefined) out.push(`${at}: resources.${side}["${r}"] must be set`);
    }
  }
  for (const path of [WORKSPACE_PATH, TMP_PATH]) {
    const mount = (c.volumeMounts ?? []).find((m: Json) => m.mountPath === path);
    if (!mount || !volumes.get(mount.name)?.emptyDir)
      out.push(`${at}: ${path} must be an emptyDir mount (the root filesystem is read-only)`);
  }
  return out;
}

export const runnerPodHardened: ResourceRule = {
  name: "runner-pod-hardened",
  description:
    "Runner pods run in gVisor as uid 1000 with no privileges, no service-account token, a read-only root and bounded resources.",
  enforcementLevel: "mandatory",
  validateResource(resource) {
    const t = podTemplate(resource);
    return t && isRunner(t) ? runnerProblems(t) : [];
  },
};

export const workloadBaseline: ResourceRule = {
  name: "workload-security-baseline",
  description:
    "Every workload runs non-root, without privilege escalation or host access, and with CPU and memory limits.",
  enforcementLevel: "mandatory",
  validateResource(resource) {
    const t = podTemplate(resource);
    if (!t) return [];
    const s = t.spec;
    const out: string[] = [];
    for (const flag of ["hostNetwork", "hostPID", "hostIPC"])
      if (s[flag]) out.push(`${flag} must not be set`);
    if ((s.volumes ?? []).some((v: Json) => v.hostPath)) out.push("hostPath volumes are not allowed");
    for (const c of containersOf(s)) {
      const at = `container "${c.name}"`;
      if (effective(s, c, "runAsNonRoot") !== true) out.push(`${at}: runAsNonRoot must be true`);
      if (c.securityContext?.allowPrivilegeEscalation !== false)
        out.push(`${at}: allowPrivilegeEscalation must be false`);
      if (c.securityContext?.privileged) out.push(`${at}: must not be privileged`);
      for (const r of ["cpu", "memory"]) {
        if (c.resources?.limits?.[r] === undefined) out.push(`${at}: resources.limits.${r} must be set`);
      }
    }
    return out;
  },
};

/** `registry/path/name:tag[@digest]` → whether it is pinned, and from which registry. */
export function imageProblems(image: unknown, registries: readonly string[]): string[] {
  if (typeof image !== "string" || image === "") return ["has no image"];
  const out: string[] = [];
  const [name, digest] = image.split("@");
  const lastSlash = name!.lastIndexOf("/");
  const tag = name!.includes(":", lastSlash) ? name!.slice(name!.lastIndexOf(":") + 1) : undefined;
  if (tag === "latest")
    out.push(`image "${image}" uses :latest; pin a version or digest so rollouts are reproducible`);
  else if (!tag && !digest)
    out.push(`image "${image}" has no tag or digest; pin one so rollouts are reproducible`);
  if (!registries.some((r) => image.startsWith(`${r.replace(/\/+$/, "")}/`))) {
    out.push(`image "${image}" is not from the configured registry (${registries.join(", ")})`);
  }
  return out;
}

export const imagesPinned: ResourceRule = {
  name: "images-pinned-from-registry",
  description:
    "Container images carry a version tag or digest (never latest) and come from the configured registry.",
  enforcementLevel: "mandatory",
  validateResource(resource, context) {
    const t = podTemplate(resource);
    if (!t) return [];
    return containersOf(t.spec).flatMap((c) =>
      imageProblems(c.image, context.registries).map((m) => `container "${c.name}": ${m}`),
    );
  },
};

export const namespacePodSecurity: ResourceRule = {
  name: "namespace-pod-security-restricted",
  description: "Namespaces enforce, audit and warn on the Pod Security restricted profile.",
  enforcementLevel: "mandatory",
  validateResource(resource) {
    if (kindOf(resource.type) !== "Namespace") return [];
    const labels = resource.props.metadata?.labels ?? {};
    return Object.entries(POD_SECURITY_RESTRICTED)
      .filter(([k, v]) => labels[k] !== v)
      .map(([k, v]) => `label ${k} must be "${v}" (got ${JSON.stringify(labels[k])})`);
  },
};

/** Problems with one ipBlock peer of an egress rule. */
function ipBlockProblems(block: Json): string[] {
  const cidr = String(block.cidr ?? "");
  if (isIpv6Cidr(cidr))
    return [`egress to IPv6 ${cidr} is not allowed (private-range exclusion is only checked for IPv4)`];
  const outer = parseIpv4Cidr(cidr);
  if (!outer) return [`egress ipBlock "${cidr}" is not a valid IPv4 CIDR`];
  const excepts = ((block.except ?? []) as string[]).map(parseIpv4Cidr);
  const out: string[] = [];
  for (const forbidden of FORBIDDEN_EGRESS_CIDRS) {
    const f = parseIpv4Cidr(forbidden)!;
    if (containsBlock(f, outer)) out.push(`egress to ${cidr} reaches the private range ${forbidden}`);
    else if (containsBlock(outer, f) && !excepts.some((e) => e && containsBlock(e, f))) {
      out.push(
        `egress to ${cidr} must except ${forbidden} (private ranges and the metadata server stay unreachable)`,
      );
    }
  }
  return out;
}

export const egressNoPrivateRanges: ResourceRule = {
  name: "egress-excludes-private-ranges",
  description:
    "No NetworkPolicy egress rule reaches 10/8, 172.16/12, 192.168/16 or the 169.254/16 metadata range.",
  enforcementLevel: "mandatory",
  validateResource(resource) {
    if (kindOf(resource.type) !== "NetworkPolicy") return [];
    return (resource.props.spec?.egress ?? []).flatMap((rule: Json, i: number) => {
      const to: Json[] = rule.to ?? [];
      if (to.length === 0) return [`egress[${i}] has no "to", so it allows every destination`];
      return to.flatMap((peer) =>
        peer.ipBlock ? ipBlockProblems(peer.ipBlock).map((m) => `egress[${i}]: ${m}`) : [],
      );
    });
  },
};

const selectsAll = (sel: Json) =>
  sel !== undefined &&
  Object.keys(sel.matchLabels ?? {}).length === 0 &&
  (sel.matchExpressions ?? []).length === 0;
const selectsRunners = (sel: Json) =>
  selectsAll(sel) ||
  (Object.entries(sel?.matchLabels ?? {}).every(([k, v]) => RUNNER_SELECTOR[k] === v) &&
    (sel?.matchExpressions ?? []).length === 0);
const ports = (rule: Json) => (rule.ports ?? []).map((p: Json) => `${p.protocol ?? "TCP"}/${p.port}`);
const toKubeDns = (peer: Json) =>
  peer.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] === KUBE_DNS.namespace &&
  Object.entries(KUBE_DNS.labels).every(([k, v]) => peer.podSelector?.matchLabels?.[k] === v);

function isDefaultDeny(np: Json): boolean {
  const s = np.spec ?? {};
  const types: string[] = s.policyTypes ?? [];
  return (
    selectsAll(s.podSelector) &&
    types.includes("Ingress") &&
    types.includes("Egress") &&
    !s.ingress?.length &&
    !s.egress?.length
  );
}

function isRunnerEgress(np: Json): boolean {
  const s = np.spec ?? {};
  if (!selectsRunners(s.podSelector) || !(s.policyTypes ?? []).includes("Egress")) return false;
  const rules: Json[] = s.egress ?? [];
  const dns = rules.some(
    (r) =>
      (r.to ?? []).some(toKubeDns) &&
      [`UDP/${DNS_PORT}`, `TCP/${DNS_PORT}`].every((p) => ports(r).includes(p)),
  );
  const https = rules.some(
    (r) =>
      (r.to ?? []).some((p: Json) => p.ipBlock?.cidr === ANY_IPV4_CIDR) &&
      ports(r).includes(`TCP/${HTTPS_PORT}`),
  );
  return dns && https;
}

export const runnerNamespaceIsolated: StackRule = {
  name: "runner-namespace-isolated",
  description:
    "Runner namespaces have a default-deny policy and the runner egress policy, and nothing else runs or is admitted there.",
  enforcementLevel: "mandatory",
  validateStack(resources) {
    const runnerNamespaces = resources
      .filter((r) => kindOf(r.type) === "Namespace" && r.props.metadata?.labels?.[LABEL.tier] === RUNNER_TIER)
      .map((r) => r.props.metadata.name as string);
    const policiesIn = (ns: string) =>
      resources
        .filter((r) => kindOf(r.type) === "NetworkPolicy" && r.props.metadata?.namespace === ns)
        .map((r) => r.props);
    const out: string[] = [];
    for (const ns of runnerNamespaces) {
      const nps = policiesIn(ns);
      if (!nps.some(isDefaultDeny))
        out.push(
          `namespace ${ns}: needs a default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)`,
        );
      if (!nps.some(isRunnerEgress))
        out.push(
          `namespace ${ns}: needs the runner egress policy (kube-dns on UDP+TCP ${DNS_PORT}, TCP ${HTTPS_PORT} to ${ANY_IPV4_CIDR})`,
        );
      for (const np of nps) {
        if ((np.spec?.ingress ?? []).length > 0)
          out.push(
            `namespace ${ns}: NetworkPolicy ${np.metadata?.name} admits ingress; runners accept no connections`,
          );
      }
    }
    for (const r of resources) {
      const t = podTemplate(r);
      if (!t) continue;
      const inRunnerNs = t.namespace !== undefined && runnerNamespaces.includes(t.namespace);
      if (inRunnerNs && !isRunner(t))
        out.push(`${r.name}: only runner pods may run in runner namespace ${t.namespace}`);
      if (isRunner(t) && !inRunnerNs)
        out.push(`${r.name}: runner pods must run in a runner namespace (got ${t.namespace ?? "none"})`);
    }
    return out;
  },
};

export const ingressTls: ResourceRule = {
  name: "ingress-tls",
  description: "Ingresses terminate TLS for every host they serve.",
  enforcementLevel: "mandatory",
  validateResource(resource) {
    if (kindOf(resource.type) !== "Ingress") return [];
    const spec = resource.props.spec ?? {};
    const tls: Json[] = spec.tls ?? [];
    if (tls.length === 0) return ["has no tls section; serve HTTPS only"];
    const covered = new Set(tls.flatMap((t) => t.hosts ?? []));
    const out = tls.filter((t) => !t.secretName).map(() => "a tls entry has no secretName");
    for (const rule of spec.rules ?? []) {
      if (!rule.host) out.push("a rule without host serves every hostname, which TLS cannot cover");
      else if (!covered.has(rule.host)) out.push(`host ${rule.host} is not covered by tls`);
    }
    return out;
  },
};
