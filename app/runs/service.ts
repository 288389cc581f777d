/**
 * Workflow runs: from an event to runs, and everything that happens to a run afterwards.
 *
 * An event (a push from the git bus, a webhook, a manual dispatch, a chat message or mention)
 * names a repository and a commit. The workflow files at that commit are loaded (cached by blob
 * id), matched against the event, and each matching workflow becomes a run: a `workflow_runs`
 * row (trigger, commit, ref, mode, plan), its `workflow_steps`, and a `workflow` workload handed
 * to the dispatcher. A file with an error becomes a run with status `error` that shows the
 * `path:line:col` message; it never keeps the other files from running.
 *
 * Concurrency groups (per repository): with `cancel_in_progress` a new run cancels the group's
 * older live runs; otherwise it waits (`queued`, without a workload) until the group's live run
 * ends, then the oldest waiting run starts.
 *
 * Statuses: queued → running → success | failure | cancelled | error. `failure`: the workflow
 * ran and failed (a step, `ctx.failure`, its timeout); `error`: it could not run as planned (a
 * broken file, a runner that failed or was lost).
 */
import type { User } from "../auth/tokens";
import type { AppContext } from "../context";
import type { Db, Queryable } from "../db";
import type { Dispatcher, WorkloadEnd } from "../dispatch/dispatcher";
import { LIVE_WORKLOAD_SQL } from "../dispatch/status";
import { AppError, conflict, forbidden, notFound } from "../errors";
import type { EventHub } from "../events/hub";
import { runTopic } from "../events/topics";
import { git } from "../git/exec";
import type { PushEvent } from "../git/push-events";
import { canRead, canWrite, type Repository } from "../git/repos";
import type { CreatedRun, RunView } from "../wire/api";
import { isUuid } from "../wire/ids";
import { type Assignment, Limits } from "../wire/protocol";
import {
  formatError,
  matchTriggers,
  type Plan,
  type WorkflowEvent,
  type WorkflowEventInput,
  WorkflowEventSchema,
} from "../workflows/index";
import { definitionsOptions, fileErrors, upsertDefinition, WorkflowDefinitions } from "./definitions";
import { endRun, foldStepEvents, runEnding } from "./fold";
import { findRun, LIVE_RUN_SQL, listRuns, type RunFilter, type RunRow, runSteps, runView } from "./views";

const ZERO_SHA = /^0{40}$/;
/** Changed paths computed for `paths=` filters (beyond that the filters pass, see glob.ts). */
const MAX_CHANGED_PATHS = 1000;

type ServiceContext = Pick<AppContext, "config" | "db" | "log" | "git">;

/** One event for one repository at one commit. */
export interface TriggerInput {
  repo: Repository;
  event: WorkflowEventInput;
  /** Where workflow files are read and the runner checks out. */
  commit: string;
  /** Full ref the run is about (`refs/heads/main`); null when there is none. */
  ref: string | null;
}

/** A run about to be created. */
interface NewRun {
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
  /** Outputs of steps reused from an earlier run (rerun of failed steps). */
  completed?: Map<string, { outputs: Record<string, unknown>; exit_code: number | null; attempts: number }>;
}

