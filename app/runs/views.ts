/** Reading runs and their steps: the queries behind the API's run views (app/wire/api.ts). */
import type { Queryable } from "../db";
import type { RunStatus, RunView, StepStatus, StepView } from "../wire/api";
import type { Plan } from "../wire/plan";

export const LIVE_RUN_SQL = "('queued', 'running')";

export interface RunRow {
  id: string;
  repo_id: number;
  owner: string;
  name: string;
  definition_id: number | null;
  workflow_name: string;
  workflow_path: string | null;
  trigger_event: string;
  trigger_context: Record<string, unknown>;
  status: RunStatus;
  commit_sha: string | null;
  ref: string | null;
  session_id: string | null;
  mode: "scripted" | "agent";
  plan: Plan | null;
  error: string | null;
  outputs: Record<string, unknown> | null;
  concurrency_group: string | null;
  rerun_of: string | null;
  created_at: Date;
  started_at: Date | null;
  ended_at: Date | null;
  workload_id: string | null;
}

const json = <T>(v: unknown): T => (typeof v === "string" ? JSON.parse(v) : v) as T;
const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

/** Columns of a run with its repository and latest workload; `r` is workflow_runs. */
const RUN_COLUMNS = `r.id, r.repo_id::int AS repo_id, p.owner, p.name, r.definition_id::int AS definition_id,
  r.workflow_name, r.workflow_path, r.trigger_event, r.trigger_context, r.status, r.commit_sha, r.ref,
  r.session_id, r.mode, r.plan, r.error, r.outputs, r.concurrency_group, r.rerun_of, r.created_at,
  r.started_at, r.ended_at,
  (SELECT w.id FROM workloads w WHERE w.workflow_run_id = r.id ORDER BY w.created_at DESC LIMIT 1) AS workload_id`;

function toRow(r: RunRow): RunRow {
  return {
    ...r,
    trigger_context: json(r.trigger_context),
    plan: json(r.plan),
    outputs: json(r.outputs),
  };
}

export async function findRun(db: Queryable, id: string, lock = false): Promise<RunRow | undefined> {
  const r = await db.query<RunRow>(
    `SELECT ${RUN_COLUMNS} FROM workflow_runs r JOIN repositories p ON p.id = r.repo_id
      WHERE r.id = $1 ${lock ? "FOR UPDATE OF r" : ""}`,
    [id],
  );
  return r.rows[0] && toRow(r.rows[0]);
}

export interface RunFilter {
  status?: RunStatus;
  event?: string;
  workflow?: string;
  limit: number;
  /** Only runs created before this run (pagination: pass the last id of the previous page). */
  before?: string;
}

/** A repository's runs, newest first. */
export async function listRuns(db: Queryable, repoId: number, f: RunFilter): Promise<RunRow[]> {
  const where = ["r.repo_id = $1"];
  const params: unknown[] = [repoId];
  const add = (clause: string, value: unknown) => {
    params.push(value);
    where.push(clause.replace("?", `$${params.length}`));
  };
  if (f.status) add("r.status = ?", f.status);
  if (f.event) add("r.trigger_event = ?", f.event);
  if (f.workflow) add("r.workflow_name = ?", f.workflow);
  if (f.before) {
    add("(r.created_at, r.id) < (SELECT b.created_at, b.id FROM workflow_runs b WHERE b.id = ?)", f.before);
  }
  params.push(f.limit);
  const r = await db.query<RunRow>(
    `SELECT ${RUN_COLUMNS} FROM workflow_runs r JOIN repositories p ON p.id = r.repo_id
      WHERE ${where.join(" AND ")} ORDER BY r.created_at DESC, r.id DESC LIMIT $${params.length}`,
    params,
  );
  return r.rows.map(toRow);
}

export async function runSteps(db: Queryable, runId: string): Promise<StepView[]> {
  const r = await db.query<{
    key: string;
    kind: string;
    needs: unknown;
    status: StepStatus;
    exit_code: number | null;
    outputs: unknown;
    error: string | null;
    attempts: number;
    started_at: Date | null;
    ended_at: Date | null;
  }>(
    `SELECT key, kind, needs, status, exit_code, outputs, error, attempts, started_at, ended_at
       FROM workflow_steps WHERE run_id = $1 ORDER BY id`,
    [runId],
  );
  return r.rows.map((s) => ({
    name: s.key,
    kind: s.kind,
    needs: json(s.needs),
    status: s.status,
    exit_code: s.exit_code,
    outputs: json(s.outputs),
    error: s.error,
    attempts: s.attempts,
    started_at: iso(s.started_at),
    ended_at: iso(s.ended_at),
    duration_ms:
      s.started_at && s.ended_at ? new Date(s.ended_at).getTime() - new Date(s.started_at).getTime() : null,
  }));
}

export function runView(r: RunRow, steps?: StepView[]): RunView {
  return {
    id: r.id,
    repo: `${r.owner}/${r.name}`,
    workflow: r.workflow_name,
    path: r.workflow_path,
    status: r.status,
    event: r.trigger_event,
    trigger_context: r.trigger_context,
    commit: r.commit_sha,
    ref: r.ref,
    mode: r.mode,
    session_id: r.session_id,
    error: r.error,
    outputs: r.outputs,
    concurrency_group: r.concurrency_group,
    rerun_of: r.rerun_of,
    workload_id: r.workload_id,
    created_at: iso(r.created_at)!,
    started_at: iso(r.started_at),
    ended_at: iso(r.ended_at),
    ...(steps ? { steps } : {}),
  };
}
