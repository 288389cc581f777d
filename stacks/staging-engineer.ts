import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StagingEngineerConfig } from "./config";
import { PlueEnvironment } from "./environment";
import { BASE_STACK } from "./kind";
import { engineerEnvironment } from "./names";
import { BASE_OUTPUTS } from "./staging-base";

/** The fully qualified name of staging-base, for the StackReference. */
export function baseStackName(config: StagingEngineerConfig): string {
  return config["plue:baseStack"] ?? `${pulumi.getOrganization()}/${pulumi.getProject()}/${BASE_STACK}`;
}

/**
 * One engineer's Plue on the shared staging cluster: own namespaces, database on the shared
 * instance, API at `<engineer>.staging.plue.dev` and a warm pool, all found through staging-base.
 */
export function stagingEngineer(engineer: string, config: StagingEngineerConfig) {
  const names = engineerEnvironment(engineer);
  const base = new pulumi.StackReference("staging-base", { name: baseStackName(config) });
  const output = (key: keyof typeof BASE_OUTPUTS) =>
    base.requireOutput(BASE_OUTPUTS[key]) as pulumi.Output<string>;
  const project = output("project");
  const gcpProvider = new gcp.Provider("gcp", {
    project,
    region: output("region"),
    defaultLabels: { environment: "staging", engineer, "managed-by": "pulumi" },
  });
  const kubernetesProvider = new k8s.Provider("staging-cluster", { kubeconfig: output("kubeconfig") });
  const env = new PlueEnvironment(
    engineer,
    {
      instance: engineer,
      namespace: names.namespace,
      host: names.host,
      appImage: config["plue:appImage"],
      runnerImage: config["plue:runnerImage"],
      appReplicas: config["plue:appReplicas"],
      warmPoolSize: config["plue:warmPoolSize"],
      project,
      sqlInstanceName: output("sqlInstanceName"),
      sqlHost: output("sqlPrivateIp"),
      database: names.database,
      kubernetesProvider,
    },
    { providers: [gcpProvider] },
  );
  return {
    url: `https://${names.host}`,
    appNamespace: env.appNamespace,
    runnerNamespace: env.runnerNamespace,
    database: env.database.database.name,
    ingressIp: env.ingressAddress.address,
  };
}
