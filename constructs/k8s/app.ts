import type { IBackendConfig } from "@kubernetes-models/gke/cloud.google.com/v1/BackendConfig";
import { ApiObject, Duration, Size } from "cdk8s";
import * as kplus from "cdk8s-plus-32";
import { IntOrString, KubePodDisruptionBudget } from "cdk8s-plus-32/lib/imports/k8s";
import { Construct } from "constructs";
import { API_NAME, APP_NAME, COMPONENT, LABEL } from "./labels";
import { RUNNER_POOL_SECRET } from "./runner-pod";

/** The port the API listens on (app/Dockerfile's PORT) and the health route its probes call. */
export const APP_PORT = 4000;
export const APP_HEALTH_PATH = "/api/health";
/** The Secret (created by Pulumi, constructs/gcp AppDatabase) holding the database URL. */
export const DATABASE_SECRET = { name: "plue-database", key: "DATABASE_URL" } as const;
export const APP_DATA_PATH = "/data";
/**
 * How long the load balancer lets one response run. GKE's default, 30 s, would cut every SSE
 * stream and runner long-poll (up to 300 s) at 30 s; an hour lets a stream live, and a client that
 * is cut then resumes with Last-Event-ID.
 */
export const LB_RESPONSE_TIMEOUT_SECONDS = 3600;
/**
 * How long a pod being replaced keeps serving after it is told to stop: the load balancer takes a
 * few seconds to remove its endpoint (NEG), and requests it sends meanwhile must not be refused.
 * Then SIGTERM: the app stops accepting, ends streams (clients resume elsewhere) and drains.
 */
export const PRE_STOP_SECONDS = 10;
/** The app's own drain (PLUE_SHUTDOWN_GRACE_MS, 10 s) and margin, after the pre-stop wait. */
const TERMINATION_GRACE_SECONDS = PRE_STOP_SECONDS + 30;

export interface PlueAppProps {
  /** Distinguishes environments sharing a cluster (`alice`, `production`). */
  readonly instance: string;
  readonly namespace: string;
  /** The namespace runner Jobs and pods live in; the app's Role is limited to it. */
  readonly runnerNamespace: string;
  readonly image: string;
  readonly host: string;
  /** URL users see. @default `https://<host>` */
  readonly publicUrl?: string;
  /** @default 2 */
  readonly replicas?: number;
  /** Extra non-secret configuration, merged into the app ConfigMap. @default {} */
  readonly config?: Readonly<Record<string, string>>;
  /** Name of a reserved global static IP for the load balancer. @default none (ephemeral IP) */
  readonly staticIpName?: string;
  /** ClusterIssuer that fills the TLS Secret. @default "letsencrypt" */
  readonly clusterIssuer?: string;
  /** Where repositories (and the admin token) persist: see `DataVolume`. @default by replica count */
  readonly data?: DataVolume;
}

/**
 * The volume at /data. Repositories live there, so it must outlive pods: a PersistentVolumeClaim,
 * never an emptyDir. One replica gets a zonal disk (ReadWriteOnce, replaced with `Recreate` since
 * a disk attaches to one node); several replicas share a Filestore volume (ReadWriteMany), so a
 * push to one is seen by all.
 */
export interface DataVolume {
  /** @default "standard-rwo" (one replica) / "standard-rwx" (several; GKE's Filestore CSI class) */
  readonly storageClass?: string;
  /** @default "20Gi" (one replica) / "1Ti" (several: Filestore's smallest basic instance) */
  readonly size?: string;
}

/** The data volume's claim for a replica count: shared (RWX) for several, a disk (RWO) for one. */
export function dataVolumeFor(replicas: number, data: DataVolume = {}) {
  const shared = replicas > 1;
  return {
    accessMode: shared
      ? kplus.PersistentVolumeAccessMode.READ_WRITE_MANY
      : kplus.PersistentVolumeAccessMode.READ_WRITE_ONCE,
    storageClass: data.storageClass ?? (shared ? "standard-rwx" : "standard-rwo"),
    size: data.size ?? (shared ? "1Ti" : "20Gi"),
  };
}

/**
 * The Plue API: Deployment (non-root, read-only root, probes, resources), Service, TLS Ingress,
 * PodDisruptionBudget, a ServiceAccount whose Role may only manage Jobs and Pods in its own runner
 * namespace, and its configuration from a ConfigMap plus Secrets.
 */
