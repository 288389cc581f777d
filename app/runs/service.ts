/**
 * Workflow runs: from an event to runs, and everything that happens to a run afterwards. This is
 * the area's one entry: it decides who may see a run and who may start or stop runs, reads runs,
 * and hands the rest to triggers.ts (an event → runs), starter.ts (creating and starting runs,
 * concurrency groups, a workload's end) and control.ts (cancel, rerun).
 *
 * Statuses: queued → running → success | failure | cancelled | error. `failure`: the workflow
 * ran and failed (a step, `ctx.failure`, its timeout); `error`: it could not run as planned (a
 * broken file, a runner that failed or was lost).
 */
import type { RepoPermissions } from "../auth/permissions";
import type { User } from "../auth/tokens";
import type { Db } from "../db";
import type { Dispatcher } from "../dispatch/dispatcher";
import { AppError, notFound } from "../errors";
import type { EventHub } from "../events/hub";
import type { PushEvent } from "../git/push-events";
import type { Repository } from "../git/repos";
import type { GitService } from "../git/service";
import type { Logger } from "../log";
import type { CreatedRun, RunView } from "../wire/api";
import { isUuid } from "../wire/ids";
import { RunControl } from "./control";
import { type DefinitionsOptions, WorkflowDefinitions } from "./definitions";
import { foldStepEvents } from "./fold";
import { RunStarter } from "./starter";
import { RunTriggers, type TriggerInput } from "./triggers";
import { findRun, LIVE_RUN_SQL, listRuns, type RunFilter, type RunRow, runSteps, runView } from "./views";

export interface RunServiceDeps {
  readonly db: Db;
  readonly log: Logger;
  readonly git: GitService;
  readonly hub: EventHub;
  readonly dispatcher: Dispatcher;
  /** Who may see a repository's runs (read) and start or stop them (write). */
  readonly permissions: RepoPermissions;
  /** The URL runners clone from. */
  readonly publicUrl: () => string;
  /** The model a workflow's agent steps use (PLUE_MODEL). */
  readonly model: string;
  /** Workflow evaluation: worker threads, deadline, heap, files and workflows per commit. */
  readonly evaluation: DefinitionsOptions;
}

export class RunService {
  readonly definitions: WorkflowDefinitions;
  private readonly db: Db;
  private readonly git: GitService;
  private readonly permissions: RepoPermissions;
  private readonly starter: RunStarter;
  private readonly triggers: RunTriggers;
  private readonly control: RunControl;

  constructor(deps: RunServiceDeps) {
    const { db, log, git, hub, dispatcher } = deps;
    this.db = db;
    this.git = git;
    this.permissions = deps.permissions;
    this.definitions = new WorkflowDefinitions(git, deps.evaluation);
    const definitions = this.definitions;
    this.starter = new RunStarter({ db, log, hub, dispatcher, publicUrl: deps.publicUrl, model: deps.model });
    this.triggers = new RunTriggers({
      ...{ db, log, git, definitions, permissions: deps.permissions },
      starter: this.starter,
    });
    this.control = new RunControl({ db, hub, dispatcher, definitions, starter: this.starter });
    dispatcher.onWorkloadEvents("workflow", async (tx, w, events) => {
      const started = w.workflow_run_id ? await foldStepEvents(tx, w.workflow_run_id, events) : undefined;
      if (started?.commit) await this.starter.checksChanged(tx, started.repoId, started.commit);
    });
    dispatcher.onWorkloadEnd("workflow", (tx, end) => this.starter.workloadEnded(tx, end));
  }

  /** Starts runs for every push the git bus reports; returns the function that stops (and the workers). */
  subscribeToPushes(): () => Promise<void> {
    const unsubscribe = this.git.onPush(async (e) => void (await this.onPush(e)));
    return () => {
      unsubscribe();
      return this.definitions.close();
    };
  }

  onPush(e: PushEvent): Promise<CreatedRun[]> {
    return this.triggers.onPush(e);
  }

  /** The runs an event starts at a commit (webhooks; see triggers.ts). */
  trigger(input: TriggerInput): Promise<CreatedRun[]> {
    return this.triggers.trigger(input);
  }

  /** The chat and mention workflows a session's message starts (see triggers.ts). */
  onChatMessage(user: User, repoId: number, sessionId: string, message: string): Promise<CreatedRun[]> {
    return this.triggers.onChatMessage(user, repoId, sessionId, message);
  }

  /** `POST …/workflows/:name/dispatch`: a manual run of one workflow at a ref (default branch). */
  async dispatchManual(
    user: User,
    repo: Repository,
    name: string,
    input: { ref?: string; inputs?: Record<string, string | number | boolean> },
  ): Promise<CreatedRun> {
    await this.permissions.authorize({ user }, repo, "write");
    return this.triggers.dispatchManual(repo, name, input);
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
    await this.permissions.authorize({ user }, repo, "read");
    return (await listRuns(this.db, repo.id, filter)).map((r) => runView(r));
  }

  /** A run the caller may see (404 otherwise, without saying whether it exists). */
  async visible(user: User | undefined, id: string): Promise<RunRow> {
    const run = isUuid(id) ? await findRun(this.db, id) : undefined;
    const repo = run && (await this.git.repos.byId(run.repo_id));
    if (!run || !repo) throw notFound(`no run ${id}`);
    try {
      await this.permissions.authorize({ user }, repo, "read");
    } catch (err) {
      // Without read access the run does not exist, as its repository does not.
      if (err instanceof AppError && err.status === 404) throw notFound(`no run ${id}`);
      throw err;
    }
    return run;
  }

  async get(user: User | undefined, id: string): Promise<RunView> {
    const run = await this.visible(user, id);
    return runView(run, await runSteps(this.db, run.id));
  }

  // ---- changing ----

  /** Cancels a live run (see control.ts); 409 when it is not live. */
  async cancel(user: User, id: string): Promise<{ id: string; status: "cancelled" | "cancelling" }> {
    const run = await this.visible(user, id);
    await this.permissions.authorize({ user }, await this.repoOf(run), "write");
    return this.control.cancel(id, run);
  }

  /** Runs an ended run again (see control.ts); with `failedOnly`, only the steps that did not succeed. */
  async rerun(user: User, id: string, failedOnly: boolean): Promise<CreatedRun> {
    const run = await this.visible(user, id);
    const repo = await this.repoOf(run);
    await this.permissions.authorize({ user }, repo, "write");
    return this.control.rerun(id, run, repo, failedOnly);
  }

  private async repoOf(run: RunRow): Promise<Repository> {
    const repo = await this.git.repos.byId(run.repo_id);
    if (!repo) throw notFound(`no run ${run.id}`);
    return repo;
  }
}
