/**
 * The Kubernetes executor against a local stand-in for the API server (test/helpers/fake-kube.ts):
 * the Job a cold start POSTs passes the same policy rules every stack must pass (the hardened
 * runner pod), carries the task id and workload type, a deadline and a TTL, and no task token; a
 * claimed warm pod is relabelled out of its Deployment (merge patch) and deleted after its one
 * workload; abort deletes the pod with a grace period; a pod that disappears, or a cold pod that
 * cannot pull its image, fails its workload with the reason; orphaned pods and Jobs are deleted;
 * the pod watch reconnects. A tiny "kubelet" here runs each pod's runner as a scripted standby
 * runner, with the environment the pod spec gives it.
 */

import pino from "pino";
import type { Db } from "../../app/db";
import { KubernetesRunners } from "../../app/dispatch/executors/kubernetes";
import { LABEL, POOL } from "../../constructs/k8s/labels";
import { RUNNER_CONTAINER, runnerPodSpec, warmRunnerLabels } from "../../constructs/k8s/runner-pod";
import { fromManifest, runnerPodHardened } from "../../policies/kubernetes";
import { RESOURCE_RULES } from "../../policies/rules";
import type { PolicyContext } from "../../policies/types";
import { type FakeKube, startFakeKube } from "../helpers/fake-kube";
import type { RunnerScript } from "../helpers/scripted-runner";
import {
  POOL_SECRET,
  type PoolPlatform,
  type ScriptedStandby,
  startPoolPlatform,
  startScriptedStandby,
  waitFor,
} from "../helpers/standby-runner";

const NS = "plue-alice-workflows";
const REGISTRY = "europe-west1-docker.pkg.dev/plue-staging/plue";
const IMAGE = `${REGISTRY}/runner:1.4.2`;
const policyContext: PolicyContext = { stack: "staging-alice", registries: [REGISTRY] };

let fake: FakeKube;
let p: PoolPlatform<KubernetesRunners>;
/** What every runner does; tests replace it. */
let script: RunnerScript = async (r) => {
  await r.tokens(["hi"]);
  await r.event("done", { reason: "end_turn" });
};
const kubelet = new Map<string, ScriptedStandby>();
/** Pods the kubelet must not start (it plays an image that cannot be pulled instead). */
const unpullable = new Set<string>();
let kubeletTimer: NodeJS.Timeout;

beforeAll(async () => {
  fake = await startFakeKube();
  p = await startPoolPlatform({
    size: 0,
    coldStartAfterMs: 100,
    abortGraceMs: 200,
    backend: ({ db }: { db: Db }) =>
      new KubernetesRunners(db, pino({ level: "silent" }), {
        namespace: NS,
        image: IMAGE,
        // Pods reach the app through its HTTPS ingress; the kubelet below maps it to the test server.
        appUrl: () => "https://alice.staging.plue.dev",
        kubeConfig: fake.kubeConfig(),
        watchRetryMs: 50,
      }),
  });
  kubeletTimer = setInterval(runPods, 20);
});
afterAll(async () => {
  clearInterval(kubeletTimer);
  await p?.close();
  for (const r of kubelet.values()) r?.crash();
  await fake?.close();
});

