/**
 * Validates Kubernetes objects against the Kubernetes OpenAPI schema, through kubernetes-models
 * (one generated model per apiVersion and kind), and GKE's own kinds (BackendConfig) through
 * @kubernetes-models/gke. An object whose kind has no model is invalid too: synth must not wave
 * through what it cannot check.
 */

interface ModelClass {
  new (data: unknown): { validate(): void };
}

const cache = new Map<string, Promise<ModelClass | undefined>>();

/** Model packages of API groups that are not Kubernetes' own, by group. */
const GROUP_PACKAGES: Record<string, string> = { "cloud.google.com": "@kubernetes-models/gke" };

/**
 * `apps/v1` + `Deployment` → `kubernetes-models/apps/v1/Deployment`; core `v1` → `kubernetes-models/v1/…`;
 * `cloud.google.com/v1` + `BackendConfig` → `@kubernetes-models/gke/cloud.google.com/v1/BackendConfig`.
 */
export function modelPath(apiVersion: string, kind: string): string {
  const group = apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
  return `${GROUP_PACKAGES[group] ?? "kubernetes-models"}/${apiVersion}/${kind}`;
}

function loadModel(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  const key = `${apiVersion}/${kind}`;
  let found = cache.get(key);
  if (!found) {
    found = import(modelPath(apiVersion, kind)).then(
      (mod: Record<string, ModelClass>) => mod[kind],
      () => undefined,
    );
    cache.set(key, found);
  }
  return found;
}

/** Problems with one object; empty when it is valid. */
export async function validateManifest(manifest: object): Promise<string[]> {
  const { apiVersion, kind } = manifest as { apiVersion?: unknown; kind?: unknown };
  if (typeof apiVersion !== "string" || typeof kind !== "string")
    return ["apiVersion and kind must be strings"];
  if (!/^[a-zA-Z0-9.]+(\/[a-z0-9]+)?$/.test(apiVersion) || !/^[A-Za-z0-9]+$/.test(kind)) {
    return [`"${apiVersion}" "${kind}" is not a valid apiVersion and kind`];
  }
  const Model = await loadModel(apiVersion, kind);
  if (!Model) return [`no Kubernetes schema for ${apiVersion} ${kind}; only built-in kinds can be validated`];
  try {
    new Model(manifest).validate();
    return [];
  } catch (err) {
    const errors = (err as { errors?: { instancePath?: string; message?: string }[] }).errors;
    if (!errors?.length) return [(err as Error).message];
    return errors.map((e) => `${e.instancePath || "/"} ${e.message ?? "is invalid"}`);
  }
}
