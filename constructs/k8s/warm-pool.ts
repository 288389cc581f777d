import { ApiObject } from "cdk8s";
import { Construct } from "constructs";
import type { IDeploymentSpec } from "kubernetes-models/apps/v1/DeploymentSpec";
import { type RunnerPodProps, runnerPodSpec, warmRunnerLabels } from "./runner-pod";

export interface WarmPoolProps extends Omit<RunnerPodProps, "restartPolicy" | "activeDeadlineSeconds"> {
  readonly instance: string;
  /** The runner namespace. */
  readonly namespace: string;
  /** Idle runners kept ready. @default 2 */
  readonly size?: number;
}

/**
 * Runners waiting in standby for work. Each registers with the app and long-polls for an assignment.
 * Pods are single-use: when the app claims one it relabels it `plue.dev/pool=claimed`, which takes it
 * out of this Deployment's selector (so the ReplicaSet starts a replacement at once and a rollout never
 * kills it), and deletes it after the workload. The pod template is exactly `runnerPodSpec`, the same
 * spec cold-start Jobs get.
 */
export class WarmPool extends Construct {
  readonly name = "plue-runner-pool";

  constructor(scope: Construct, id: string, props: WarmPoolProps) {
    super(scope, id);
    const size = props.size ?? 2;
    if (!Number.isInteger(size) || size < 0)
      throw new Error(`WarmPool: size must be an integer ≥ 0, got ${size}`);
    const labels = warmRunnerLabels(props.instance);
    const spec: IDeploymentSpec = {
      replicas: size,
      selector: { matchLabels: labels },
      // Only idle runners are selected, so a rollout may replace them all at once, new ones first.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: "100%", maxUnavailable: 0 } },
      template: { metadata: { labels }, spec: runnerPodSpec({ ...props, restartPolicy: "Always" }) },
    };
    new ApiObject(this, "Resource", {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: this.name, namespace: props.namespace, labels },
      spec,
    });
  }
}
