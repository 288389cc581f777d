/**
 * Reviews (`pull_reviews`): APPROVE, REQUEST_CHANGES or COMMENT on the current head, with line
 * comments. As on GitHub, the author may comment on their own pull request but not approve it or
 * request changes (422 `own_pull`), and a review names the head it was given on: a `commit_id`
 * that is not the current head is 409 `head_moved`. An approval of an older head is `stale`;
 * sync dismisses approvals when the base's branch rule asks (`dismissStale`).
 */
import type { z } from "zod";
import type { User } from "../auth/tokens";
import type { Queryable } from "../db";
import { notFound, unprocessable } from "../errors";
import type { Repository } from "../git/repos";
import { recordTimeline } from "../issues/timeline";
import type { CreateReview, ReviewState, ReviewView } from "../wire/pulls";
import type { PullDeps } from "./deps";
import type { PullGit } from "./refresh";
import { headMoved, type ReviewComments } from "./review-comments";
import { findPull } from "./views";

const STATE: Record<z.output<typeof CreateReview>["event"], ReviewState> = {
  APPROVE: "approved",
  REQUEST_CHANGES: "changes_requested",
  COMMENT: "commented",
};

interface ReviewRow {
  id: number;
  author_id: number | null;
  author: string | null;
  state: ReviewState;
  body: string;
  commit_sha: string;
  dismissed_at: Date | null;
  created_at: Date;
}

const COLUMNS = `r.id::int AS id, r.author_id::int AS author_id,
  (SELECT username FROM users WHERE id = r.author_id) AS author, r.state, r.body, r.commit_sha,
  r.dismissed_at, r.created_at`;

function reviewView(r: ReviewRow, head: string): ReviewView {
  return {
    id: r.id,
    user: r.author_id !== null && r.author !== null ? { id: r.author_id, username: r.author } : null,
    state: r.state,
    body: r.body,
    commit_sha: r.commit_sha,
    dismissed: r.dismissed_at !== null,
    stale: r.state === "approved" && r.commit_sha !== head,
    created_at: new Date(r.created_at).toISOString(),
  };
}

export class PullReviews {
  constructor(
    private readonly deps: PullDeps,
    private readonly pullGit: PullGit,
    private readonly comments: ReviewComments,
  ) {}

  async create(
    repo: Repository,
    user: User,
    number: number,
    input: z.output<typeof CreateReview>,
  ): Promise<ReviewView & { comments: unknown[] }> {
    const row = await findPull(this.deps.db, repo.id, number);
    if (!row) throw notFound(`no pull request #${number} in ${repo.owner}/${repo.name}`);
    if (row.state !== "open")
      throw unprocessable(`pull request #${number} is ${row.merged_at ? "merged" : "closed"}`, "pull_closed");
    if (input.commit_id !== undefined && input.commit_id !== row.head_sha)
      throw headMoved(row, input.commit_id);
    if (input.event !== "COMMENT" && row.author_id === user.id)
      throw unprocessable(
        `you cannot ${input.event === "APPROVE" ? "approve" : "request changes on"} your own pull request`,
        "own_pull",
      );
    if (input.event !== "APPROVE" && input.body.trim() === "" && input.comments.length === 0)
      throw unprocessable(`a ${input.event} review needs a body or line comments`, "empty_review");
    await this.comments.checkLines(repo, row, input.comments);
    const state = STATE[input.event];

    const id = await this.deps.db.transaction(async (tx) => {
      const r = await tx.query<{ id: number }>(
        `INSERT INTO pull_reviews (pull_id, author_id, state, body, commit_sha)
         VALUES ($1, $2, $3, $4, $5) RETURNING id::int AS id`,
        [row.id, user.id, state, input.body, row.head_sha],
      );
      const reviewId = r.rows[0]!.id;
      await this.comments.insert(tx, row, user, reviewId, input.comments);
      await recordTimeline(tx, row.id, user.id, "reviewed", { review_id: reviewId, state });
      return reviewId;
    });

    await this.deps.workflowEvents.pull(
      repo,
      "review_submitted",
      this.pullGit.facts(row, user.username, { review: state }),
    );
    if (input.body)
      await this.deps.workflowEvents.mentions(repo, input.body, { number, sender: user.username });
    await this.pullGit.signal(repo, number);
    const review = (await this.one(row.id, id))!;
    return { ...reviewView(review, row.head_sha), comments: await this.comments.ofReview(row.id, id) };
  }

  async list(repo: Repository, number: number): Promise<ReviewView[]> {
    const row = await findPull(this.deps.db, repo.id, number);
    if (!row) throw notFound(`no pull request #${number} in ${repo.owner}/${repo.name}`);
    const r = await this.deps.db.query<ReviewRow>(
      `SELECT ${COLUMNS} FROM pull_reviews r WHERE r.pull_id = $1 ORDER BY r.id LIMIT 1000`,
      [row.id],
    );
    return r.rows.map((x) => reviewView(x, row.head_sha));
  }

  /**
   * Dismisses the approvals given on another head than `head` (a push under a rule with
   * `dismiss_stale_approvals`), inside the sync's transaction; a timeline entry for each.
   */
  async dismissStale(tx: Queryable, pullId: number, head: string, actorId: number | null): Promise<number[]> {
    const r = await tx.query<{ id: number; author_id: number | null }>(
      `UPDATE pull_reviews SET dismissed_at = now()
        WHERE pull_id = $1 AND state = 'approved' AND dismissed_at IS NULL AND commit_sha <> $2
        RETURNING id::int AS id, author_id::int AS author_id`,
      [pullId, head],
    );
    for (const d of r.rows) {
      await recordTimeline(tx, pullId, actorId, "review_dismissed", {
        review_id: d.id,
        reason: "a new push made the approval stale",
      });
    }
    return r.rows.map((d) => d.id);
  }

  private async one(pullId: number, id: number): Promise<ReviewRow | undefined> {
    const r = await this.deps.db.query<ReviewRow>(
      `SELECT ${COLUMNS} FROM pull_reviews r WHERE r.pull_id = $1 AND r.id = $2`,
      [pullId, id],
    );
    return r.rows[0];
  }
}