/** Starts the runner of each new pod, and marks its pod finished when the runner exits. */
function runPods(): void {
  for (const pod of fake.list("pods", NS)) {
    const name: string = pod.metadata.name;
    if (kubelet.has(name) || pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") continue;
    const container = pod.spec.containers.find((c: { name: string }) => c.name === RUNNER_CONTAINER);
    const env = Object.fromEntries(
      container.env.map((e: { name: string; value?: string; valueFrom?: Record<string, unknown> }) => [
        e.name,
        e.value ?? (e.valueFrom?.fieldRef ? name : e.valueFrom?.secretKeyRef ? POOL_SECRET : undefined),
      ]),
    );
    if (unpullable.has(env.PLUE_TASK_ID)) {
      kubelet.set(name, undefined as unknown as ScriptedStandby);
      fake.update("pods", NS, name, (o) => {
        o.status = {
          phase: "Pending",
          containerStatuses: [
            {
              name: RUNNER_CONTAINER,
              restartCount: 0,
              ready: false,
              image: IMAGE,
              imageID: "",
              state: { waiting: { reason: "ErrImagePull", message: `pull access denied for ${IMAGE}` } },
            },
          ],
        };
      });
      continue;
    }
    expect(env.MODE).toBe("standby");
    const runner = startScriptedStandby({
      appUrl: p.url,
      pod: env.PLUE_POD_NAME,
      taskId: env.PLUE_TASK_ID,
      secret: env.PLUE_POOL_SECRET,
      script: (r) => script(r),
    });
    kubelet.set(name, runner);
    fake.update("pods", NS, name, (o) => {
      o.status = { phase: "Running", podIP: "10.8.0.9" };
    });
    void runner.done.then((code) => {
      if (code === -9 || !fake.get("pods", NS, name)) return; // crashed with its pod: nothing to report
      const job = pod.metadata.labels["job-name"];
      if (job && fake.get("jobs", NS, job)) {
        // The Job controller: its one pod ended, so the Job is complete (or failed).
        fake.update("jobs", NS, job, (j) => {
          const type = code === 0 ? "Complete" : "Failed";
          j.status = {
            [code === 0 ? "succeeded" : "failed"]: 1,
            completionTime: new Date(),
            conditions: [{ type, status: "True" }],
          };
        });
      }
      fake.update("pods", NS, name, (o) => {
        const terminated = {
          exitCode: code,
          reason: code === 0 ? "Completed" : "Error",
          finishedAt: new Date(),
        };
        o.status = {
          phase: o.spec.restartPolicy === "Never" ? (code === 0 ? "Succeeded" : "Failed") : "Running",
          containerStatuses: [
            {
              name: RUNNER_CONTAINER,
              restartCount: o.spec.restartPolicy === "Never" ? 0 : 1,
              ready: false,
              image: IMAGE,
              imageID: "",
              ...(o.spec.restartPolicy === "Never"
                ? { state: { terminated } }
                : { lastState: { terminated } }),
            },
          ],
        };
      });
    });
  }
}

/** A warm-pool pod as the Deployment (constructs/k8s/warm-pool.ts) would create it. */
function warmPod(name: string) {
  fake.put("pods", NS, {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels: warmRunnerLabels("alice") },
    spec: runnerPodSpec({ image: IMAGE, appUrl: "https://alice.staging.plue.dev", restartPolicy: "Always" }),
    status: { phase: "Pending" },
  });
}

async function run(): Promise<string> {
  const client = await p.user(`u${Math.random().toString(36).slice(2, 8)}`);
  const s = await client.ok("POST", "/api/sessions", {});
  return (await client.ok("POST", `/api/sessions/${s.id}/run`, { message: "go" })).workload_id;
}

const sent = (method: string, path: RegExp) =>
  fake.requests.filter((r) => r.method === method && path.test(r.path));

