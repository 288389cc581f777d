/** Rules over Cloudflare resources. */
import type { ResourceRule } from "./types";

export const WORKERS_SCRIPT = "cloudflare:index/workersScript:WorkersScript";

export const workerNoDurableObjects: ResourceRule = {
  name: "worker-no-durable-objects",
  description: "Workers bind no Durable Objects: the edge is a stateless proxy.",
  enforcementLevel: "mandatory",
  validateResource({ type, props }) {
    if (type !== WORKERS_SCRIPT) return [];
    const out = (props.bindings ?? [])
      .filter((b: { type?: string }) => b.type === "durable_object_namespace")
      .map((b: { name?: string }) => `binding ${b.name} is a Durable Object namespace`);
    if (props.migrations) out.push("migrations define Durable Object classes");
    return out;
  },
};
