/**
 * Line comments on a pull request's diff (`review_comments`): written on a path, line and side
 * of the diff from the merge base to the current head (a line the diff does not show is 422
 * `line_not_in_diff`, a path it does not touch 422 `path_not_in_diff`), or as a reply to one.
 * When the head moves, sync asks `relocations` where each head-side comment's line went:
 * followed when lines were inserted or removed above it, outdated (line null) once it is gone.
 */
import type { z } from "zod";
import type { User } from "../auth/tokens";
import type { Queryable } from "../db";
import { AppError, notFound, unprocessable } from "../errors";
import { diffLines } from "../git/diff";
import { relocateLine } from "../git/line-map";
import type { Repository } from "../git/repos";
import { recordTimeline } from "../issues/timeline";
import { NameError, validateTreePath } from "../wire/names";
import type { CreateReviewComment, LineComment, ReviewCommentView } from "../wire/pulls";
import type { PullDeps } from "./deps";
import type { PullGit } from "./refresh";
import { findPull, type PullRow } from "./views";

type NewComment = z.output<typeof LineComment>;

interface CommentRow {
  id: number;
  review_id: number | null;
  in_reply_to_id: number | null;
  author_id: number | null;
  author: string | null;
  body: string;
  path: string;
  side: "LEFT" | "RIGHT";
  line: number | null;
  commit_sha: string;
  original_line: number;
  original_commit_sha: string;
  outdated: boolean;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `c.id::int AS id, c.review_id::int AS review_id, c.in_reply_to_id::int AS in_reply_to_id,
  c.author_id::int AS author_id, (SELECT username FROM users WHERE id = c.author_id) AS author, c.body,
  c.path, c.side, c.line, c.commit_sha, c.original_line, c.original_commit_sha, c.outdated, c.created_at, c.updated_at`;

export function commentView(r: CommentRow): ReviewCommentView {
  return {
    id: r.id,
    review_id: r.review_id,
    in_reply_to_id: r.in_reply_to_id,
    user: r.author_id !== null && r.author !== null ? { id: r.author_id, username: r.author } : null,
    body: r.body,
    path: r.path,
    side: r.side,
    line: r.line,
    commit_id: r.commit_sha,
    original_line: r.original_line,
    original_commit_id: r.original_commit_sha,
    outdated: r.outdated,
    created_at: new Date(r.created_at).toISOString(),
    updated_at: new Date(r.updated_at).toISOString(),
  };
}

/** A comment's new place on a new head (line null: outdated). */
export interface Relocation {
  id: number;
  line: number | null;
}

export class ReviewComments {
  constructor(
    private readonly deps: PullDeps,
    private readonly pullGit: PullGit,
  ) {}

  /** 422 unless every comment sits on a line the pull request's diff shows, on its side. */
  async checkLines(repo: Repository, row: PullRow, comments: readonly NewComment[]): Promise<void> {
    const gitDir = this.pullGit.gitDir(repo);
    const from = row.merge_base ?? row.base_sha;
    const seen = new Map<string, Awaited<ReturnType<typeof diffLines>>>();
    for (const c of comments) {
      const path = treePath(c.path);
      let lines = seen.get(path);
      if (!lines) {
        lines = await diffLines(gitDir, from, row.head_sha, path);
        seen.set(path, lines);
      }
      if (lines.left.size === 0 && lines.right.size === 0)
        throw new AppError(422, "path_not_in_diff", `${path} is not changed by this pull request`, { path });
      const side = c.side === "LEFT" ? lines.left : lines.right;
      if (!side.has(c.line))
        throw new AppError(
          422,
          "line_not_in_diff",
          `line ${c.line} (${c.side}) of ${path} is not in the diff`,
          {
            path,
            line: c.line,
            side: c.side,
          },
        );
    }
  }

  /** Inserts line comments at the row's head (inside the caller's transaction); answers their ids. */
  async insert(
    tx: Queryable,
    row: PullRow,
    user: User,
    reviewId: number | null,
    comments: readonly NewComment[],
  ): Promise<number[]> {
    const ids: number[] = [];
    for (const c of comments) {
      const r = await tx.query<{ id: number }>(
        `INSERT INTO review_comments (pull_id, review_id, author_id, body, path, side, line, commit_sha, original_line, original_commit_sha)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, $8) RETURNING id::int AS id`,
        [row.id, reviewId, user.id, c.body, treePath(c.path), c.side, c.line, row.head_sha],
      );
      ids.push(r.rows[0]!.id);
    }
    return ids;
  }

