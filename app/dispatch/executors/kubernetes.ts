/**
 * Runner pods on Kubernetes (`RUNNER_MODE=kubernetes`), through `@kubernetes/client-node`: the
 * in-cluster service account, or a kubeconfig elsewhere. The warm pool itself is a Deployment
 * (constructs/k8s/warm-pool.ts); this backend
 *
 * - cold-starts a workload as a Job built by `runnerJob` — the same hardened pod spec the
 *   Deployment uses — labelled with the task id and workload type, with `activeDeadlineSeconds`
 *   from the workload's wall time and `ttlSecondsAfterFinished`, so Kubernetes removes the Job and
 *   its pod (their owner reference) after it ends;
 * - relabels a claimed pool pod `plue.dev/pool=claimed` (+ task id, workload type), which takes it
 *   out of the Deployment so the pool refills at once, and deletes it after its one workload;
 * - watches runner pods and reports each runner that ended (exit code, reason) as the backstop
 *   for a runner that died without saying so;
 * - stops a runner by deleting its pod (or its Job) with a grace period;
 * - deletes what no live workload needs (claimed pods and Jobs left behind), for the reaper.
 */
import {
  ApiException,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Job,
  type V1Pod,
  Watch,
} from "@kubernetes/client-node";
import { APP_NAME, COMPONENT, LABEL, POOL } from "../../../constructs/k8s/labels";
import { RUNNER_CONTAINER, RUNNER_JOB_PREFIX, runnerJob } from "../../../constructs/k8s/runner-pod";
import type { Queryable } from "../../db";
import type { Logger } from "../../log";
import type { Assignment } from "../../wire/protocol";
import {
  type ClaimEvent,
  DEADLINE_GRACE_SECONDS,
  type ExitReport,
  type RunnerBackend,
  type RunnerRef,
} from "../executor";
import { isLiveWorkload, LIVE_WORKLOAD_SQL } from "../status";

/** Every runner pod, warm or cold. */
export const RUNNER_POD_SELECTOR = `${LABEL.name}=${APP_NAME},${LABEL.component}=${COMPONENT.runner}`;
/** Container states from which a cold pod never starts: its workload fails now, not at the queue timeout. */
const FATAL_WAITING = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "CreateContainerConfigError",
  "CreateContainerError",
]);

export interface KubernetesRunnersOptions {
  readonly namespace: string;
  /** The runner image, pinned. */
  readonly image: string;
  /** The app's URL as runners reach it (https). */
  readonly appUrl: () => string;
  readonly kubeConfig?: KubeConfig;
  /** Seconds a stopped runner gets to end by itself before it is killed. @default 10 */
  readonly stopGraceSeconds?: number;
  /** How long a finished Job stays for its logs. @default 600 */
  readonly ttlSecondsAfterFinished?: number;
  /** First reconnect delay of the pod watch. @default 1000 */
  readonly watchRetryMs?: number;
}