export class PlueApp extends Construct {
  readonly selector: Readonly<Record<string, string>>;
  readonly serviceName = API_NAME;
  readonly tlsSecretName = "plue-tls";

  constructor(scope: Construct, id: string, props: PlueAppProps) {
    super(scope, id);
    this.selector = {
      [LABEL.name]: APP_NAME,
      [LABEL.component]: COMPONENT.api,
      [LABEL.instance]: props.instance,
    };
    const replicas = props.replicas ?? 2;
    if (!Number.isInteger(replicas) || replicas < 1) {
      throw new Error(`PlueApp: replicas must be a positive integer, got ${replicas}`);
    }
    const serviceAccount = this.runnerManager(props);
    const config = new kplus.ConfigMap(this, "Config", {
      metadata: { name: "plue-config", namespace: props.namespace },
      data: {
        PORT: String(APP_PORT),
        HOST: "0.0.0.0",
        PLUE_PUBLIC_URL: props.publicUrl ?? `https://${props.host}`,
        PLUE_DATA_DIR: APP_DATA_PATH,
        RUNNER_MODE: "kubernetes",
        PLUE_SEED_DEMO: "false",
        PLUE_RUNNER_NAMESPACE: props.runnerNamespace,
        ...props.config,
      },
    });
    const deployment = this.deployment(props, replicas, serviceAccount, config);
    const service = new kplus.Service(this, "Service", {
      metadata: {
        name: this.serviceName,
        namespace: props.namespace,
        annotations: {
          // Container-native load balancing: the LB sends traffic straight to pod IPs.
          "cloud.google.com/neg": '{"ingress": true}',
          "cloud.google.com/backend-config": JSON.stringify({ default: API_NAME }),
        },
      },
      selector: deployment,
      ports: [{ name: "http", port: 80, targetPort: APP_PORT }],
    });
    new kplus.Ingress(this, "Ingress", {
      metadata: {
        name: "plue",
        namespace: props.namespace,
        annotations: {
          "kubernetes.io/ingress.class": "gce",
          "kubernetes.io/ingress.allow-http": "false",
          "cert-manager.io/cluster-issuer": props.clusterIssuer ?? "letsencrypt",
          ...(props.staticIpName
            ? { "kubernetes.io/ingress.global-static-ip-name": props.staticIpName }
            : {}),
        },
      },
      rules: [{ host: props.host, backend: kplus.IngressBackend.fromService(service) }],
      tls: [{ hosts: [props.host], secret: kplus.Secret.fromSecretName(this, "Tls", this.tlsSecretName) }],
    });
    this.backendConfig(props);
    new KubePodDisruptionBudget(this, "Pdb", {
      metadata: { name: API_NAME, namespace: props.namespace },
      spec: { maxUnavailable: IntOrString.fromNumber(1), selector: { matchLabels: { ...this.selector } } },
    });
  }

