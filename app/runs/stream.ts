/**
 * What a run's SSE stream follows (app/events/workload-stream.ts): the run's workload, from the
 * start or after a Last-Event-ID, to its terminal event. A run waiting for its concurrency group
 * has no workload yet: the stream waits (heartbeats) until it gets one, or ends if the run ends
 * without one (cancelled while waiting, a broken workflow file).
 */
import type { Queryable } from "../db";
import { runTopic } from "../events/topics";
import type { WorkloadSource } from "../events/workload-stream";

export function runSource(db: Queryable, runId: string): WorkloadSource {
  return {
    name: `run ${runId}`,
    topic: runTopic(runId),
    follow: false,
    owns: (event) => event.run_id === runId,
    async next() {
      const r = await db.query<{ status: string; workload_id: string | null }>(
        `SELECT r.status, (SELECT w.id FROM workloads w WHERE w.workflow_run_id = r.id
                            ORDER BY w.created_at DESC LIMIT 1) AS workload_id
           FROM workflow_runs r WHERE r.id = $1`,
        [runId],
      );
      const row = r.rows[0];
      if (row?.workload_id) return row.workload_id;
      return row && (row.status === "queued" || row.status === "running") ? undefined : null;
    },
  };
}