/** In a pod: its service account. Elsewhere: KUBECONFIG or ~/.kube/config. */
export function loadKubeConfig(env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  if (env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

export class KubernetesRunners implements RunnerBackend {
  readonly kind = "kubernetes" as const;
  readonly core: CoreV1Api;
  readonly batch: BatchV1Api;
  private readonly watcher: Watch;
  private exited?: ExitReport;
  private coldStartFailed?: (workloadId: string, reason: string) => Promise<void>;
  private watch?: AbortController;
  private retryTimer?: NodeJS.Timeout;
  private retryMs: number;
  /** Terminations already reported: pod name / restart count. */
  private readonly reported = new Set<string>();
  private closed = false;

  constructor(
    private readonly db: Queryable,
    private readonly log: Logger,
    private readonly opts: KubernetesRunnersOptions,
  ) {
    const kc = opts.kubeConfig ?? loadKubeConfig();
    this.core = kc.makeApiClient(CoreV1Api);
    this.batch = kc.makeApiClient(BatchV1Api);
    this.watcher = new Watch(kc);
    this.retryMs = opts.watchRetryMs ?? 1000;
  }

  async start(
    exited: ExitReport,
    coldStartFailed: (id: string, reason: string) => Promise<void>,
  ): Promise<void> {
    this.exited = exited;
    this.coldStartFailed = coldStartFailed;
    // Not awaited: a slow API server must not hold up dispatch; the watch retries by itself.
    void this.watchPods();
  }

  canColdStart(): boolean {
    return !this.closed;
  }

  /** The Job a cold start creates (exported for tests and `plue` tooling). */
  jobFor(assignment: Assignment): V1Job {
    const { workload } = assignment;
    return runnerJob({
      taskId: workload.id,
      workloadType: workload.type,
      namespace: this.opts.namespace,
      image: this.opts.image,
      appUrl: this.opts.appUrl(),
      activeDeadlineSeconds: Math.ceil(workload.limits.wall_time_ms / 1000) + DEADLINE_GRACE_SECONDS,
      ttlSecondsAfterFinished: this.opts.ttlSecondsAfterFinished,
    }) as V1Job;
  }

  async coldStart(assignment: Assignment): Promise<void> {
    try {
      await this.batch.createNamespacedJob({ namespace: this.opts.namespace, body: this.jobFor(assignment) });
    } catch (err) {
      if (statusOf(err) === 409) return; // created already (a retried cold start)
      throw new Error(`creating the runner Job failed: ${describe(err)}`);
    }
  }

  claimed(e: ClaimEvent, mine: boolean): void {
    if (!mine || e.cold) return; // one replica relabels; a Job's pod keeps its labels
    const labels = { [LABEL.pool]: POOL.claimed, [LABEL.taskId]: e.task, [LABEL.workloadType]: e.type };
    this.core
      .patchNamespacedPod(
        { name: e.pod, namespace: this.opts.namespace, body: { metadata: { labels } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      )
      .catch((err) =>
        this.log.warn({ err: describe(err), pod: e.pod }, "relabelling a claimed runner pod failed"),
      );
  }

  async stop(runner: RunnerRef): Promise<void> {
    const gracePeriodSeconds = this.opts.stopGraceSeconds ?? 10;
    const namespace = this.opts.namespace;
    await ignoreNotFound(
      runner.cold && runner.workloadId
        ? this.batch.deleteNamespacedJob({
            name: RUNNER_JOB_PREFIX + runner.workloadId,
            namespace,
            gracePeriodSeconds,
            propagationPolicy: "Background",
          })
        : this.core.deleteNamespacedPod({ name: runner.podName, namespace, gracePeriodSeconds }),
    );
  }

  /** Claimed pods whose runner or workload is gone, and Jobs whose workload has ended. */
  async collectOrphans(): Promise<number> {
    const namespace = this.opts.namespace;
    const [pods, jobs] = await Promise.all([
      this.core.listNamespacedPod({
        namespace,
        labelSelector: `${RUNNER_POD_SELECTOR},${LABEL.pool}=${POOL.claimed}`,
      }),
      this.batch.listNamespacedJob({ namespace, labelSelector: LABEL.taskId }),
    ]);
    const podNames = pods.items.map((p) => p.metadata!.name!);
    const runners = new Map(
      (
        await this.db.query<{ pod_name: string; status: string; workload: string | null }>(
          `SELECT r.pod_name, r.status, w.status AS workload
             FROM runner_pool r LEFT JOIN workloads w ON w.id = r.claimed_by_task_id
            WHERE r.pod_name = ANY($1)`,
          [podNames],
        )
      ).rows.map((r) => [r.pod_name, r]),
    );
    const deadPods = podNames.filter((name) => {
      const r = runners.get(name);
      return !r || r.status === "terminated" || !isLiveWorkload(r.workload);
    });
    const activeJobs = jobs.items.filter((j) => !j.status?.completionTime && !finished(j));
    const taskIds = activeJobs.map((j) => j.metadata!.labels![LABEL.taskId]!);
    // A Job stays a minute after its workload ended: its pod is finishing, and Kubernetes marks it
    // complete (then its TTL applies). Jobs of workloads that are long over, or unknown, go.
    const live = new Set(
      (
        await this.db.query<{ id: string }>(
          `SELECT id::text FROM workloads WHERE id::text = ANY($1)
              AND (status IN ${LIVE_WORKLOAD_SQL} OR ended_at > now() - interval '1 minute')`,
          [taskIds],
        )
      ).rows.map((r) => r.id),
    );
    const deadJobs = activeJobs.filter((j) => !live.has(j.metadata!.labels![LABEL.taskId]!));
    await Promise.all([
      ...deadPods.map((name) => ignoreNotFound(this.core.deleteNamespacedPod({ name, namespace }))),
      ...deadJobs.map((j) =>
        ignoreNotFound(
          this.batch.deleteNamespacedJob({
            name: j.metadata!.name!,
            namespace,
            propagationPolicy: "Background",
          }),
        ),
      ),
    ]);
    if (deadPods.length + deadJobs.length > 0) {
      this.log.info(
        { pods: deadPods, jobs: deadJobs.map((j) => j.metadata!.name) },
        "deleted orphaned runners",
      );
    }
    return deadPods.length + deadJobs.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.watch?.abort();
  }

  // --------------------------------------------------------------------------------------------

  /** Watches runner pods; reconnects with backoff (a watch without resourceVersion resyncs all). */
  private async watchPods(): Promise<void> {
    if (this.closed) return;
    const path = `/api/v1/namespaces/${this.opts.namespace}/pods`;
    let failed = false;
    this.watch = await this.watcher.watch(
      path,
      { labelSelector: RUNNER_POD_SELECTOR },
      (type: string, pod: V1Pod) => {
        this.retryMs = this.opts.watchRetryMs ?? 1000;
        void this.onPod(type, pod).catch((err) =>
          this.log.warn({ err }, "handling a runner pod event failed"),
        );
      },
      (err?: unknown) => {
        if (this.closed || failed) return;
        failed = true;
        if (err) this.log.warn({ err: describe(err) }, "runner pod watch ended; reconnecting");
        this.retryTimer = setTimeout(() => void this.watchPods(), this.retryMs);
        this.retryTimer.unref();
        this.retryMs = Math.min(this.retryMs * 2, 30_000);
      },
    );
  }

  private async onPod(type: string, pod: V1Pod): Promise<void> {
    const name = pod.metadata?.name;
    if (!name || !this.exited) return;
    const labels = pod.metadata?.labels ?? {};
    const c = pod.status?.containerStatuses?.find((s) => s.name === RUNNER_CONTAINER);
    const restarts = c?.restartCount ?? 0;
    const term = c?.state?.terminated ?? (restarts > 0 ? c?.lastState?.terminated : undefined);
    const phase = pod.status?.phase;
    const gone = type === "DELETED" || phase === "Succeeded" || phase === "Failed";

    const waiting = c?.state?.waiting;
    const task = labels[LABEL.taskId];
    if (waiting?.reason && FATAL_WAITING.has(waiting.reason) && labels[LABEL.pool] === POOL.cold && task) {
      await this.coldStartFailed?.(
        task,
        `pod ${name}: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}`,
      );
      await this.stop({ id: "", podName: name, cold: true, workloadId: task });
      return;
    }
    if (!term && !gone) return;
    const key = `${name}/${term ? restarts : "gone"}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    if (this.reported.size > 10_000) this.reported.clear();

    const reason = [
      `pod ${name}`,
      type === "DELETED" ? "was deleted" : phase === "Failed" ? "failed" : "ended",
      term?.reason ?? pod.status?.reason,
      term?.exitCode !== undefined ? `(exit code ${term.exitCode})` : undefined,
    ]
      .filter(Boolean)
      .join(" ");
    const finishedAt = term?.finishedAt ? new Date(term.finishedAt) : undefined;
    await this.exited({ pod: name, finishedAt }, { code: term?.exitCode ?? null, reason });
    // A claimed pool pod is single-use: once its runner ended, the pod goes (its container would restart).
    if (!gone && labels[LABEL.pool] === POOL.claimed) {
      await ignoreNotFound(this.core.deleteNamespacedPod({ name, namespace: this.opts.namespace }));
    }
  }
}

function finished(job: V1Job): boolean {
  return (job.status?.conditions ?? []).some(
    (c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True",
  );
}

function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

function describe(err: unknown): string {
  if (err instanceof ApiException) {
    const body = typeof err.body === "string" ? safeJson(err.body) : err.body;
    return `HTTP ${err.code}${body?.message ? `: ${body.message}` : ""}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function safeJson(s: string): { message?: string } | undefined {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
}
