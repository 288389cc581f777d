/**
 * What a session's SSE stream follows (app/events/workload-stream.ts): the session's runs. It
 * shows the latest run (or waits for the first), ends after that run's terminal event, and with
 * `follow` continues with each later run, in the order they were created.
 */
import type { Queryable } from "../db";
import { sessionTopic } from "../events/topics";
import type { WorkloadSource } from "../events/workload-stream";

export function sessionSource(db: Queryable, sessionId: string, follow: boolean): WorkloadSource {
  return {
    name: `session ${sessionId}`,
    topic: sessionTopic(sessionId),
    follow,
    owns: (event) => event.session_id === sessionId,
    async next(previous) {
      const r = previous
        ? await db.query<{ id: string }>(
            `SELECT w.id FROM workloads w, workloads p
              WHERE p.id = $2 AND w.session_id = $1 AND (w.created_at, w.id) > (p.created_at, p.id)
              ORDER BY w.created_at, w.id LIMIT 1`,
            [sessionId, previous],
          )
        : await db.query<{ id: string }>(
            "SELECT id FROM workloads WHERE session_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
            [sessionId],
          );
      return r.rows[0]?.id;
    },
  };
}
