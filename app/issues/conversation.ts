/**
 * The conversation of an issue or pull request: comments (oldest first), reactions and the
 * timeline. A new comment is recorded on the timeline (`commented`) in its transaction and then
 * announced (an `issue` `commented` event for real issues; `mention`s and cross-references of its
 * `#N`s either way). A comment's author may edit or delete it; anyone else needs admin.
 * Reactions toggle.
 */
import type { RepoPermissions } from "../auth/permissions";
import { hasScope } from "../auth/scopes";
import type { User } from "../auth/tokens";
import type { Db, Queryable } from "../db";
import { forbidden, notFound } from "../errors";
import type { Repository } from "../git/repos";
import type { CommentView, Page, Reaction, ReactionResult, TimelineEventView } from "../wire/pulls";
import {
  type CommentRow,
  commentViews,
  findComment,
  insertComment,
  listComments,
  reactionCounts,
  removeReaction,
  toggleReaction,
} from "./comments";
import { recordTimeline } from "./timeline";
import { listTimeline } from "./timeline-views";
import type { IssueRow } from "./views";

/** What the conversation needs of the issue service. */
export interface IssueLookup {
  row(repo: Repository, number: number, db?: Queryable): Promise<IssueRow>;
  announce(
    repo: Repository,
    row: IssueRow,
    sender: Pick<User, "username">,
    actions: Array<{ action: "commented"; comment: string }>,
  ): void;
  later(work: () => Promise<unknown>): void;
  /** Mentions and cross-references of a new body or comment, after commit. */
  wrote(repo: Repository, row: Pick<IssueRow, "is_pull" | "number">, user: User, text: string): void;
  /** Tells a pull request's page that its conversation changed (nothing for an issue). */
  touched(repo: Repository, row: Pick<IssueRow, "is_pull" | "number">): void;
}

export interface ConversationDeps {
  readonly db: Db;
  readonly permissions: Pick<RepoPermissions, "can">;
}

export type ReactionTarget = { number: number } | { commentId: number };

export class IssueConversation {
  constructor(
    private readonly deps: ConversationDeps,
    private readonly issues: IssueLookup,
  ) {}

  async comments(
    repo: Repository,
    number: number,
    page: number,
    perPage: number,
  ): Promise<Page<CommentView>> {
    const issue = await this.issues.row(repo, number);
    return listComments(this.deps.db, issue.id, page, perPage);
  }

  async comment(repo: Repository, id: number): Promise<CommentView> {
    return (await commentViews(this.deps.db, [await this.commentRow(repo, id)]))[0]!;
  }

  async addComment(repo: Repository, user: User, number: number, body: string): Promise<CommentView> {
    const { issue, id } = await this.deps.db.transaction(async (tx) => {
      const issue = await this.issues.row(repo, number, tx);
      const id = await insertComment(tx, issue.id, user.id, body);
      await recordTimeline(tx, issue.id, user.id, "commented", { comment_id: id });
      return { issue, id };
    });
    this.issues.announce(repo, issue, user, [{ action: "commented", comment: body }]);
    this.issues.wrote(repo, issue, user, body);
    return this.comment(repo, id);
  }

  async editComment(repo: Repository, user: User, id: number, body: string): Promise<CommentView> {
    const row = await this.mayChange(repo, user, id);
    await this.deps.db.query("UPDATE issue_comments SET body = $2, updated_at = now() WHERE id = $1", [
      row.id,
      body,
    ]);
    this.issues.touched(repo, row);
    return this.comment(repo, id);
  }

  async deleteComment(repo: Repository, user: User, id: number): Promise<void> {
    const row = await this.mayChange(repo, user, id);
    await this.deps.db.query("DELETE FROM issue_comments WHERE id = $1", [row.id]);
    this.issues.touched(repo, row);
  }

  /** Toggles the caller's reaction on an issue (or pull request) or one of its comments. */
  async react(
    repo: Repository,
    user: User,
    target: ReactionTarget,
    content: Reaction,
  ): Promise<ReactionResult> {
    const at = await this.reactionTarget(repo, target);
    const reacted = await this.deps.db.transaction((tx) => toggleReaction(tx, at, user.id, content));
    this.issues.touched(repo, at);
    return { content, reacted, reactions: await reactionCounts(this.deps.db, at) };
  }

  /** Takes the caller's reaction back (no error when there was none). */
  async unreact(
    repo: Repository,
    user: User,
    target: ReactionTarget,
    content: Reaction,
  ): Promise<ReactionResult> {
    const at = await this.reactionTarget(repo, target);
    if (await removeReaction(this.deps.db, at, user.id, content)) this.issues.touched(repo, at);
    return { content, reacted: false, reactions: await reactionCounts(this.deps.db, at) };
  }

  async timeline(
    repo: Repository,
    number: number,
    page: number,
    perPage: number,
  ): Promise<Page<TimelineEventView>> {
    const issue = await this.issues.row(repo, number);
    return listTimeline(this.deps.db, issue.id, page, perPage);
  }

  private async reactionTarget(
    repo: Repository,
    target: ReactionTarget,
  ): Promise<{ issueId: number; commentId: number | null; is_pull: boolean; number: number }> {
    if ("number" in target) {
      const issue = await this.issues.row(repo, target.number);
      return { issueId: issue.id, commentId: null, is_pull: issue.is_pull, number: issue.number };
    }
    const c = await this.commentRow(repo, target.commentId);
    return { issueId: c.issue_id, commentId: c.id, is_pull: c.is_pull, number: c.number };
  }

  private async commentRow(repo: Repository, id: number): Promise<CommentRow> {
    const row = await findComment(this.deps.db, repo.id, id);
    if (!row) throw notFound(`comment ${id} not found in ${repo.owner}/${repo.name}`);
    return row;
  }

  /**
   * The comment if `user` may edit or delete it: its author (with a token that may write), or
   * an admin of the repository. The route has checked read access.
   */
  private async mayChange(repo: Repository, user: User, id: number): Promise<CommentRow> {
    const row = await this.commentRow(repo, id);
    if (row.author_id === user.id && hasScope(user.scopes, "repo:write")) return row;
    if (await this.deps.permissions.can({ user }, repo, "admin")) return row;
    throw forbidden("only the comment's author or an admin of the repository may change it");
  }
}
