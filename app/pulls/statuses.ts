/**
 * Commit statuses (GitHub's REST shape): what outside systems report about a commit, one row per
 * (commit, context), the latest report winning. A status is a check of the commit (checks.ts) and
 * may be a branch rule's required check. Posting one signals the commit's checks topic, so open
 * pull request pages update.
 */

import type { z } from "zod";
import type { User } from "../auth/tokens";
import type { Db, Queryable } from "../db";
import { unprocessable } from "../errors";
import type { EventHub } from "../events/hub";
import { checksTopic } from "../events/topics";
import type { Repository } from "../git/repos";
import type { GitService } from "../git/service";
import type { CommitState, CommitStatusView, CreateStatus } from "../wire/pulls";

/** Contexts one commit may carry (GitHub allows 1000 statuses per commit and context). */
const MAX_CONTEXTS = 1000;

export type StatusInput = z.output<typeof CreateStatus>;

export interface CommitStatusesDeps {
  readonly db: Db;
  readonly git: Pick<GitService, "resolveRef">;
  readonly hub: Pick<EventHub, "signal">;
}

export interface StatusRow {
  id: number;
  context: string;
  state: CommitState;
  target_url: string | null;
  description: string;
  creator_id: number | null;
  creator: string | null;
  created_at: Date;
  updated_at: Date;
}

const FULL_SHA = /^([0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * `sha` as a commit of the repository: a full commit id that exists there (422 otherwise: a
 * branch name or an abbreviated id would make a status's meaning move with the branch).
 */
export async function existingCommit(git: Pick<GitService, "resolveRef">, repo: Repository, sha: string) {
  if (!FULL_SHA.test(sha)) {
    throw unprocessable(
      `${JSON.stringify(sha.slice(0, 80))} is not a full commit id (40 hex digits)`,
      "invalid_sha",
    );
  }
  const found = await git.resolveRef(repo, sha).catch(() => undefined);
  if (found !== sha) throw unprocessable(`no commit ${sha} in ${repo.owner}/${repo.name}`, "unknown_commit");
  return sha;
}

export const statusView = (r: StatusRow): CommitStatusView => ({
  id: r.id,
  context: r.context,
  state: r.state,
  target_url: r.target_url,
  description: r.description,
  creator: r.creator_id !== null && r.creator !== null ? { id: r.creator_id, username: r.creator } : null,
  created_at: new Date(r.created_at).toISOString(),
  updated_at: new Date(r.updated_at).toISOString(),
});

const COLUMNS = `s.id::int AS id, s.context, s.state, s.target_url, s.description, s.creator_id::int AS creator_id,
  (SELECT username FROM users WHERE id = s.creator_id) AS creator, s.created_at, s.updated_at`;

/** The statuses of a commit, by context. */
export async function statusRows(db: Queryable, repoId: number, sha: string): Promise<StatusRow[]> {
  const r = await db.query<StatusRow>(
    `SELECT ${COLUMNS} FROM commit_statuses s WHERE s.repo_id = $1 AND s.sha = $2 ORDER BY s.context`,
    [repoId, sha],
  );
  return r.rows;
}

export class CommitStatuses {
  constructor(private readonly deps: CommitStatusesDeps) {}

  /** Sets the status of `context` at `sha` (a new one, or the same context's again). */
  async create(repo: Repository, user: User, sha: string, input: StatusInput): Promise<CommitStatusView> {
    await existingCommit(this.deps.git, repo, sha);
    const row = await this.deps.db.transaction(async (tx) => {
      // Serialises posts to one commit, so the context limit holds under concurrency.
      await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`plue-statuses:${repo.id}:${sha}`]);
      const count = await tx.query<{ n: number; has: boolean }>(
        `SELECT count(*)::int AS n, bool_or(context = $3) AS has FROM commit_statuses
          WHERE repo_id = $1 AND sha = $2`,
        [repo.id, sha, input.context],
      );
      const c = count.rows[0];
      if (c && !c.has && c.n >= MAX_CONTEXTS) {
        throw unprocessable(`commit ${sha} already has ${MAX_CONTEXTS} status contexts`, "too_many_statuses");
      }
      const r = await tx.query<{ id: number }>(
        `INSERT INTO commit_statuses (repo_id, sha, context, state, target_url, description, creator_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (repo_id, sha, context) DO UPDATE
            SET state = EXCLUDED.state, target_url = EXCLUDED.target_url, description = EXCLUDED.description,
                creator_id = EXCLUDED.creator_id, updated_at = now()
         RETURNING id::int AS id`,
        [repo.id, sha, input.context, input.state, input.target_url ?? null, input.description, user.id],
      );
      const id = r.rows[0]!.id;
      return (await tx.query<StatusRow>(`SELECT ${COLUMNS} FROM commit_statuses s WHERE s.id = $1`, [id]))
        .rows[0]!;
    });
    await this.deps.hub.signal(checksTopic(repo.id, sha));
    return statusView(row);
  }

  async list(repo: Repository, sha: string): Promise<CommitStatusView[]> {
    await existingCommit(this.deps.git, repo, sha);
    return (await statusRows(this.deps.db, repo.id, sha)).map(statusView);
  }
}
