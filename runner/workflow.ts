/**
 * Workflow workloads (a plan DAG of steps) are executed by the plan executor, which is not part
 * of this runner yet; until it is, such a workload fails with a clear error instead of hanging.
 */
import type { Assignment } from "../app/wire/protocol";
import type { AgentOutcome } from "./agent";

export async function runWorkflow(_assignment: Assignment): Promise<AgentOutcome> {
  return {
    kind: "error",
    code: "unsupported_workload",
    message: "this runner does not execute workflow workloads yet (the plan executor is not built)",
    usage: { input_tokens: 0, output_tokens: 0 },
  };
}
