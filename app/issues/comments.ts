/**
 * Conversation comments of an issue or pull request and reactions (on an issue or on one of its
 * comments), as rows and views. Who may write them and what else a change records (timeline,
 * workflow events) is the issue service's.
 */
import type { Queryable } from "../db";
import type { CommentView, Page, Reaction, ReactionCounts, UserRef } from "../wire/pulls";

export interface CommentRow {
  id: number;
  issue_id: number;
  /** The issue's number (comments are addressed by id, their issue by number). */
  number: number;
  is_pull: boolean;
  author_id: number | null;
  author: string | null;
  body: string;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `c.id::int AS id, c.issue_id::int AS issue_id, i.number, i.is_pull,
  c.author_id::int AS author_id, (SELECT username FROM users WHERE id = c.author_id) AS author,
  c.body, c.created_at, c.updated_at`;

/** Comment `id` if it belongs to an issue of the repository (ids are global; repositories are not). */
export async function findComment(
  db: Queryable,
  repoId: number,
  id: number,
): Promise<CommentRow | undefined> {
  if (!Number.isSafeInteger(id) || id < 1) return undefined;
  const r = await db.query<CommentRow>(
    `SELECT ${COLUMNS} FROM issue_comments c JOIN issues i ON i.id = c.issue_id
      WHERE c.id = $1 AND i.repo_id = $2`,
    [id, repoId],
  );
  return r.rows[0];
}

export async function insertComment(
  tx: Queryable,
  issueId: number,
  authorId: number,
  body: string,
): Promise<number> {
  const r = await tx.query<{ id: number }>(
    "INSERT INTO issue_comments (issue_id, author_id, body) VALUES ($1, $2, $3) RETURNING id::int AS id",
    [issueId, authorId, body],
  );
  return r.rows[0]!.id;
}

/** A page of an issue's comments, oldest first. */
export async function listComments(
  db: Queryable,
  issueId: number,
  page: number,
  perPage: number,
): Promise<Page<CommentView>> {
  const [rows, total] = await Promise.all([
    db.query<CommentRow>(
      `SELECT ${COLUMNS} FROM issue_comments c JOIN issues i ON i.id = c.issue_id
        WHERE c.issue_id = $1 ORDER BY c.id LIMIT $2 OFFSET $3`,
      [issueId, perPage, (page - 1) * perPage],
    ),
    db.query<{ n: number }>("SELECT count(*)::int AS n FROM issue_comments WHERE issue_id = $1", [issueId]),
  ]);
  const n = total.rows[0]?.n ?? 0;
  return {
    items: await commentViews(db, rows.rows),
    total: n,
    page,
    per_page: perPage,
    next_page: page * perPage < n ? page + 1 : null,
  };
}

export async function commentViews(db: Queryable, rows: readonly CommentRow[]): Promise<CommentView[]> {
  const counts = new Map<number, ReactionCounts>();
  if (rows.length > 0) {
    const r = await db.query<{ comment_id: number; content: Reaction; n: number }>(
      `SELECT comment_id::int AS comment_id, content, count(*)::int AS n FROM reactions
        WHERE comment_id = ANY($1::bigint[]) GROUP BY comment_id, content`,
      [rows.map((c) => c.id)],
    );
    for (const x of r.rows) {
      const c = counts.get(x.comment_id) ?? {};
      c[x.content] = x.n;
      counts.set(x.comment_id, c);
    }
  }
  return rows.map((c) => ({
    id: c.id,
    user: userRef(c.author_id, c.author),
    body: c.body,
    reactions: counts.get(c.id) ?? {},
    created_at: new Date(c.created_at).toISOString(),
    updated_at: new Date(c.updated_at).toISOString(),
  }));
}

const userRef = (id: number | null, username: string | null): UserRef | null =>
  id !== null && username !== null ? { id, username } : null;

/**
 * Adds the user's reaction, or takes it back when they had given it already (a toggle, as the
 * web UI's reaction buttons work). Returns whether the user now has it.
 */
export async function toggleReaction(
  tx: Queryable,
  target: { issueId: number; commentId: number | null },
  userId: number,
  content: Reaction,
): Promise<boolean> {
  const removed = await removeReaction(tx, target, userId, content);
  if (removed) return false;
  await tx.query(
    `INSERT INTO reactions (issue_id, comment_id, user_id, content) VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING`,
    [target.issueId, target.commentId, userId, content],
  );
  return true;
}

/** Takes the user's reaction back; false when there was none. */
export async function removeReaction(
  tx: Queryable,
  target: { issueId: number; commentId: number | null },
  userId: number,
  content: Reaction,
): Promise<boolean> {
  const r = await tx.query(
    `DELETE FROM reactions WHERE issue_id = $1 AND COALESCE(comment_id, 0) = COALESCE($2::bigint, 0)
        AND user_id = $3 AND content = $4`,
    [target.issueId, target.commentId, userId, content],
  );
  return r.rowCount > 0;
}

/** The reaction counts of an issue (commentId null) or one comment. */
export async function reactionCounts(
  db: Queryable,
  target: { issueId: number; commentId: number | null },
): Promise<ReactionCounts> {
  const r = await db.query<{ content: Reaction; n: number }>(
    `SELECT content, count(*)::int AS n FROM reactions
      WHERE issue_id = $1 AND COALESCE(comment_id, 0) = COALESCE($2::bigint, 0) GROUP BY content`,
    [target.issueId, target.commentId],
  );
  const out: ReactionCounts = {};
  for (const x of r.rows) out[x.content] = x.n;
  return out;
}