  private deployment(
    props: PlueAppProps,
    replicas: number,
    serviceAccount: kplus.ServiceAccount,
    config: kplus.ConfigMap,
  ): kplus.Deployment {
    const deployment = new kplus.Deployment(this, "Deployment", {
      metadata: { name: API_NAME, namespace: props.namespace, labels: { ...this.selector } },
      podMetadata: { labels: { ...this.selector } },
      select: false,
      replicas,
      serviceAccount,
      // The API creates runner Jobs, so it needs its (narrowly bound) token.
      automountServiceAccountToken: true,
      securityContext: { user: 1000, group: 1000, fsGroup: 1000, ensureNonRoot: true },
      volumes: [],
      terminationGracePeriod: Duration.seconds(TERMINATION_GRACE_SECONDS),
      // A ReadWriteOnce disk attaches to one node: the old pod must let go before the new one starts.
      strategy: replicas > 1 ? kplus.DeploymentStrategy.rollingUpdate() : kplus.DeploymentStrategy.recreate(),
    });
    deployment.select(kplus.LabelSelector.of({ labels: { ...this.selector } }));
    const secret = (name: string) => kplus.Secret.fromSecretName(this, `Secret-${name}`, name);
    const container = deployment.addContainer({
      name: "api",
      image: props.image,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      portNumber: APP_PORT,
      envFrom: [kplus.Env.fromConfigMap(config)],
      envVariables: {
        [DATABASE_SECRET.key]: kplus.EnvValue.fromSecretValue({
          secret: secret(DATABASE_SECRET.name),
          key: DATABASE_SECRET.key,
        }),
        PLUE_POOL_SECRET: kplus.EnvValue.fromSecretValue({
          secret: secret(RUNNER_POOL_SECRET.name),
          key: RUNNER_POOL_SECRET.key,
        }),
      },
      securityContext: {
        user: 1000,
        group: 1000,
        ensureNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        privileged: false,
        capabilities: { drop: [kplus.Capability.ALL] },
        seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
      },
      resources: {
        cpu: { request: kplus.Cpu.millis(250), limit: kplus.Cpu.millis(2000) },
        memory: { request: Size.mebibytes(512), limit: Size.gibibytes(2) },
        ephemeralStorage: { request: Size.gibibytes(1), limit: Size.gibibytes(10) },
      },
      // Migrations run at start; give them a minute before liveness applies.
      startup: kplus.Probe.fromHttpGet(APP_HEALTH_PATH, {
        failureThreshold: 30,
        periodSeconds: Duration.seconds(2),
      }),
      liveness: kplus.Probe.fromHttpGet(APP_HEALTH_PATH, { periodSeconds: Duration.seconds(10) }),
      readiness: kplus.Probe.fromHttpGet(APP_HEALTH_PATH, { periodSeconds: Duration.seconds(5) }),
      lifecycle: { preStop: kplus.Handler.fromCommand(["sleep", String(PRE_STOP_SECONDS)]) },
    });
    container.mount(
      "/tmp",
      kplus.Volume.fromEmptyDir(this, "Volume-tmp", "tmp", { sizeLimit: Size.gibibytes(1) }),
    );
    const volume = dataVolumeFor(replicas, props.data);
    const claim = new kplus.PersistentVolumeClaim(this, "Data", {
      metadata: { name: "plue-data", namespace: props.namespace },
      accessModes: [volume.accessMode],
      storageClassName: volume.storageClass,
      storage: parseSize(volume.size),
    });
    container.mount(APP_DATA_PATH, kplus.Volume.fromPersistentVolumeClaim(this, "Volume-data", claim));
    return deployment;
  }

  /** The load balancer's settings for the API's backend (GKE reads the Service's annotation). */
  private backendConfig(props: PlueAppProps): void {
    const spec: IBackendConfig["spec"] = {
      timeoutSec: LB_RESPONSE_TIMEOUT_SECONDS,
      // A pod being replaced finishes its requests; SSE clients reconnect to another one.
      connectionDraining: { drainingTimeoutSec: 30 },
      healthCheck: { type: "HTTP", requestPath: APP_HEALTH_PATH, port: APP_PORT, checkIntervalSec: 5 },
    };
    new ApiObject(this, "BackendConfig", {
      apiVersion: "cloud.google.com/v1",
      kind: "BackendConfig",
      metadata: { name: API_NAME, namespace: props.namespace },
      spec,
    });
  }

  /** A ServiceAccount for the API and a Role, in the runner namespace only, over Jobs and Pods. */
  private runnerManager(props: PlueAppProps): kplus.ServiceAccount {
    const serviceAccount = new kplus.ServiceAccount(this, "ServiceAccount", {
      metadata: { name: API_NAME, namespace: props.namespace },
      automountToken: false,
    });
    const role = new kplus.Role(this, "RunnerManager", {
      metadata: { name: "plue-runner-manager", namespace: props.runnerNamespace },
    });
    role.allow(["create", "get", "list", "watch", "delete"], kplus.ApiResource.JOBS);
    // patch: a claimed warm-pool pod is relabelled out of its Deployment (see warm-pool.ts).
    role.allow(["get", "list", "watch", "patch", "delete"], kplus.ApiResource.PODS);
    role.allow(["get"], kplus.ApiResource.custom({ apiGroup: "", resourceType: "pods/log" }));
    const binding = new kplus.RoleBinding(this, "RunnerManagerBinding", {
      metadata: { name: "plue-runner-manager", namespace: props.runnerNamespace },
      role,
    });
    binding.addSubjects(serviceAccount);
    return serviceAccount;
  }
}

/** "20Gi", "1Ti", "512Mi" → a cdk8s Size. */
function parseSize(text: string): Size {
  const m = /^(\d+)(Mi|Gi|Ti)$/.exec(text);
  if (!m) throw new Error(`PlueApp: data.size must be like 20Gi, 1Ti or 512Mi, got ${JSON.stringify(text)}`);
  const n = Number(m[1]);
  return m[2] === "Mi" ? Size.mebibytes(n) : m[2] === "Gi" ? Size.gibibytes(n) : Size.tebibytes(n);
}
