/**
 * Reading pull requests into the contract's views: the issue half (app/issues/views.ts) joined
 * with the `pull_requests` row, plus the counts GitHub shows on a pull request (commits,
 * additions, deletions, changed files) which come from git and are cached in memory by
 * (merge base, head): both are commit ids, so an entry never goes stale.
 */
import type { Queryable } from "../db";
import type { Repository } from "../git/repos";
import { ISSUE_COLUMNS, type IssueRow, issueExtras } from "../issues/views";
import type { MergeableState, MergeMethod, PullView, UserRef } from "../wire/pulls";

export interface PullRow extends IssueRow {
  head_branch: string;
  base_branch: string;
  head_sha: string;
  base_sha: string;
  merge_base: string | null;
  draft: boolean;
  mergeable: "unknown" | "clean" | "conflict";
  conflict_files: string[];
  merged_at: Date | null;
  merged_by_id: number | null;
  merged_by: string | null;
  merge_commit_sha: string | null;
  merge_method: MergeMethod | null;
  head_deleted_at: Date | null;
}

/** The columns of a PullRow, for queries `FROM issues i JOIN pull_requests p ON p.issue_id = i.id`. */
export const PULL_COLUMNS = `${ISSUE_COLUMNS}, p.head_branch, p.base_branch, p.head_sha, p.base_sha,
  p.merge_base, p.draft, p.mergeable, p.conflict_files, p.merged_at, p.merged_by_id::int AS merged_by_id,
  (SELECT username FROM users WHERE id = p.merged_by_id) AS merged_by, p.merge_commit_sha, p.merge_method,
  p.head_deleted_at`;

export const PULL_FROM = "issues i JOIN pull_requests p ON p.issue_id = i.id";

/** Pull request `number` of a repository (undefined for an issue or nothing). */
export async function findPull(
  db: Queryable,
  repoId: number,
  number: number,
  { lock = false } = {},
): Promise<PullRow | undefined> {
  if (!Number.isSafeInteger(number) || number < 1 || number > 2 ** 31 - 1) return undefined;
  const r = await db.query<PullRow>(
    `SELECT ${PULL_COLUMNS} FROM ${PULL_FROM} WHERE i.repo_id = $1 AND i.number = $2${lock ? " FOR UPDATE OF p" : ""}`,
    [repoId, number],
  );
  return r.rows[0];
}

/** What git says about a pull request's change (see PullStats in service.ts). */
export interface PullCounts {
  commits: number;
  additions: number;
  deletions: number;
  changed_files: number;
}

const ref = (id: number | null, username: string | null): UserRef | null =>
  id !== null && username !== null ? { id, username } : null;
const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

/** GitHub's mergeable_state from the stored mergeability, the draft flag and the blockers. */
function mergeableState(row: PullRow, blockers: string[] | undefined): MergeableState {
  if (row.draft) return "draft";
  if (row.mergeable === "unknown") return "unknown";
  if (row.mergeable === "conflict") return "conflict";
  return blockers && blockers.length > 0 ? "blocked" : "clean";
}

export interface PullViewExtras {
  repo: Pick<Repository, "owner" | "name">;
  counts: PullCounts;
  reviewComments: number;
  labels: PullView["labels"];
  assignees: PullView["assignees"];
  comments: number;
  reactions: PullView["reactions"];
  blockers?: string[];
  bodyHtml?: string;
}

export function pullView(row: PullRow, x: PullViewExtras): PullView {
  const repo = `${x.repo.owner}/${x.repo.name}`;
  const merged = row.merged_at !== null;
  const view: PullView = {
    number: row.number,
    title: row.title,
    body: row.body,
    state: row.state,
    merged,
    draft: row.draft,
    user: ref(row.author_id, row.author),
    labels: x.labels,
    assignees: x.assignees,
    head: { ref: row.head_branch, sha: row.head_sha, repo },
    base: { ref: row.base_branch, sha: row.base_sha, repo },
    merge_base: row.merge_base,
    mergeable: row.mergeable === "unknown" || merged ? null : row.mergeable === "clean",
    mergeable_state: mergeableState(row, x.blockers),
    conflicts: row.mergeable === "conflict" ? row.conflict_files : [],
    comments: x.comments,
    review_comments: x.reviewComments,
    reactions: x.reactions,
    ...x.counts,
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
    closed_at: iso(row.closed_at),
    merged_at: iso(row.merged_at),
    merged_by: ref(row.merged_by_id, row.merged_by),
    merge_commit_sha: row.merge_commit_sha,
  };
  if (x.bodyHtml !== undefined) view.body_html = x.bodyHtml;
  if (x.blockers !== undefined) view.blockers = x.blockers;
  return view;
}

/** Labels, assignees, comment and review comment counts of many pull requests at once. */
export async function pullExtras(
  db: Queryable,
  ids: readonly number[],
): Promise<Map<number, Omit<PullViewExtras, "repo" | "counts">>> {
  const [issues, rc] = await Promise.all([
    issueExtras(db, ids),
    db.query<{ pull_id: number; n: number }>(
      `SELECT pull_id::int AS pull_id, count(*)::int AS n FROM review_comments
        WHERE pull_id = ANY($1::bigint[]) GROUP BY pull_id`,
      [[...ids]],
    ),
  ]);
  const counts = new Map(rc.rows.map((r) => [r.pull_id, r.n]));
  const out = new Map<number, Omit<PullViewExtras, "repo" | "counts">>();
  for (const id of ids) {
    const e = issues.get(id);
    out.set(id, {
      labels: e?.labels ?? [],
      assignees: e?.assignees ?? [],
      comments: e?.comments ?? 0,
      reactions: e?.reactions ?? {},
      reviewComments: counts.get(id) ?? 0,
    });
  }
  return out;
}
