/** Label keys and values Plue puts on its Kubernetes objects; selectors and policies read them from here. */
export const LABEL = {
  name: "app.kubernetes.io/name",
  component: "app.kubernetes.io/component",
  instance: "app.kubernetes.io/instance",
  managedBy: "app.kubernetes.io/managed-by",
  /** Set on runner Jobs and their pods: the workload the pod runs. */
  taskId: "plue.dev/task-id",
  /** 'agent' | 'workflow' on runner Jobs and their pods. */
  workloadType: "plue.dev/workload-type",
  /** Which pool a runner pod belongs to: one of POOL. */
  pool: "plue.dev/pool",
  /** 'runners' on namespaces that hold runner pods (and so must be locked down). */
  tier: "plue.dev/tier",
} as const;

export const APP_NAME = "plue";
/** The API's Deployment, Service and ServiceAccount name in every environment. */
export const API_NAME = "plue-api";

export const COMPONENT = { api: "api", runner: "runner" } as const;

export const RUNNER_TIER = "runners";

/**
 * `warm`: idle in the warm-pool Deployment. `claimed`: taken by a workload and relabelled out of the
 * Deployment's selector (the app does this). `cold`: the pod of a Job created for one workload.
 */
export const POOL = { warm: "warm", claimed: "claimed", cold: "cold" } as const;

/** Labels every runner pod carries, warm or cold; NetworkPolicies select runners by them. */
export const RUNNER_SELECTOR: Readonly<Record<string, string>> = {
  [LABEL.name]: APP_NAME,
  [LABEL.component]: COMPONENT.runner,
};

/** Pod Security Admission labels for the `restricted` profile (enforce, audit and warn). */
export const POD_SECURITY_RESTRICTED: Readonly<Record<string, string>> = {
  "pod-security.kubernetes.io/enforce": "restricted",
  "pod-security.kubernetes.io/audit": "restricted",
  "pod-security.kubernetes.io/warn": "restricted",
};

/** Where kube-dns runs on GKE (and most distributions); runner egress may reach it and nothing else inside. */
export const KUBE_DNS = { namespace: "kube-system", labels: { "k8s-app": "kube-dns" } } as const;