describe("Kubernetes executor", () => {
  it("cold-starts a workload as a Job with the hardened runner pod spec, its labels, deadline and TTL", async () => {
    const id = await run();
    expect((await p.ended(id)).status).toBe("succeeded");
    const posts = sent("POST", new RegExp(`^/apis/batch/v1/namespaces/${NS}/jobs$`));
    const job = posts.find((r) => r.body.metadata.labels[LABEL.taskId] === id)!.body;
    // The same rules every stack's manifests pass (policies/): gVisor, uid 1000, no token, …
    const violations = RESOURCE_RULES.flatMap((rule) =>
      rule.validateResource(fromManifest(job), policyContext),
    );
    expect(violations).toEqual([]);
    const weakened = structuredClone(job);
    delete weakened.spec.template.spec.runtimeClassName;
    expect(runnerPodHardened.validateResource(fromManifest(weakened), policyContext)).toEqual([
      expect.stringMatching(/runtimeClassName must be "gvisor"/),
    ]);
    expect(job.metadata).toMatchObject({
      name: `plue-task-${id}`,
      namespace: NS,
      labels: { [LABEL.taskId]: id, [LABEL.workloadType]: "agent", [LABEL.pool]: POOL.cold },
    });
    expect(job.spec).toMatchObject({
      backoffLimit: 0,
      ttlSecondsAfterFinished: 600,
      activeDeadlineSeconds: 900 + 120,
    });
    const env = job.spec.template.spec.containers[0].env;
    expect(env).toEqual(
      expect.arrayContaining([
        { name: "PLUE_TASK_ID", value: id },
        { name: "MODE", value: "standby" },
      ]),
    );
    // Per-task configuration travels in the assignment, never in the pod spec.
    const token = kubelet.get(
      fake.list("pods", NS).find((x) => x.metadata.labels["job-name"] === job.metadata.name).metadata.name,
    )!.assignments[0]!.token;
    expect(JSON.stringify(job)).not.toContain(token);
    // The runner's pod ended: its exit code reached the workload through the pod watch.
    await waitFor(async () => (await p.workload(id)).exit_code === 0, 5000, "the exit code");
  });

  it("relabels a claimed warm pod out of its Deployment and deletes it after its one workload", async () => {
    warmPod("plue-runner-pool-abc12");
    await waitFor(async () => (await p.count("available")) === 1, 5000, "the warm runner");
    const id = await run();
    expect((await p.ended(id)).status).toBe("succeeded");
    const patch = sent("PATCH", new RegExp(`/namespaces/${NS}/pods/plue-runner-pool-abc12$`))[0]!;
    expect(patch.contentType).toBe("application/merge-patch+json");
    expect(patch.body).toEqual({
      metadata: { labels: { [LABEL.pool]: POOL.claimed, [LABEL.taskId]: id, [LABEL.workloadType]: "agent" } },
    });
    expect(sent("POST", /jobs$/).some((r) => r.body.metadata.labels[LABEL.taskId] === id)).toBe(false);
    await waitFor(() => !fake.get("pods", NS, "plue-runner-pool-abc12"), 5000, "the used pod to be deleted");
  });

  it("aborts by deleting the pod with a grace period; a pod that vanishes fails its workload", async () => {
    script = async (r) => {
      await r.tokens(["working"]);
      await r.sleep(60_000);
    };
    warmPod("plue-runner-pool-abort");
    warmPod("plue-runner-pool-gone");
    await waitFor(async () => (await p.count("available")) === 2, 5000, "two warm runners");
    const [a, b] = [await run(), await run()];
    await waitFor(async () => (await p.workload(a)).status === "running", 5000, "a running");
    await waitFor(async () => (await p.workload(b)).status === "running", 5000, "b running");
    const podOf = async (id: string) =>
      (
        await p.ctx.db.query<{ pod_name: string }>(
          "SELECT pod_name FROM runner_pool WHERE claimed_by_task_id = $1",
          [id],
        )
      ).rows[0]!.pod_name;
    const [podA, podB] = [await podOf(a), await podOf(b)];

    await p.ctx.dispatcher.requestAbort(a);
    await waitFor(() => sent("DELETE", new RegExp(`/pods/${podA}$`)).length > 0, 5000, "the pod deletion");
    expect(sent("DELETE", new RegExp(`/pods/${podA}$`))[0]!.query).toMatchObject({
      gracePeriodSeconds: "10",
    });
    kubelet.get(podA)?.crash();
    expect((await p.ended(a)).status).toBe("aborted");

    kubelet.get(podB)!.crash(); // the node went away with the pod
    fake.remove("pods", NS, podB);
    const end = await p.ended(b);
    expect(end.status).toBe("failed");
    expect(end.failure_reason).toContain(`pod ${podB} was deleted`);
  });

  it("fails a workload at once when its cold pod cannot pull its image", async () => {
    const client = await p.user("puller");
    const s = await client.ok("POST", "/api/sessions", {});
    // Mark the next workload's pod unpullable before its Job exists (the cold start waits 100 ms).
    const pending = client.ok("POST", `/api/sessions/${s.id}/run`, { message: "go" });
    const id = (await pending).workload_id as string;
    unpullable.add(id);
    const end = await p.ended(id);
    expect(end.status).toBe("failed");
    expect(end.failure_reason).toMatch(
      /cold start failed: pod plue-task-\S+: ErrImagePull: pull access denied/,
    );
    await waitFor(() => !fake.get("jobs", NS, `plue-task-${id}`), 5000, "the Job to be deleted");
  });

  it("deletes orphaned claimed pods and Jobs of ended workloads, and reconnects its watch", async () => {
    fake.put("pods", NS, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "plue-runner-pool-orphan",
        labels: { ...warmRunnerLabels("alice"), [LABEL.pool]: POOL.claimed },
      },
      spec: {},
      status: { phase: "Running" },
    });
    kubelet.set("plue-runner-pool-orphan", undefined as unknown as ScriptedStandby); // nothing runs in it
    const stale = crypto.randomUUID();
    fake.put("jobs", NS, {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: `plue-task-${stale}`, labels: { [LABEL.taskId]: stale } },
      spec: {},
      status: { active: 1 },
    });
    await p.executor.reaper.sweep();
    expect(fake.get("pods", NS, "plue-runner-pool-orphan")).toBeUndefined();
    expect(fake.get("jobs", NS, `plue-task-${stale}`)).toBeUndefined();

    expect(fake.watchers).toBe(1);
    fake.dropWatches();
    await waitFor(() => fake.watchers === 1, 5000, "the watch to reconnect");
  });
});