export class RunService {
  readonly definitions: WorkflowDefinitions;
  private readonly db: Db;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly hub: EventHub,
    private readonly dispatcher: Dispatcher,
  ) {
    this.db = ctx.db;
    this.definitions = new WorkflowDefinitions(ctx.git, definitionsOptions(ctx.config));
    dispatcher.onWorkloadEvents("workflow", async (tx, w, events) => {
      if (w.workflow_run_id) await foldStepEvents(tx, w.workflow_run_id, events);
    });
    dispatcher.onWorkloadEnd("workflow", (tx, end) => this.workloadEnded(tx, end));
  }

  /** Starts runs for every push the git bus reports; returns the function that stops (and the workers). */
  subscribeToPushes(): () => Promise<void> {
    const unsubscribe = this.ctx.git.onPush(async (e) => void (await this.onPush(e)));
    return () => {
      unsubscribe();
      return this.definitions.close();
    };
  }

  async onPush(e: PushEvent): Promise<CreatedRun[]> {
    if (ZERO_SHA.test(e.after)) return []; // a deletion: nothing to run
    const repo = await this.ctx.git.repos.byId(e.repo.id);
    if (!repo) return [];
    const event = {
      kind: "push" as const,
      ref: e.ref,
      before: e.before,
      after: e.after,
      ...(e.pusher ? { pusher: e.pusher.username } : {}),
    };
    return this.trigger({ repo, event, commit: e.after, ref: e.ref });
  }

  /**
   * Creates the runs an event starts at a commit. Every workflow file is loaded; broken files
   * give `error` runs, matching workflows give runs with their plans.
   */
  async trigger(input: TriggerInput): Promise<CreatedRun[]> {
    const parsed = WorkflowEventSchema.safeParse(input.event);
    if (!parsed.success) {
      throw new AppError(
        422,
        "invalid_event",
        `invalid event: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      );
    }
    const pushed = parsed.data;
    // Evaluated in a worker, all files within one deadline; the changed paths only if a filter needs them.
    const evaluated = await this.definitions.evaluate(input.repo, input.commit, {
      event: pushed,
      ...(pushed.kind === "push" && !pushed.paths
        ? { paths: () => this.changedPaths(input.repo, pushed.before, pushed.after) }
        : {}),
    });
    const files = evaluated.files;
    if (files.length === 0) return [];
    const event = (evaluated.event ?? pushed) as WorkflowEvent;
    const runs: NewRun[] = [];
    const sessionId = await this.sessionFor(event);
    for (const file of files) {
      const definitionId = await upsertDefinition(this.db, input.repo.id, file);
      const base = { repo: input.repo, path: file.path, definitionId, commit: input.commit, ref: input.ref };
      const common = { ...base, event, eventKind: event.kind, sessionId };
      if (!file.result.ok) {
        // A dispatch names a workflow of a file that loads; chat messages and mentions would turn
        // one broken file into an error run per message (its push already reported it).
        if (event.kind === "manual" || event.kind === "chat" || event.kind === "mention") continue;
        runs.push({ ...common, workflow: stem(file.path), plan: null, error: fileErrors(file.result)! });
        continue;
      }
      for (const { name, event: matched, outcome } of file.plans) {
        runs.push({
          ...common,
          event: matched,
          workflow: name,
          plan: outcome.ok ? outcome.plan : null,
          error: outcome.ok ? null : outcome.errors.map(formatError).join("\n"),
        });
      }
    }
    const created: CreatedRun[] = [];
    for (const run of runs) created.push(await this.create(run));
    if (created.length > 0) {
      this.ctx.log.info(
        { repo: `${input.repo.owner}/${input.repo.name}`, event: event.kind, runs: created.length },
        "workflow runs created",
      );
    }
    return created;
  }

  /**
   * A chat message in a session on a repository: a `chat` event, and a `mention` event for each
   * `@handle` in it, at the head of the default branch; matching workflows run in `agent` mode
   * with the session. Only a user who may start the repository's runs (its owner or an admin)
   * starts them: anyone may chat about a public repository, not spend its runners.
   */
  async onChatMessage(user: User, repoId: number, sessionId: string, message: string): Promise<CreatedRun[]> {
    const repo = await this.ctx.git.repos.byId(repoId);
    if (!repo || !canWrite({ user }, repo)) return [];
    const commit = await this.ctx.git.resolveRef(repo, repo.defaultBranch).catch(() => undefined);
    if (!commit) return []; // an empty repository has no workflows
    const ref = `refs/heads/${repo.defaultBranch}`;
    const events: WorkflowEventInput[] = [
      { kind: "chat", session_id: sessionId, message },
      ...mentions(message).map((handle) => ({
        kind: "mention" as const,
        handle,
        body: message,
        session_id: sessionId,
      })),
    ];
    const created: CreatedRun[] = [];
    for (const event of events) created.push(...(await this.trigger({ repo, event, commit, ref })));
    return created;
  }

  /**
   * `POST …/workflows/:name/dispatch`: a manual run of one workflow at a ref (default branch).
   * 404 when no workflow file at that commit defines it, 422 when its triggers refuse the
   * dispatch (no manual trigger, a missing or unknown input).
   */
  async dispatchManual(
    user: User,
    repo: Repository,
    name: string,
    input: { ref?: string; inputs?: Record<string, string | number | boolean> },
  ): Promise<CreatedRun> {
    this.requireWrite(user, repo);
    const refName = input.ref ?? repo.defaultBranch;
    const commit = await this.ctx.git.resolveRef(repo, refName).catch(() => undefined);
    if (!commit) throw notFound(`no branch, tag or commit ${refName} in ${repo.owner}/${repo.name}`);
    const ref =
      commit === refName ? null : refName.startsWith("refs/") ? refName : await this.fullRef(repo, refName);
    const event = {
      kind: "manual" as const,
      workflow: name,
      ...(ref ? { ref } : {}),
      inputs: input.inputs ?? {},
    };
    const { files } = await this.definitions.evaluate(repo, commit, { event, only: { workflow: name } });
    const found = files.find((f) => f.result.ok && f.result.workflows.some((w) => w.name === name));
    if (!found?.result.ok) {
      const broken = files.map((f) => fileErrors(f.result)).filter(Boolean);
      const hint = broken.length ? `; files with errors:\n${broken.join("\n")}` : "";
      throw notFound(`no workflow named ${name} at ${refName}${hint}`);
    }
    const header = found.result.workflows.find((w) => w.name === name)!;
    const match = matchTriggers(header, event);
    if (!match.matched)
      throw new AppError(422, "not_dispatchable", `cannot dispatch ${name}: ${match.reason}`);
    const outcome = found.plans.find((p) => p.name === name)?.outcome ?? {
      ok: false as const,
      errors: [{ ...header.source, message: `${name} was not evaluated` }],
    };
    const definitionId = await upsertDefinition(this.db, repo.id, found);
    return this.create({
      repo,
      workflow: name,
      path: found.path,
      definitionId,
      event: match.event,
      eventKind: "manual",
      commit,
      ref,
      plan: outcome.ok ? outcome.plan : null,
      error: outcome.ok ? null : outcome.errors.map(formatError).join("\n"),
      sessionId: null,
    });
  }

  // ---- reading ----

  /** Whether a run of the repository is queued or running. */
  async hasLiveRuns(repo: Repository): Promise<boolean> {
    const r = await this.db.query(
      `SELECT 1 FROM workflow_runs WHERE repo_id = $1 AND status IN ${LIVE_RUN_SQL} LIMIT 1`,
      [repo.id],
    );
    return r.rowCount > 0;
  }

  async list(user: User | undefined, repo: Repository, filter: RunFilter): Promise<RunView[]> {
    if (!canRead({ user }, repo)) throw notFound(`repository ${repo.owner}/${repo.name} not found`);
    return (await listRuns(this.db, repo.id, filter)).map((r) => runView(r));
  }

  /** A run the caller may see (404 otherwise, without saying whether it exists). */
  async visible(user: User | undefined, id: string): Promise<RunRow> {
    const run = isUuid(id) ? await findRun(this.db, id) : undefined;
    const repo = run && (await this.ctx.git.repos.byId(run.repo_id));
    if (!run || !repo || !canRead({ user }, repo)) throw notFound(`no run ${id}`);
    return run;
  }

  async get(user: User | undefined, id: string): Promise<RunView> {
    const run = await this.visible(user, id);
    return runView(run, await runSteps(this.db, run.id));
  }

  // ---- changing ----

  /**
   * Cancels a live run: a waiting run ends at once; a running one is aborted through its
   * workload (the runner stops its steps and ends with `done: aborted`).
   */
  async cancel(user: User, id: string): Promise<{ id: string; status: "cancelled" | "cancelling" }> {
    const run = await this.visible(user, id);
    this.requireWrite(user, await this.repoOf(run));
    const outcome = await this.db.transaction(async (tx) => {
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
      await this.dispatcher.requestAbort(outcome.workloadId);
      return { id, status: "cancelling" };
    }
    await this.hub.signal(runTopic(id));
    if (run.concurrency_group) this.startWaiting(run.repo_id, run.concurrency_group);
    return { id, status: "cancelled" };
  }

  /**
   * Runs an ended run again: the same plan, commit and trigger. With `failedOnly`, the steps that
   * succeeded are not run again; their outputs are reused (`completed_steps`). A run that had no
   * plan (a broken file) is evaluated again from its file at the same commit.
   */
  async rerun(user: User, id: string, failedOnly: boolean): Promise<CreatedRun> {
    const run = await this.visible(user, id);
    const repo = await this.repoOf(run);
    this.requireWrite(user, repo);
    if (run.status === "queued" || run.status === "running") {
      throw conflict(`run ${id} is still ${run.status}; cancel it or wait for it to end`, "still_running");
    }
    if (failedOnly && run.status === "success") {
      throw conflict(`run ${id} succeeded; there are no failed steps to run again`, "nothing_failed");
    }
    const completed = new Map<
      string,
      { outputs: Record<string, unknown>; exit_code: number | null; attempts: number }
    >();
    if (failedOnly) {
      for (const s of await runSteps(this.db, id)) {
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
    if (run.plan) return this.create({ ...again, plan: run.plan, error: null });
    return this.create({ ...again, ...(await this.replan(run, repo)) });
  }

  // ---- internals ----

  /** Evaluates a run's workflow file again at its commit (rerun of a run that had no plan). */
  private async replan(run: RunRow, repo: Repository): Promise<{ plan: Plan | null; error: string | null }> {
    const { files } = await this.definitions.evaluate(repo, run.commit_sha!, {
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

  /** Inserts the run and its steps, and starts it unless its concurrency group makes it wait. */
  private async create(run: NewRun): Promise<CreatedRun> {
    const id = crypto.randomUUID();
    const group = run.plan?.concurrency ?? null;
    const started = await this.db.transaction(async (tx) => {
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
              superseded.ended.push(o.id);
            }
          }
        } else if (older.length > 0) return { assignment: undefined, superseded }; // waits its turn
      }
      return { assignment: await this.createWorkload(tx, id), superseded };
    });
    if (started.assignment) await this.dispatcher.dispatch(started.assignment);
    for (const workloadId of started.superseded.aborted) await this.dispatcher.requestAbort(workloadId);
    for (const runId of started.superseded.ended) await this.hub.signal(runTopic(runId));
    return {
      id,
      workflow: run.workflow,
      path: run.path,
      status: run.plan ? "queued" : "error",
      error: run.error,
    };
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
    const base = this.ctx.config.publicUrl;
    return this.dispatcher.create(tx, {
      type: "workflow",
      run_id: runId,
      repo: {
        owner: run.owner,
        name: run.name,
        clone_url: `${base}/${run.owner}/${run.name}.git`,
        ...(run.commit_sha ? { commit: run.commit_sha } : {}),
      },
      model: this.ctx.config.PLUE_MODEL,
      plan,
      trigger: { event: run.trigger_event, context: run.trigger_context },
      ...(done.rows.length ? { completed_steps: completed } : {}),
      limits: Limits.parse({ wall_time_ms: plan.timeout_seconds * 1000 }),
    });
  }

  /** In the transaction that ends a workflow workload. */
  private async workloadEnded(tx: Queryable, end: WorkloadEnd): Promise<void> {
    const runId = end.workload.workflow_run_id;
    if (!runId) return;
    const run = await findRun(tx, runId, true);
    if (!run) return;
    await endRun(tx, runId, runEnding(end, run.plan?.timeout_seconds), end.status);
    if (run.concurrency_group) {
      // Taken here so the next run of the group starts only after this transaction commits.
      await lockGroup(tx, run.repo_id, run.concurrency_group);
      const group = run.concurrency_group;
      setImmediate(() => this.startWaiting(run.repo_id, group));
    }
  }

  /** Starts the oldest waiting run of a group once nothing of the group is live. */
  startWaiting(repoId: number, group: string): void {
    const next = this.db.transaction(async (tx) => {
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
        await this.hub.signal(runTopic(started.runId));
        await this.dispatcher.dispatch(started.assignment);
      })
      .catch((err) => this.ctx.log.error({ err, repoId, group }, "starting a waiting run failed"));
  }

  private requireWrite(user: User, repo: Repository): void {
    if (!canWrite({ user }, repo)) {
      throw forbidden(
        `only the owner of ${repo.owner}/${repo.name} (or an admin) can start or stop its runs`,
      );
    }
  }

  private async repoOf(run: RunRow): Promise<Repository> {
    const repo = await this.ctx.git.repos.byId(run.repo_id);
    if (!repo) throw notFound(`no run ${run.id}`);
    return repo;
  }

  private async fullRef(repo: Repository, name: string): Promise<string | null> {
    const gitDir = this.ctx.git.repos.gitDir(repo);
    for (const ref of [`refs/heads/${name}`, `refs/tags/${name}`]) {
      if (await this.ctx.git.objects.resolveCommit(gitDir, ref)) return ref;
    }
    return null;
  }

  /** The session a chat or mention run belongs to (mode `agent`), when it names an existing one. */
  private async sessionFor(event: WorkflowEvent): Promise<string | null> {
    if (event.kind !== "chat" && event.kind !== "mention") return null;
    const sessionId = event.session_id;
    if (typeof sessionId !== "string" || !isUuid(sessionId)) return null;
    const r = await this.db.query("SELECT 1 FROM sessions WHERE id = $1", [sessionId]);
    return r.rowCount > 0 ? sessionId : null;
  }

  /** Paths changed by a push, for `paths=` filters; undefined when unknown (new branch, too many). */
  private async changedPaths(repo: Repository, before: string, after: string): Promise<string[] | undefined> {
    if (ZERO_SHA.test(before)) return undefined;
    try {
      const out = await git(["diff-tree", "-r", "-z", "--name-only", "--no-renames", before, after], {
        gitDir: this.ctx.git.repos.gitDir(repo),
      });
      const paths = out.split("\0").filter(Boolean);
      return paths.length > MAX_CHANGED_PATHS ? undefined : paths;
    } catch {
      return undefined; // `before` is unknown here (a force push): the change set is unknown
    }
  }
}

async function insertSteps(tx: Queryable, runId: string, plan: Plan, completed?: NewRun["completed"]) {
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
  const r = await tx.query<{ id: string; workload_id: string | null }>(
    `SELECT r.id,
            (SELECT w.id FROM workloads w WHERE w.workflow_run_id = r.id AND w.status IN ${LIVE_WORKLOAD_SQL}
              ORDER BY w.created_at DESC LIMIT 1) AS workload_id
       FROM workflow_runs r
      WHERE r.repo_id = $1 AND r.concurrency_group = $2 AND r.status IN ${LIVE_RUN_SQL} AND r.id <> $3
      ORDER BY r.created_at`,
    [repoId, group, except],
  );
  return r.rows;
}

async function liveWorkload(tx: Queryable, runId: string): Promise<string | undefined> {
  const r = await tx.query<{ id: string }>(
    `SELECT id FROM workloads WHERE workflow_run_id = $1 AND status IN ${LIVE_WORKLOAD_SQL}
      ORDER BY created_at DESC LIMIT 1`,
    [runId],
  );
  return r.rows[0]?.id;
}

/** Whether any loaded workflow filters pushes by path (only then are changed paths computed). */
/** `.plue/workflows/ci.py` → `ci`: the name of an error run whose file defines none. */
function stem(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1);
  return base.endsWith(".py") ? base.slice(0, -3) : base;
}

/** Most mentions one message starts workflows for. */
const MAX_MENTIONS = 5;

/** The distinct `@handle`s in a message (lower case; not an address like a@b.c), at most MAX_MENTIONS. */
export function mentions(message: string): string[] {
  const handles = [...message.matchAll(/(?<![\w.@])@([A-Za-z0-9][A-Za-z0-9_-]{0,38})/g)].map((m) =>
    m[1]!.toLowerCase(),
  );
  return [...new Set(handles)].slice(0, MAX_MENTIONS);
}
