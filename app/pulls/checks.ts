/**
 * The checks of a commit (docs/pulls.md, "Checks and commit statuses"), from three sources:
 * - workflow runs at the commit: the latest run of each workflow name (a rerun replaces the run
 *   it reruns), with the run's status, its page as target_url and its outputs once it succeeded;
 *   chat and mention runs are conversations, not checks, and are left out;
 * - commit statuses outside systems posted (statuses.ts): pending shows as `running`;
 * - workflows whose triggers did not match a pull request's event at the commit (check_skips,
 *   written by app/runs/triggers.ts): `skipped`, unless a run of that workflow exists after all.
 * The combined state is the worst: failure (failure, cancelled, error) > pending > success.
 */
import type { Db } from "../db";
import type { Repository } from "../git/repos";
import type { GitService } from "../git/service";
import type { RunStatus } from "../wire/api";
import type { CheckStatus, ChecksView, CheckView } from "../wire/pulls";
import { CommitStatuses, type CommitStatusesDeps, existingCommit, statusRows } from "./statuses";

export interface ChecksDeps extends CommitStatusesDeps {
  readonly db: Db;
  readonly git: Pick<GitService, "resolveRef">;
}

/** The run page (web/src/routes.ts `urls.run`; services do not import the web bundle). */
const runPage = (id: string) => `/runs/${encodeURIComponent(id)}`;

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export class Checks {
  /** Commit statuses: posting and listing them. */
  readonly statuses: CommitStatuses;

  constructor(private readonly deps: ChecksDeps) {
    this.statuses = new CommitStatuses(deps);
  }

  /** `GET …/commits/:sha/checks`: `sha` must be a full id of a commit of the repository (422). */
  async forCommit(repo: Repository, sha: string): Promise<ChecksView> {
    await existingCommit(this.deps.git, repo, sha);
    const [runs, statuses, skips] = await Promise.all([
      this.runs(repo.id, sha),
      statusRows(this.deps.db, repo.id, sha),
      this.skips(repo.id, sha),
    ]);
    const ran = new Set(runs.map((c) => c.name));
    const checks: CheckView[] = [
      ...runs,
      ...statuses.map(
        (s): CheckView => ({
          name: s.context,
          source: "status",
          status: s.state === "pending" ? "running" : s.state,
          description: s.description,
          target_url: s.target_url,
          run_id: null,
          outputs: null,
          created_at: iso(s.created_at)!,
          updated_at: iso(s.updated_at)!,
        }),
      ),
      ...skips.filter((s) => !ran.has(s.name)),
    ];
    checks.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.source < b.source ? -1 : 1));
    return { sha, state: combinedState(checks.map((c) => c.status)), checks };
  }

  private async runs(repoId: number, sha: string): Promise<CheckView[]> {
    const r = await this.deps.db.query<{
      id: string;
      workflow_name: string;
      status: RunStatus;
      error: string | null;
      outputs: unknown;
      created_at: Date;
      updated_at: Date;
    }>(
      `SELECT DISTINCT ON (workflow_name) id, workflow_name, status, error, outputs, created_at,
              COALESCE(ended_at, started_at, created_at) AS updated_at
         FROM workflow_runs
        WHERE repo_id = $1 AND commit_sha = $2 AND trigger_event NOT IN ('chat', 'mention')
        ORDER BY workflow_name, created_at DESC, id DESC`,
      [repoId, sha],
    );
    return r.rows.map((run) => {
      const outputs = typeof run.outputs === "string" ? JSON.parse(run.outputs) : run.outputs;
      return {
        name: run.workflow_name,
        source: "workflow",
        status: run.status,
        description: run.error ?? describe(run.status),
        target_url: runPage(run.id),
        run_id: run.id,
        outputs: run.status === "success" ? ((outputs as Record<string, unknown> | null) ?? null) : null,
        created_at: iso(run.created_at)!,
        updated_at: iso(run.updated_at)!,
      };
    });
  }

  private async skips(repoId: number, sha: string): Promise<CheckView[]> {
    const r = await this.deps.db.query<{ workflow: string; reason: string; created_at: Date }>(
      "SELECT workflow, reason, created_at FROM check_skips WHERE repo_id = $1 AND sha = $2",
      [repoId, sha],
    );
    return r.rows.map((s) => ({
      name: s.workflow,
      source: "skipped",
      status: "skipped",
      description: `skipped: ${s.reason}`,
      target_url: null,
      run_id: null,
      outputs: null,
      created_at: iso(s.created_at)!,
      updated_at: iso(s.created_at)!,
    }));
  }
}

function describe(status: RunStatus): string {
  switch (status) {
    case "queued":
      return "waiting to run";
    case "running":
      return "running";
    case "success":
      return "succeeded";
    case "failure":
      return "failed";
    case "cancelled":
      return "cancelled";
    default:
      return "could not run";
  }
}

/** The worst of the statuses; success when there are none (skipped counts as success). */
export function combinedState(statuses: readonly CheckStatus[]): ChecksView["state"] {
  if (statuses.some((s) => s === "failure" || s === "cancelled" || s === "error")) return "failure";
  if (statuses.some((s) => s === "queued" || s === "running")) return "pending";
  return "success";
}
