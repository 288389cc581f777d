/**
 * The hardened runner pod, written once. The warm-pool Deployment (constructs/k8s/warm-pool.ts), the
 * cold-start Job the app POSTs to the Kubernetes API at run time, and the policy tests all build it
 * here, so a runner can never be scheduled with weaker settings than this file states.
 *
 * This module is pure and needs neither cdk8s nor Pulumi at run time (only types from
 * kubernetes-models, the sandbox's limit constants and the runner's variable names from
 * app/wire/runner-env.ts), so the app may import it. The objects it returns are plain JSON.
 */
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IEnvVar } from "kubernetes-models/v1/EnvVar";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import type { IResourceRequirements } from "kubernetes-models/v1/ResourceRequirements";
import { RUNNER_ENV } from "../../app/wire/runner-env";
import { DEFAULT_LIMITS } from "../../runner/sandbox/types";
import { GVISOR } from "../sandbox";
import { LABEL, POOL, RUNNER_SELECTOR } from "./labels";

export type PodSpec = IPodSpec;
export type JobManifest = IJob;

/** The uid and gid runner processes run as (the runner image's `runner` user). */
export const RUNNER_UID = 1000;
export const RUNNER_CONTAINER = "runner";
/** Writable paths on an otherwise read-only root filesystem. */
export const WORKSPACE_PATH = "/workspace";
export const TMP_PATH = "/tmp";

/** The Secret holding the warm-pool registration secret, in both the app and runner namespaces. */
export const RUNNER_POOL_SECRET = { name: "plue-runner-pool", key: "pool-secret" } as const;

export type RunnerMode = "standby";
export type WorkloadType = "agent" | "workflow";

export interface RunnerResources {
  readonly requests: { readonly cpu: string; readonly memory: string; readonly ephemeralStorage: string };
  readonly limits: { readonly cpu: string; readonly memory: string; readonly ephemeralStorage: string };
}

/** Bytes as a Kubernetes quantity: whole Gi or Mi where they divide, else plain bytes. */
export function bytesQuantity(n: number): string {
  if (n % 1024 ** 3 === 0) return `${n / 1024 ** 3}Gi`;
  if (n % 1024 ** 2 === 0) return `${n / 1024 ** 2}Mi`;
  return String(n);
}

/**
 * Sized for an e2-standard-4 sandbox node: four runners fit by request, two by limit. In the pod
 * the runner uses no sandbox of its own (PLUE_SANDBOX=none: gVisor and the pod are the sandbox),
 * so the pod's limits are the whole-sandbox limits, taken from the sandbox's DEFAULT_LIMITS.
 */
export const DEFAULT_RUNNER_RESOURCES: RunnerResources = {
  requests: { cpu: "500m", memory: "1Gi", ephemeralStorage: "2Gi" },
  limits: {
    cpu: String(DEFAULT_LIMITS.sandboxCpus),
    memory: bytesQuantity(DEFAULT_LIMITS.sandboxMemoryBytes),
    ephemeralStorage: "10Gi",
  },
};
/** The workspace emptyDir's size limit: the sandbox's workspace limit. */
export const DEFAULT_WORKSPACE_SIZE_LIMIT = bytesQuantity(DEFAULT_LIMITS.workspaceBytes);

export interface RunnerPodProps {
  /** Runner image, pinned by tag or digest (policies refuse `:latest` and untagged images). */
  readonly image: string;
  /** Base URL the runner calls back (HTTPS; runners accept no inbound connections). */
  readonly appUrl: string;
  /**
   * How the runner starts. Per-task configuration travels in the pool assignment, never as env.
   * @default "standby"
   */
  readonly mode?: RunnerMode;
  /**
   * Extra environment (for example `PLUE_TASK_ID` on a cold Job). May not override the names above.
   * @default {}
   */
  readonly env?: Readonly<Record<string, string>>;
  /** @default DEFAULT_RUNNER_RESOURCES */
  readonly resources?: RunnerResources;
  /**
   * Hard wall-clock limit for one-shot pods. Leave unset for warm-pool pods (a Deployment restarts them).
   * @default undefined
   */
  readonly activeDeadlineSeconds?: number;
  /** @default "Always"; one-shot Job pods use "Never" */
  readonly restartPolicy?: "Always" | "Never";
  /** Size cap of the workspace emptyDir. @default DEFAULT_WORKSPACE_SIZE_LIMIT ("8Gi") */
  readonly workspaceSizeLimit?: string;
  /** Size cap of the /tmp emptyDir. @default "1Gi" */
  readonly tmpSizeLimit?: string;
  /** @default 30 */
  readonly terminationGracePeriodSeconds?: number;
}

