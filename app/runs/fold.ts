/**
 * Folding a workflow workload's events into its run, inside the transaction that stores them:
 * `step_start`/`step_end` update `workflow_steps` as they arrive (so `GET /api/runs/:id` shows live
 * progress), and the terminal event sets the run's final status, outputs and error.
 */
import type { Queryable } from "../db";
import type { WorkloadEnd } from "../dispatch/dispatcher";
import type { EndStatus, RunStatus } from "../wire/api";
import type { EventDataOf, RunnerEvent } from "../wire/protocol";

/** Applies newly stored events of a run's workload; answers the run's commit when it just started. */
export async function foldStepEvents(
  tx: Queryable,
  runId: string,
  events: readonly RunnerEvent[],
): Promise<{ repoId: number; commit: string | null } | undefined> {
  const started = await tx.query<{ repo_id: number; commit_sha: string | null }>(
    `UPDATE workflow_runs SET status = 'running', started_at = COALESCE(started_at, now())
      WHERE id = $1 AND status = 'queued' RETURNING repo_id::int AS repo_id, commit_sha`,
    [runId],
  );
  for (const e of events) {
    if (e.type === "step_start") {
      const d = e.data as EventDataOf<"step_start">;
      await tx.query(
        `UPDATE workflow_steps SET status = 'running', attempts = GREATEST(attempts, $3),
                started_at = COALESCE(started_at, now())
          WHERE run_id = $1 AND key = $2`,
        [runId, d.step, d.attempt ?? 1],
      );
    } else if (e.type === "step_end") {
      const d = e.data as EventDataOf<"step_end">;
      await tx.query(
        `UPDATE workflow_steps SET status = $3, exit_code = $4, outputs = $5, error = $6,
                ended_at = now(), started_at = COALESCE(started_at, now())
          WHERE run_id = $1 AND key = $2`,
        [
          runId,
          d.step,
          d.status,
          d.exit_code ?? null,
          d.outputs ? JSON.stringify(d.outputs) : null,
          d.error ?? null,
        ],
      );
    }
  }
  const row = started.rows[0];
  return row && { repoId: row.repo_id, commit: row.commit_sha };
}

export interface RunEnding {
  status: Exclude<RunStatus, "queued" | "running">;
  outputs: Record<string, unknown> | null;
  error: string | null;
}

/** What a workload's end means for its run. */
export function runEnding(end: Pick<WorkloadEnd, "status" | "terminal">, timeoutSeconds?: number): RunEnding {
  const { terminal } = end;
  if (terminal.type === "error") {
    const d = terminal.data as EventDataOf<"error">;
    return { status: "error", outputs: null, error: d.message };
  }
  const d = terminal.data as EventDataOf<"done">;
  const outputs = (d.outputs as Record<string, unknown> | undefined) ?? null;
  switch (d.reason) {
    case "aborted":
      return { status: "cancelled", outputs, error: null };
    case "timeout":
      return {
        status: "failure",
        outputs,
        error: `the workflow ran longer than its timeout${timeoutSeconds ? ` (${timeoutSeconds}s)` : ""}`,
      };
    case "failed":
      return { status: "failure", outputs, error: d.message ?? "the workflow failed" };
    default:
      return { status: "success", outputs, error: null };
  }
}

/** Ends a run: its status, and every step that did not end (running steps lost their runner). */
export async function endRun(tx: Queryable, runId: string, ending: RunEnding, workloadStatus?: EndStatus) {
  await tx.query(
    `UPDATE workflow_runs SET status = $2, outputs = $3, error = $4, ended_at = now()
      WHERE id = $1 AND status IN ('queued', 'running')`,
    [runId, ending.status, ending.outputs ? JSON.stringify(ending.outputs) : null, ending.error],
  );
  const cancelled = ending.status === "cancelled" || workloadStatus === "aborted";
  await tx.query(
    `UPDATE workflow_steps
        SET status = CASE WHEN $2 THEN 'cancelled' WHEN status = 'running' THEN 'failure' ELSE 'skipped' END,
            error = COALESCE(error, CASE WHEN $2 THEN 'the run was cancelled'
                                         WHEN status = 'running' THEN 'the runner stopped during this step'
                                         ELSE 'the run ended before this step' END),
            ended_at = now()
      WHERE run_id = $1 AND status IN ('pending', 'running')`,
    [runId, cancelled],
  );
}
