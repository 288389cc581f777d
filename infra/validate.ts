/**
 * Validates Kubernetes objects against the Kubernetes OpenAPI schema, through kubernetes-models
 * (one generated model per apiVersion and kind). An object whose kind has no model is invalid too:
 * synth must not wave through what it cannot check.
 */

interface ModelClass {
  new (data: unknown): { validate(): void };
}

const cache = new Map<string, Promise<ModelClass | undefined>>();

/** `apps/v1` + `Deployment` → `kubernetes-models/apps/v1/Deployment`; core `v1` → `kubernetes-models/v1/…`. */
export function modelPath(apiVersion: string, kind: string): string {
  return `kubernetes-models/${apiVersion}/${kind}`;
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
