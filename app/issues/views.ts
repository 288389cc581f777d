/**
 * Reading issues (and the issue half of pull requests) into the contract's views: the row, and
 * what hangs off it (labels, assignees, comment and reaction counts), loaded for many issues in
 * one query each so a page of 100 issues costs five queries, not five hundred.
 */
import type { Queryable } from "../db";
import type { IssueState, IssueView, LabelView, ReactionCounts, StateReason, UserRef } from "../wire/pulls";

export interface IssueRow {
  id: number;
  repo_id: number;
  number: number;
  is_pull: boolean;
  title: string;
  body: string;
  author_id: number | null;
  author: string | null;
  state: IssueState;
  state_reason: StateReason | null;
  closed_at: Date | null;
  closed_by_id: number | null;
  closed_by: string | null;
  created_at: Date;
  updated_at: Date;
}

/** The columns of an IssueRow, for queries `FROM issues i`. */
export const ISSUE_COLUMNS = `i.id::int AS id, i.repo_id::int AS repo_id, i.number, i.is_pull, i.title, i.body,
  i.author_id::int AS author_id, (SELECT username FROM users WHERE id = i.author_id) AS author,
  i.state, i.state_reason, i.closed_at, i.closed_by_id::int AS closed_by_id,
  (SELECT username FROM users WHERE id = i.closed_by_id) AS closed_by, i.created_at, i.updated_at`;

/** Issue or pull request `number` of a repository (either kind). */
export async function findIssue(
  db: Queryable,
  repoId: number,
  number: number,
): Promise<IssueRow | undefined> {
  if (!Number.isSafeInteger(number) || number < 1 || number > 2 ** 31 - 1) return undefined;
  const r = await db.query<IssueRow>(
    `SELECT ${ISSUE_COLUMNS} FROM issues i WHERE i.repo_id = $1 AND i.number = $2`,
    [repoId, number],
  );
  return r.rows[0];
}

export interface IssueExtras {
  labels: LabelView[];
  assignees: UserRef[];
  comments: number;
  reactions: ReactionCounts;
}

/** Labels, assignees, comment count and reactions of each issue, by issue id. */
export async function issueExtras(
  db: Queryable,
  issueIds: readonly number[],
): Promise<Map<number, IssueExtras>> {
  const out = new Map<number, IssueExtras>();
  for (const id of issueIds) out.set(id, { labels: [], assignees: [], comments: 0, reactions: {} });
  if (issueIds.length === 0) return out;
  const ids = [...issueIds];
  const [labels, assignees, comments, reactions] = await Promise.all([
    db.query<LabelView & { issue_id: number }>(
      `SELECT il.issue_id::int AS issue_id, l.id::int AS id, l.name, l.color, l.description
         FROM issue_labels il JOIN labels l ON l.id = il.label_id
        WHERE il.issue_id = ANY($1::bigint[]) ORDER BY lower(l.name)`,
      [ids],
    ),
    db.query<UserRef & { issue_id: number }>(
      `SELECT a.issue_id::int AS issue_id, u.id::int AS id, u.username
         FROM issue_assignees a JOIN users u ON u.id = a.user_id
        WHERE a.issue_id = ANY($1::bigint[]) ORDER BY lower(u.username)`,
      [ids],
    ),
    db.query<{ issue_id: number; n: number }>(
      `SELECT issue_id::int AS issue_id, count(*)::int AS n FROM issue_comments
        WHERE issue_id = ANY($1::bigint[]) GROUP BY issue_id`,
      [ids],
    ),
    db.query<{ issue_id: number; content: keyof ReactionCounts; n: number }>(
      `SELECT issue_id::int AS issue_id, content, count(*)::int AS n FROM reactions
        WHERE issue_id = ANY($1::bigint[]) AND comment_id IS NULL GROUP BY issue_id, content`,
      [ids],
    ),
  ]);
  for (const { issue_id, ...label } of labels.rows) out.get(issue_id)?.labels.push(label);
  for (const { issue_id, ...user } of assignees.rows) out.get(issue_id)?.assignees.push(user);
  for (const c of comments.rows) out.get(c.issue_id)!.comments = c.n;
  for (const r of reactions.rows) out.get(r.issue_id)!.reactions[r.content] = r.n;
  return out;
}

const ref = (id: number | null, username: string | null): UserRef | null =>
  id !== null && username !== null ? { id, username } : null;

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

/** The view of one issue row with its extras (the `pull_request` stub is the pull requests' to add). */
export function issueView(row: IssueRow, extras: IssueExtras | undefined): IssueView {
  return {
    number: row.number,
    title: row.title,
    body: row.body,
    state: row.state,
    state_reason: row.state_reason,
    user: ref(row.author_id, row.author),
    labels: extras?.labels ?? [],
    assignees: extras?.assignees ?? [],
    comments: extras?.comments ?? 0,
    reactions: extras?.reactions ?? {},
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
    closed_at: iso(row.closed_at),
    closed_by: ref(row.closed_by_id, row.closed_by),
  };
}

/** Views of many rows, extras loaded together. */
export async function issueViews(db: Queryable, rows: readonly IssueRow[]): Promise<IssueView[]> {
  const extras = await issueExtras(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((r) => issueView(r, extras.get(r.id)));
}
