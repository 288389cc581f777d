/**
 * Task tokens: the secret a workload's runner holds (in its assignment) to post the workload's
 * events and clone its repository. Only the sha256 is stored (`workloads.token_hash`); ending the
 * workload clears it, and a requeued workload gets a new one, so a token opens nothing for a
 * workload that has ended or moved on to another runner.
 */
import { hashToken, newToken } from "../auth/tokens";
import type { Queryable } from "../db";
import { LIVE_WORKLOAD_SQL } from "./status";

export const TASK_TOKEN_PREFIX = "plue_task_";

/** A new task token: shown only to the workload's runner; the workload row keeps its hash. */
export function newTaskToken(): string {
  return newToken(TASK_TOKEN_PREFIX);
}

/** What a task token grants: read access to its workload's repository (git smart HTTP). */
export interface TaskTokenGrant {
  workloadId: string;
  type: "agent" | "workflow";
  sessionId: string | null;
  workflowRunId: string | null;
  repoId: number | null;
}

/** The live workload a task token belongs to; undefined for unknown tokens and ended workloads. */
export async function workloadForTaskToken(
  db: Queryable,
  token: string,
): Promise<TaskTokenGrant | undefined> {
  if (!token.startsWith(TASK_TOKEN_PREFIX) || token.length > 200) return undefined;
  const r = await db.query<{
    id: string;
    type: "agent" | "workflow";
    session_id: string | null;
    workflow_run_id: string | null;
    repo_id: number | null;
  }>(
    `SELECT w.id, w.type, w.session_id, w.workflow_run_id, COALESCE(s.repo_id, r.repo_id)::int AS repo_id
       FROM workloads w
       LEFT JOIN sessions s ON s.id = w.session_id
       LEFT JOIN workflow_runs r ON r.id = w.workflow_run_id
      WHERE w.token_hash = $1 AND w.status IN ${LIVE_WORKLOAD_SQL}`,
    [hashToken(token)],
  );
  const row = r.rows[0];
  return (
    row && {
      workloadId: row.id,
      type: row.type,
      sessionId: row.session_id,
      workflowRunId: row.workflow_run_id,
      repoId: row.repo_id,
    }
  );
}
