/**
 * The workflow pool's worker thread (pool.ts): evaluates one batch per task. Each worker keeps its
 * own WorkflowCache, so an unchanged file is parsed once per worker. The bundle builds this file to
 * dist/workflow-worker.js; a checkout loads it through worker.mjs.
 */
import { type BatchRequest, type BatchResponse, evaluateBatch } from "./batch";
import { WorkflowCache } from "./cache";

let cache: WorkflowCache | undefined;
let cacheLimits = "";

/** A batch; `"ping"` (the pool's start-up check) answers at once. */
export default function evaluate(req: BatchRequest | "ping"): BatchResponse | "pong" {
  if (req === "ping") return "pong";
  // The limits are process-wide configuration; a change (tests) starts a fresh cache.
  const limits = JSON.stringify(req.limits ?? {});
  if (!cache || limits !== cacheLimits) {
    cache = new WorkflowCache(200, { limits: req.limits ?? {} });
    cacheLimits = limits;
  }
  return evaluateBatch(req, cache);
}