  async create(
    repo: Repository,
    user: User,
    number: number,
    input: z.output<typeof CreateReviewComment>,
  ): Promise<ReviewCommentView> {
    const row = await findPull(this.deps.db, repo.id, number);
    if (!row) throw notFound(`no pull request #${number} in ${repo.owner}/${repo.name}`);
    let id: number;
    if ("in_reply_to" in input) {
      id = await this.reply(row, user, input.in_reply_to, input.body);
    } else {
      if (input.commit_id !== undefined && input.commit_id !== row.head_sha)
        throw headMoved(row, input.commit_id);
      await this.checkLines(repo, row, [input]);
      id = await this.deps.db.transaction(async (tx) => {
        const [created] = await this.insert(tx, row, user, null, [input]);
        await recordTimeline(tx, row.id, user.id, "commented", {
          review_comment_id: created,
          path: treePath(input.path),
          line: input.line,
        });
        return created!;
      });
    }
    await this.deps.workflowEvents.mentions(repo, input.body, { number, sender: user.username });
    await this.pullGit.signal(repo, number);
    return (await this.byId(row.id, id))!;
  }

  /** A reply sits where the thread's first comment sits (GitHub threads are one level deep). */
  private async reply(row: PullRow, user: User, to: number, body: string): Promise<number> {
    const parent = await this.byIdRow(row.id, to);
    if (!parent) throw unprocessable(`no line comment ${to} on this pull request`, "unknown_comment");
    const root = parent.in_reply_to_id ?? parent.id;
    const r = await this.deps.db.query<{ id: number }>(
      `INSERT INTO review_comments (pull_id, review_id, in_reply_to_id, author_id, body, path, side, line,
                                    commit_sha, original_line, original_commit_sha, outdated)
       SELECT pull_id, NULL, $3, $4, $5, path, side, line, commit_sha, original_line, original_commit_sha, outdated
         FROM review_comments WHERE pull_id = $1 AND id = $2 RETURNING id::int AS id`,
      [row.id, parent.id, root, user.id, body],
    );
    return r.rows[0]!.id;
  }

  async list(repo: Repository, number: number): Promise<ReviewCommentView[]> {
    const row = await findPull(this.deps.db, repo.id, number);
    if (!row) throw notFound(`no pull request #${number} in ${repo.owner}/${repo.name}`);
    const r = await this.deps.db.query<CommentRow>(
      `SELECT ${COLUMNS} FROM review_comments c WHERE c.pull_id = $1 ORDER BY c.id LIMIT 3000`,
      [row.id],
    );
    return r.rows.map(commentView);
  }

  /** Comments of one review (its answer lists them). */
  async ofReview(pullId: number, reviewId: number): Promise<ReviewCommentView[]> {
    const r = await this.deps.db.query<CommentRow>(
      `SELECT ${COLUMNS} FROM review_comments c WHERE c.pull_id = $1 AND c.review_id = $2 ORDER BY c.id`,
      [pullId, reviewId],
    );
    return r.rows.map(commentView);
  }

  /** Where each head-side comment still on a line goes on `newHead` (git, outside transactions). */
  async relocations(repo: Repository, pullId: number, newHead: string): Promise<Relocation[]> {
    const r = await this.deps.db.query<{ id: number; path: string; line: number; commit_sha: string }>(
      `SELECT id::int AS id, path, line, commit_sha FROM review_comments
        WHERE pull_id = $1 AND side = 'RIGHT' AND NOT outdated AND line IS NOT NULL AND commit_sha <> $2`,
      [pullId, newHead],
    );
    const gitDir = this.pullGit.gitDir(repo);
    const out: Relocation[] = [];
    for (const c of r.rows) {
      const line = await relocateLine(gitDir, c.commit_sha, newHead, c.path, c.line).catch((err) => {
        this.deps.log.warn({ err, comment: c.id }, "relocating a line comment");
        return null;
      });
      out.push({ id: c.id, line });
    }
    return out;
  }

  /** Applies relocations at `newHead` inside the sync's transaction. */
  async applyRelocations(tx: Queryable, pullId: number, newHead: string, moves: readonly Relocation[]) {
    for (const m of moves) {
      await tx.query(
        `UPDATE review_comments SET line = $3, commit_sha = $4, outdated = $5, updated_at = updated_at
          WHERE pull_id = $1 AND id = $2`,
        [pullId, m.id, m.line, newHead, m.line === null],
      );
    }
  }

  private async byIdRow(pullId: number, id: number): Promise<CommentRow | undefined> {
    if (!Number.isSafeInteger(id) || id > 2 ** 53) return undefined;
    const r = await this.deps.db.query<CommentRow>(
      `SELECT ${COLUMNS} FROM review_comments c WHERE c.pull_id = $1 AND c.id = $2`,
      [pullId, id],
    );
    return r.rows[0];
  }

  private async byId(pullId: number, id: number): Promise<ReviewCommentView | undefined> {
    const row = await this.byIdRow(pullId, id);
    return row && commentView(row);
  }
}

/** 409: the caller saw another head than the current one (the diff moved under them). */
export function headMoved(row: PullRow, given: string): AppError {
  return new AppError(409, "head_moved", `the head of #${row.number} is ${row.head_sha}, not ${given}`, {
    head_sha: row.head_sha,
  });
}

function treePath(path: string): string {
  try {
    const p = validateTreePath(path);
    if (p === "") throw new NameError("path is empty");
    return p;
  } catch (err) {
    if (err instanceof NameError) throw unprocessable(`path: ${err.message}`, "invalid_path");
    throw err;
  }
}
