/**
 * Changing a run after it was created: cancelling a live one (a waiting run ends at once, a
 * running one is aborted through its workload) and running an ended one again. The caller
 * (service.ts) has checked that the user may see the run and start or stop its repository's runs.
 */
import type { Db, Queryable } from "../db";
import type { Dispatcher } from "../dispatch/dispatcher";
import { LIVE_WORKLOAD_SQL } from "../dispatch/status";
import { conflict } from "../errors";
import type { EventHub } from "../events/hub";
import { checksTopic, runTopic } from "../events/topics";
import type { Repository } from "../git/repos";
import type { CreatedRun } from "../wire/api";
import { formatError, type Plan, type WorkflowEventInput } from "../workflows/index";
import { fileErrors, type WorkflowDefinitions } from "./definitions";
import { endRun } from "./fold";
import type { CompletedSteps, RunStarter } from "./starter";
import { findRun, type RunRow, runSteps } from "./views";

export interface RunControlDeps {
  readonly db: Db;
  readonly hub: EventHub;
  readonly dispatcher: Dispatcher;
  readonly definitions: WorkflowDefinitions;
  readonly starter: RunStarter;
}

export class RunControl {
  constructor(private readonly deps: RunControlDeps) {}

  /**
   * Cancels a live run: a waiting run ends at once; a running one is aborted through its
   * workload (the runner stops its steps and ends with `done: aborted`). `id` is the run as the
   * caller named it.
   */
  async cancel(id: string, run: RunRow): Promise<{ id: string; status: "cancelled" | "cancelling" }> {
    const outcome = await this.deps.db.transaction(async (tx) => {
      const r = await findRun(tx, id, true);
      if (!r || (r.status !== "queued" && r.status !== "running")) {
        throw conflict(`run ${id} is not running (${r?.status ?? "gone"})`, "not_running");
      }
      const live = await liveWorkload(tx, id);
      if (live) return { workloadId: live };
      await endRun(tx, id, { status: "cancelled", outputs: null, error: null });
      return { workloadId: undefined };
    });
    if (outcome.workloadId) {
      await this.deps.dispatcher.requestAbort(outcome.workloadId);
      return { id, status: "cancelling" };
    }
    await this.deps.hub.signal(runTopic(id));
    if (run.commit_sha) await this.deps.hub.signal(checksTopic(run.repo_id, run.commit_sha));
    if (run.concurrency_group) this.deps.starter.startWaiting(run.repo_id, run.concurrency_group);
    return { id, status: "cancelled" };
  }

  /**
   * Runs an ended run again: the same plan, commit and trigger. With `failedOnly`, the steps that
   * succeeded are not run again; their outputs are reused (`completed_steps`). A run that had no
   * plan (a broken file) is evaluated again from its file at the same commit.
   */
  async rerun(id: string, run: RunRow, repo: Repository, failedOnly: boolean): Promise<CreatedRun> {
    if (run.status === "queued" || run.status === "running") {
      throw conflict(`run ${id} is still ${run.status}; cancel it or wait for it to end`, "still_running");
    }
    if (failedOnly && run.status === "success") {
      throw conflict(`run ${id} succeeded; there are no failed steps to run again`, "nothing_failed");
    }
    const completed: CompletedSteps = new Map();
    if (failedOnly) {
      for (const s of await runSteps(this.deps.db, id)) {
        if (s.status === "success")
          completed.set(s.name, { outputs: s.outputs ?? {}, exit_code: s.exit_code, attempts: s.attempts });
      }
    }
    const again = {
      repo,
      workflow: run.workflow_name,
      path: run.workflow_path,
      definitionId: run.definition_id,
      event: run.trigger_context,
      eventKind: run.trigger_event,
      commit: run.commit_sha!,
      ref: run.ref,
      sessionId: run.session_id,
      rerunOf: run.id,
      completed,
    };
    if (run.plan) return this.deps.starter.create({ ...again, plan: run.plan, error: null });
    return this.deps.starter.create({ ...again, ...(await this.replan(run, repo)) });
  }

  /** Evaluates a run's workflow file again at its commit (rerun of a run that had no plan). */
  private async replan(run: RunRow, repo: Repository): Promise<{ plan: Plan | null; error: string | null }> {
    const { files } = await this.deps.definitions.evaluate(repo, run.commit_sha!, {
      event: run.trigger_context as WorkflowEventInput,
      only: {
        workflow: run.workflow_name,
        ...(run.workflow_path ? { path: run.workflow_path } : {}),
        match: false,
      },
    });
    const file = files.find((f) => f.path === run.workflow_path);
    if (!file) return { plan: null, error: `${run.workflow_path} no longer exists at ${run.commit_sha}` };
    if (!file.result.ok) return { plan: null, error: fileErrors(file.result)! };
    const header = file.result.workflows.find((w) => w.name === run.workflow_name);
    const outcome = file.plans.find((p) => p.name === run.workflow_name)?.outcome;
    if (!header || !outcome)
      return { plan: null, error: `${run.workflow_path} defines no workflow ${run.workflow_name}` };
    return outcome.ok
      ? { plan: outcome.plan, error: null }
      : { plan: null, error: outcome.errors.map(formatError).join("\n") };
  }
}

async function liveWorkload(tx: Queryable, runId: string): Promise<string | undefined> {
  const r = await tx.query<{ id: string }>(
    `SELECT id FROM workloads WHERE workflow_run_id = $1 AND status IN ${LIVE_WORKLOAD_SQL}
      ORDER BY created_at DESC LIMIT 1`,
    [runId],
  );
  return r.rows[0]?.id;
}
