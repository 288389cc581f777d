import { RUNNER_ENV } from "../../app/wire/runner-env";
import {
  DEFAULT_RUNNER_RESOURCES,
  RUNNER_POOL_SECRET,
  runnerJob,
  runnerPodSpec,
} from "../../constructs/k8s/runner-pod";
import { validateManifest } from "../../infra/validate";

const props = {
  image: "us-docker.pkg.dev/plue-platform/plue/plue-runner:0.1.0",
  appUrl: "https://alice.staging.plue.dev",
};

describe("runnerPodSpec defaults", () => {
  const spec = runnerPodSpec(props);
  const [container] = spec.containers;
  const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

  it("runs in gVisor on the sandbox nodes only", () => {
    expect(spec.runtimeClassName).toBe("gvisor");
    expect(spec.nodeSelector).toEqual({ "sandbox.gke.io/runtime": "gvisor" });
    expect(spec.tolerations).toEqual([
      { key: "sandbox.gke.io/runtime", operator: "Equal", value: "gvisor", effect: "NoSchedule" },
    ]);
  });

  it("runs as uid/gid 1000, non-root, with seccomp and no token", () => {
    expect(spec.securityContext).toEqual({
      runAsUser: 1000,
      runAsGroup: 1000,
      fsGroup: 1000,
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.enableServiceLinks).toBe(false);
    expect(container?.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ["ALL"] },
      runAsNonRoot: true,
    });
  });

  it("writes only to emptyDir /workspace and /tmp", () => {
    expect(container?.volumeMounts).toEqual([
      { name: "workspace", mountPath: "/workspace" },
      { name: "tmp", mountPath: "/tmp" },
    ]);
    expect(spec.volumes).toEqual([
      { name: "workspace", emptyDir: { sizeLimit: "8Gi" } },
      { name: "tmp", emptyDir: { sizeLimit: "1Gi" } },
    ]);
  });

  it("requests and limits cpu, memory and ephemeral storage", () => {
    expect(container?.resources).toEqual({
      requests: { cpu: "500m", memory: "1Gi", "ephemeral-storage": "2Gi" },
      limits: { cpu: "2", memory: "4Gi", "ephemeral-storage": "10Gi" },
    });
    expect(DEFAULT_RUNNER_RESOURCES.limits.ephemeralStorage).toBe("10Gi");
  });

  it("starts in standby with the app URL and the pool secret from a Secret", () => {
    expect(env[RUNNER_ENV.appUrl]).toBe(props.appUrl);
    expect(env[RUNNER_ENV.mode]).toBe("standby");
    expect(env[RUNNER_ENV.poolSecret]).toEqual({
      secretKeyRef: { name: RUNNER_POOL_SECRET.name, key: RUNNER_POOL_SECRET.key },
    });
    expect(env[RUNNER_ENV.sandbox]).toBe("none");
    expect(JSON.stringify(spec)).not.toMatch(/mock|password/i);
  });

  it("has no deadline and restarts unless it is one-shot", () => {
    expect(spec.activeDeadlineSeconds).toBeUndefined();
    expect(spec.restartPolicy).toBe("Always");
    expect(runnerPodSpec({ ...props, activeDeadlineSeconds: 60, restartPolicy: "Never" })).toMatchObject({
      activeDeadlineSeconds: 60,
      restartPolicy: "Never",
    });
  });

  it("is plain JSON and a valid Pod spec", async () => {
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
    expect(await validateManifest({ apiVersion: "v1", kind: "Pod", metadata: { name: "r" }, spec })).toEqual(
      [],
    );
  });
});

describe("runnerPodSpec refuses bad input, naming the prop", () => {
  it.each([
    [{ ...props, image: "" }, /image must be/],
    [{ ...props, appUrl: "http://insecure.example" }, /appUrl must be an https/],
    [{ ...props, activeDeadlineSeconds: 0 }, /activeDeadlineSeconds must be a positive integer/],
    [{ ...props, workspaceSizeLimit: "lots" }, /workspaceSizeLimit "lots"/],
    [{ ...props, env: { MODE: "oops" } }, /env\.MODE is set by the builder/],
    [
      {
        ...props,
        resources: {
          ...DEFAULT_RUNNER_RESOURCES,
          limits: { ...DEFAULT_RUNNER_RESOURCES.limits, cpu: "two" },
        },
      },
      /resources\.limits\.cpu "two"/,
    ],
  ])("%#", (bad, message) => {
    expect(() => runnerPodSpec(bad)).toThrow(message);
  });
});

describe("runnerJob", () => {
  const taskId = "0b7c5e1e-2d5f-4a57-9d0e-3f1f6a1c2b3d";
  const job = runnerJob({ ...props, taskId, workloadType: "workflow", namespace: "plue-alice-workflows" });

  it("is a single-try batch/v1 Job that cleans itself up", () => {
    expect(job).toMatchObject({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: `plue-task-${taskId}`, namespace: "plue-alice-workflows" },
      spec: { backoffLimit: 0, ttlSecondsAfterFinished: 600, activeDeadlineSeconds: 3600 },
    });
  });

  it("labels the Job and its pod with the task and workload type", () => {
    const labels = {
      "plue.dev/task-id": taskId,
      "plue.dev/workload-type": "workflow",
      "app.kubernetes.io/component": "runner",
    };
    expect(job.metadata?.labels).toMatchObject(labels);
    expect(job.spec?.template.metadata?.labels).toMatchObject(labels);
  });

  it("uses the same hardened pod spec, one-shot, with the task id in env", () => {
    const spec = job.spec!.template.spec!;
    const base = runnerPodSpec({ ...props, restartPolicy: "Never", activeDeadlineSeconds: 3600 });
    expect({ ...spec, containers: undefined }).toEqual({ ...base, containers: undefined });
    expect(spec.containers[0]?.env).toContainEqual({ name: RUNNER_ENV.taskId, value: taskId });
  });

  it("is a valid Job", async () => {
    expect(await validateManifest(job)).toEqual([]);
  });

  it.each(["Upper-Case", "-leading", `${"a".repeat(60)}`, "has_underscore"])("refuses task id %s", (bad) => {
    expect(() => runnerJob({ ...props, taskId: bad, workloadType: "agent", namespace: "x" })).toThrow(
      /taskId/,
    );
  });
});
