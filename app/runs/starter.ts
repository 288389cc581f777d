/**
 * Creating runs and starting their workloads: a run's `workflow_runs` row and `workflow_steps`,
 * its concurrency group, the `workflow` workload handed to the dispatcher, and what happens when
 * that workload ends.
 *
 * Concurrency groups (per repository): with `cancel_in_progress` a new run cancels the group's
 * older live runs; otherwise it waits (`queued`, without a workload) until the group's live run
 * ends, then the oldest waiting run starts. One advisory lock per group serialises creating,
 * ending and starting the next.
 */
import type { Db, Queryable } from "../db";
import type { Dispatcher, WorkloadEnd } from "../dispatch/dispatcher";
import { LIVE_WORKLOAD_SQL } from "../dispatch/status";
import type { EventHub } from "../events/hub";
import { checksTopic, EVENTS_CHANNEL, runTopic } from "../events/topics";
import type { Repository } from "../git/repos";
import type { Logger } from "../log";
import type { CreatedRun } from "../wire/api";
import { type Assignment, Limits } from "../wire/protocol";
import type { Plan, WorkflowEvent } from "../workflows/index";
import { endRun, runEnding } from "./fold";
import { findRun, LIVE_RUN_SQL } from "./views";

export interface RunStarterDeps {
  readonly db: Db;
  readonly log: Logger;
  readonly hub: EventHub;
  readonly dispatcher: Dispatcher;
  /** The URL runners clone from (`<url>/<owner>/<name>.git`). */
  readonly publicUrl: () => string;
  /** The model a workflow's agent steps use (PLUE_MODEL). */
  readonly model: string;
}

/** Outputs of a step reused from an earlier run (rerun of failed steps). */
export type CompletedSteps = Map<
  string,
  { outputs: Record<string, unknown>; exit_code: number | null; attempts: number }
>;

/** A run about to be created. */
export interface NewRun {
  repo: Repository;
  workflow: string;
  path: string | null;
  definitionId: number | null;
  event: WorkflowEvent | Record<string, unknown>;
  eventKind: string;
  commit: string;
  ref: string | null;
  plan: Plan | null;
  error: string | null;
  sessionId: string | null;
  rerunOf?: string;
  completed?: CompletedSteps;
}

export class RunStarter {
  constructor(private readonly deps: RunStarterDeps) {}

  /** Inserts the run and its steps, and starts it unless its concurrency group makes it wait. */
  async create(run: NewRun): Promise<CreatedRun> {
    const id = crypto.randomUUID();
    const group = run.plan?.concurrency ?? null;
    const started = await this.deps.db.transaction(async (tx) => {
      const status = run.plan ? "queued" : "error";
      await tx.query(
        `INSERT INTO workflow_runs (id, repo_id, definition_id, workflow_name, workflow_path, trigger_event,
                                    trigger_context, status, commit_sha, ref, session_id, mode, plan, error,
                                    concurrency_group, rerun_of, ended_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                 CASE WHEN $8 = 'error' THEN now() END)`,
        [
          id,
          run.repo.id,
          run.definitionId,
          run.workflow,
          run.path,
          run.eventKind,
          JSON.stringify(run.event),
          status,
          run.commit,
          run.ref,
          run.sessionId,
          run.eventKind === "chat" || run.eventKind === "mention" ? "agent" : "scripted",
          run.plan ? JSON.stringify(run.plan) : null,
          run.error,
          group?.group ?? null,
          run.rerunOf ?? null,
        ],
      );
      const superseded = { aborted: [] as string[], ended: [] as string[] };
      if (!run.plan) return { assignment: undefined, superseded };
      await insertSteps(tx, id, run.plan, run.completed);
      if (group) {
        await lockGroup(tx, run.repo.id, group.group);
        const older = await liveRunsOfGroup(tx, run.repo.id, group.group, id);
        if (group.cancel_in_progress) {
          for (const o of older) {
            if (o.workload_id) superseded.aborted.push(o.workload_id);
            else {
              await endRun(tx, o.id, {
                status: "cancelled",
                outputs: null,
                error: "superseded by a newer run",
              });
              if (o.commit_sha) await this.checksChanged(tx, run.repo.id, o.commit_sha);
              superseded.ended.push(o.id);
            }
          }
        } else if (older.length > 0) return { assignment: undefined, superseded }; // waits its turn
      }
      return { assignment: await this.createWorkload(tx, id), superseded };
    });
    const { dispatcher, hub } = this.deps;
    if (started.assignment) await dispatcher.dispatch(started.assignment);
    for (const workloadId of started.superseded.aborted) await dispatcher.requestAbort(workloadId);
    for (const runId of started.superseded.ended) await hub.signal(runTopic(runId));
    await hub.signal(checksTopic(run.repo.id, run.commit));
    return {
      id,
      workflow: run.workflow,
      path: run.path,
      status: run.plan ? "queued" : "error",
      error: run.error,
    };
  }

  /** In the transaction that ends a workflow workload. */
  async workloadEnded(tx: Queryable, end: WorkloadEnd): Promise<void> {
    const runId = end.workload.workflow_run_id;
    if (!runId) return;
    const run = await findRun(tx, runId, true);
    if (!run) return;
    await endRun(tx, runId, runEnding(end, run.plan?.timeout_seconds), end.status);
    if (run.commit_sha) await this.checksChanged(tx, run.repo_id, run.commit_sha);
    if (run.concurrency_group) {
      // Taken here so the next run of the group starts only after this transaction commits.
      await lockGroup(tx, run.repo_id, run.concurrency_group);
      const group = run.concurrency_group;
      setImmediate(() => this.startWaiting(run.repo_id, group));
    }
  }