const QUANTITY = /^\d+(\.\d+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/;

/** Builds the hardened runner pod spec. Throws on input Kubernetes would reject, naming the prop. */
export function runnerPodSpec(props: RunnerPodProps): PodSpec {
  validateRunnerProps(props);
  const resources = props.resources ?? DEFAULT_RUNNER_RESOURCES;
  const container: IContainer = {
    name: RUNNER_CONTAINER,
    image: props.image,
    imagePullPolicy: "IfNotPresent",
    workingDir: WORKSPACE_PATH,
    env: runnerEnv(props),
    resources: toKubeResources(resources),
    securityContext: {
      runAsUser: RUNNER_UID,
      runAsGroup: RUNNER_UID,
      runAsNonRoot: true,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    volumeMounts: [
      { name: "workspace", mountPath: WORKSPACE_PATH },
      { name: "tmp", mountPath: TMP_PATH },
    ],
  };
  return {
    runtimeClassName: GVISOR.runtimeClassName,
    automountServiceAccountToken: false,
    // Service links inject every Service's address as env; runners have no use for them.
    enableServiceLinks: false,
    restartPolicy: props.restartPolicy ?? "Always",
    terminationGracePeriodSeconds: props.terminationGracePeriodSeconds ?? 30,
    ...(props.activeDeadlineSeconds === undefined
      ? {}
      : { activeDeadlineSeconds: props.activeDeadlineSeconds }),
    securityContext: {
      runAsUser: RUNNER_UID,
      runAsGroup: RUNNER_UID,
      fsGroup: RUNNER_UID,
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    },
    nodeSelector: { [GVISOR.taintKey]: GVISOR.taintValue },
    tolerations: [
      { key: GVISOR.taintKey, operator: "Equal", value: GVISOR.taintValue, effect: "NoSchedule" },
    ],
    containers: [container],
    volumes: [
      {
        name: "workspace",
        emptyDir: { sizeLimit: props.workspaceSizeLimit ?? DEFAULT_WORKSPACE_SIZE_LIMIT },
      },
      { name: "tmp", emptyDir: { sizeLimit: props.tmpSizeLimit ?? "1Gi" } },
    ],
  };
}

function runnerEnv(props: RunnerPodProps): IEnvVar[] {
  const own = ownEnv(props);
  const reserved = new Set(own.map((v) => v.name));
  const extra = Object.entries(props.env ?? {}).map(([name, value]) => {
    if (reserved.has(name)) {
      throw new Error(
        `runnerPodSpec: env.${name} is set by the builder itself; use the matching prop instead`,
      );
    }
    return { name, value };
  });
  return [...own, ...extra];
}

/** The variables the builder sets itself (a cold Job adds RUNNER_ENV.taskId through `env`). */
function ownEnv(props: RunnerPodProps): IEnvVar[] {
  return [
    { name: RUNNER_ENV.appUrl, value: props.appUrl },
    { name: RUNNER_ENV.mode, value: props.mode ?? "standby" },
    {
      name: RUNNER_ENV.poolSecret,
      valueFrom: { secretKeyRef: { name: RUNNER_POOL_SECRET.name, key: RUNNER_POOL_SECRET.key } },
    },
    { name: RUNNER_ENV.podName, valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    { name: RUNNER_ENV.podIp, valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
    // The pod is the sandbox (gVisor): the runner must not nest another one inside it.
    { name: RUNNER_ENV.sandbox, value: "none" },
    { name: RUNNER_ENV.workspace, value: WORKSPACE_PATH },
    // The root filesystem is read-only; tools that write to $HOME get the per-pod /tmp.
    { name: RUNNER_ENV.home, value: TMP_PATH },
  ];
}

function toKubeResources(r: RunnerResources): IResourceRequirements {
  return {
    requests: {
      cpu: r.requests.cpu,
      memory: r.requests.memory,
      "ephemeral-storage": r.requests.ephemeralStorage,
    },
    limits: { cpu: r.limits.cpu, memory: r.limits.memory, "ephemeral-storage": r.limits.ephemeralStorage },
  };
}

function validateRunnerProps(props: RunnerPodProps): void {
  const problems: string[] = [];
  if (!props.image || /\s/.test(props.image)) problems.push(`image must be a non-empty image reference`);
  if (!/^https:\/\/[^\s/]+/.test(props.appUrl ?? "")) {
    problems.push(`appUrl must be an https:// URL (runners only speak HTTPS), got "${props.appUrl}"`);
  }
  const d = props.activeDeadlineSeconds;
  if (d !== undefined && (!Number.isInteger(d) || d <= 0)) {
    problems.push(`activeDeadlineSeconds must be a positive integer, got ${d}`);
  }
  const r = props.resources;
  if (r) {
    for (const side of ["requests", "limits"] as const) {
      for (const [k, v] of Object.entries(r[side])) {
        if (!QUANTITY.test(v)) problems.push(`resources.${side}.${k} "${v}" is not a Kubernetes quantity`);
      }
    }
  }
  for (const [k, v] of [
    ["workspaceSizeLimit", props.workspaceSizeLimit],
    ["tmpSizeLimit", props.tmpSizeLimit],
  ] as const) {
    if (v !== undefined && !QUANTITY.test(v)) problems.push(`${k} "${v}" is not a Kubernetes quantity`);
  }
  if (problems.length > 0) throw new Error(`runnerPodSpec: ${problems.join("; ")}`);
}

export interface RunnerJobProps extends Omit<RunnerPodProps, "restartPolicy" | "env"> {
  /** The workload this Job runs; becomes the `plue.dev/task-id` label and the Job's name. */
  readonly taskId: string;
  readonly workloadType: WorkloadType;
  /** Namespace for the Job (the environment's runner namespace). */
  readonly namespace: string;
  /** @default 3600 (one hour) */
  readonly activeDeadlineSeconds?: number;
  /** How long a finished Job (and its pod's logs) stays before Kubernetes deletes it. @default 600 */
  readonly ttlSecondsAfterFinished?: number;
  /** Extra env; `PLUE_TASK_ID` is always set from `taskId`. @default {} */
  readonly env?: Readonly<Record<string, string>>;
}

const LABEL_VALUE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const RUNNER_JOB_PREFIX = "plue-task-";

/** A complete batch/v1 Job that runs one workload in a fresh hardened runner pod (a cold start). */
export function runnerJob(props: RunnerJobProps): JobManifest {
  const maxId = 63 - RUNNER_JOB_PREFIX.length;
  if (!LABEL_VALUE.test(props.taskId) || props.taskId.length > maxId) {
    throw new Error(
      `runnerJob: taskId "${props.taskId}" must be lowercase letters, digits and '-', ` +
        `start and end alphanumeric, at most ${maxId} characters (it names the Job and labels its pod)`,
    );
  }
  if (!props.namespace) throw new Error("runnerJob: namespace is required");
  const labels = {
    ...RUNNER_SELECTOR,
    [LABEL.pool]: POOL.cold,
    [LABEL.taskId]: props.taskId,
    [LABEL.workloadType]: props.workloadType,
  };
  const spec = runnerPodSpec({
    ...props,
    restartPolicy: "Never",
    activeDeadlineSeconds: props.activeDeadlineSeconds ?? 3600,
    env: { ...props.env, [RUNNER_ENV.taskId]: props.taskId },
  });
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: `${RUNNER_JOB_PREFIX}${props.taskId}`, namespace: props.namespace, labels },
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: props.ttlSecondsAfterFinished ?? 600,
      activeDeadlineSeconds: spec.activeDeadlineSeconds,
      template: {
        metadata: {
          labels,
          // A busy runner must not be evicted by a scale-down halfway through its workload.
          annotations: { "cluster-autoscaler.kubernetes.io/safe-to-evict": "false" },
        },
        spec,
      },
    },
  };
}

/** Labels of a warm-pool runner pod. */
export function warmRunnerLabels(instance: string): Record<string, string> {
  return { ...RUNNER_SELECTOR, [LABEL.instance]: instance, [LABEL.pool]: POOL.warm };
}
