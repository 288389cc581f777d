import { App, Chart } from "cdk8s";
import { APP_PORT, PlueApp } from "./app";
import { APP_NAME, LABEL } from "./labels";
import { RestrictedNamespace } from "./namespaces";
import { AppNetworkPolicies, RunnerNetworkPolicies } from "./network";
import type { RunnerResources } from "./runner-pod";
import { WarmPool } from "./warm-pool";

export interface EnvironmentProps {
  /** `alice` for staging-alice, `production` for production; labels every object. */
  readonly instance: string;
  /** Namespace of the API; runners go to `<namespace>-workflows`. */
  readonly namespace: string;
  readonly host: string;
  readonly appImage: string;
  readonly runnerImage: string;
  /** @default 2 */
  readonly appReplicas?: number;
  /** @default 2 */
  readonly warmPoolSize?: number;
  /** Runner-facing URL of the API. @default `https://<host>` */
  readonly appUrl?: string;
  /** URL users see (links, clone URLs). @default `https://<host>` */
  readonly publicUrl?: string;
  readonly runnerResources?: RunnerResources;
  readonly staticIpName?: string;
}

export interface EnvironmentNames {
  readonly appNamespace: string;
  readonly runnerNamespace: string;
}

/** The one place the runner namespace's name is derived from the app's. */
export function environmentNames(namespace: string): EnvironmentNames {
  return { appNamespace: namespace, runnerNamespace: `${namespace}-workflows` };
}

export interface EnvironmentCharts {
  readonly names: EnvironmentNames;
  /** Namespaces only: applied first, since everything else lives in them. */
  readonly namespaces: Chart;
  /** Network policies, the app and the warm pool. */
  readonly workloads: Chart;
}

/** Builds the Kubernetes side of one Plue environment as two cdk8s charts. */
export function environmentCharts(props: EnvironmentProps): EnvironmentCharts {
  const names = environmentNames(props.namespace);
  const app = new App();
  const labels = { [LABEL.name]: APP_NAME, [LABEL.instance]: props.instance, [LABEL.managedBy]: "pulumi" };
  const namespaces = new Chart(app, "namespaces", { labels });
  new RestrictedNamespace(namespaces, "App", { name: names.appNamespace });
  new RestrictedNamespace(namespaces, "Runners", { name: names.runnerNamespace, runners: true });

  const workloads = new Chart(app, "workloads", { labels });
  new RunnerNetworkPolicies(workloads, "RunnerNetwork", { namespace: names.runnerNamespace });
  const api = new PlueApp(workloads, "App", {
    instance: props.instance,
    namespace: names.appNamespace,
    runnerNamespace: names.runnerNamespace,
    image: props.appImage,
    host: props.host,
    publicUrl: props.publicUrl,
    replicas: props.appReplicas,
    staticIpName: props.staticIpName,
    config: { PLUE_RUNNER_IMAGE: props.runnerImage, PLUE_WARM_POOL: String(props.warmPoolSize ?? 2) },
  });
  new AppNetworkPolicies(workloads, "AppNetwork", {
    namespace: names.appNamespace,
    apiSelector: api.selector,
    apiPort: APP_PORT,
  });
  new WarmPool(workloads, "WarmPool", {
    instance: props.instance,
    namespace: names.runnerNamespace,
    image: props.runnerImage,
    appUrl: props.appUrl ?? `https://${props.host}`,
    size: props.warmPoolSize,
    resources: props.runnerResources,
  });
  return { names, namespaces, workloads };
}