  /** Tells open pull request pages that workflows were skipped at `commit` (triggers.ts). */
  checksSkipped(repoId: number, commit: string): Promise<void> {
    return this.deps.hub.signal(checksTopic(repoId, commit));
  }

  /**
   * Tells open pull request pages that a check of `commit` changed, once `tx` commits: on Postgres
   * a NOTIFY inside a transaction is delivered at its commit; PGlite runs one transaction at a
   * time, so a reader woken now waits for this one to end.
   */
  async checksChanged(tx: Queryable, repoId: number, commit: string): Promise<void> {
    const topic = checksTopic(repoId, commit);
    if (this.deps.db.kind === "postgres") await tx.query("SELECT pg_notify($1, $2)", [EVENTS_CHANNEL, topic]);
    else await this.deps.hub.signal(topic);
  }

  /** Starts the oldest waiting run of a group once nothing of the group is live. */
  startWaiting(repoId: number, group: string): void {
    const next = this.deps.db.transaction(async (tx) => {
      await lockGroup(tx, repoId, group);
      const live = await tx.query(
        `SELECT 1 FROM workflow_runs r JOIN workloads w ON w.workflow_run_id = r.id
          WHERE r.repo_id = $1 AND r.concurrency_group = $2 AND r.status IN ${LIVE_RUN_SQL}
            AND w.status IN ${LIVE_WORKLOAD_SQL} LIMIT 1`,
        [repoId, group],
      );
      if (live.rowCount > 0) return undefined;
      const waiting = await tx.query<{ id: string }>(
        `SELECT r.id FROM workflow_runs r
          WHERE r.repo_id = $1 AND r.concurrency_group = $2 AND r.status = 'queued'
            AND NOT EXISTS (SELECT 1 FROM workloads w WHERE w.workflow_run_id = r.id)
          ORDER BY r.created_at, r.id LIMIT 1`,
        [repoId, group],
      );
      const runId = waiting.rows[0]?.id;
      return runId ? { runId, assignment: await this.createWorkload(tx, runId) } : undefined;
    });
    next
      .then(async (started) => {
        if (!started) return;
        await this.deps.hub.signal(runTopic(started.runId));
        await this.deps.dispatcher.dispatch(started.assignment);
      })
      .catch((err) => this.deps.log.error({ err, repoId, group }, "starting a waiting run failed"));
  }

  /** The `workflow` workload of a run; steps already marked successful travel as completed. */
  private async createWorkload(tx: Queryable, runId: string): Promise<Assignment> {
    const run = (await findRun(tx, runId))!;
    const plan = run.plan!;
    const done = await tx.query<{ key: string; outputs: unknown }>(
      "SELECT key, outputs FROM workflow_steps WHERE run_id = $1 AND status = 'success'",
      [runId],
    );
    const completed = Object.fromEntries(
      done.rows.map((s) => [
        s.key,
        (typeof s.outputs === "string" ? JSON.parse(s.outputs) : s.outputs) ?? {},
      ]),
    );
    const base = this.deps.publicUrl();
    return this.deps.dispatcher.create(tx, {
      type: "workflow",
      run_id: runId,
      repo: {
        owner: run.owner,
        name: run.name,
        clone_url: `${base}/${run.owner}/${run.name}.git`,
        ...(run.commit_sha ? { commit: run.commit_sha } : {}),
      },
      model: this.deps.model,
      plan,
      trigger: { event: run.trigger_event, context: run.trigger_context },
      ...(done.rows.length ? { completed_steps: completed } : {}),
      limits: Limits.parse({ wall_time_ms: plan.timeout_seconds * 1000 }),
    });
  }
}

async function insertSteps(tx: Queryable, runId: string, plan: Plan, completed?: CompletedSteps) {
  const steps = plan.steps;
  const reused = steps.map((s) => completed?.get(s.name));
  await tx.query(
    `INSERT INTO workflow_steps (run_id, key, kind, needs, status, outputs, exit_code, attempts, error)
     SELECT $1, k, kind, needs::jsonb, st, o::jsonb, ec, 0, er
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[])
         WITH ORDINALITY AS x(k, kind, needs, st, o, ec, er, n)
      ORDER BY n`,
    [
      runId,
      steps.map((s) => s.name),
      steps.map((s) => s.kind),
      steps.map((s) => JSON.stringify(s.needs)),
      reused.map((r) => (r ? "success" : "pending")),
      reused.map((r) => (r ? JSON.stringify(r.outputs) : null)),
      reused.map((r) => r?.exit_code ?? null),
      reused.map((r) => (r ? "reused from the earlier run" : null)),
    ],
  );
}

/** Serialises the runs of one concurrency group (creation, ending, starting the next). */
async function lockGroup(tx: Queryable, repoId: number, group: string): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`plue-run-group:${repoId}:${group}`]);
}

async function liveRunsOfGroup(tx: Queryable, repoId: number, group: string, except: string) {
  const r = await tx.query<{ id: string; workload_id: string | null; commit_sha: string | null }>(
    `SELECT r.id, r.commit_sha,
            (SELECT w.id FROM workloads w WHERE w.workflow_run_id = r.id AND w.status IN ${LIVE_WORKLOAD_SQL}
              ORDER BY w.created_at DESC LIMIT 1) AS workload_id
       FROM workflow_runs r
      WHERE r.repo_id = $1 AND r.concurrency_group = $2 AND r.status IN ${LIVE_RUN_SQL} AND r.id <> $3
      ORDER BY r.created_at`,
    [repoId, group, except],
  );
  return r.rows;
}
