/**
 * Keeping open pull requests in step with pushes (every push event, `ctx.git.onPush`, whether it
 * came over git, from a merge or from the API):
 * - a push to a head branch moves head_sha (and base_sha, merge_base to the base's tip now),
 *   records `head_pushed` {before, after, forced}, moves head-side line comments to where their
 *   line went (outdated when it is gone), dismisses approvals when the base's branch rule says
 *   so, recomputes mergeability and emits `synchronize`;
 * - a push to a base branch moves base_sha and merge_base and recomputes mergeability right away
 *   (so a conflict shows on the next read without waiting for it);
 * - a push that brings a pull request's head into its base (a merge done with git, or merging a
 *   pull request that contains another's commits) marks it merged, as GitHub does;
 * - deleting a head branch closes nothing (as on GitHub) but marks the pull request
 *   (`head_deleted_at`, timeline `head_ref_deleted`); pushing it again clears the mark.
 * A failure here is logged: it never fails the push, which has already been answered.
 */
import { mergeBase } from "../git/diff";
import type { PushEvent } from "../git/push-events";
import type { Repository } from "../git/repos";
import { recordTimeline } from "../issues/timeline";
import { isZeroOid } from "../wire/names";
import type { PullDeps } from "./deps";
import type { PullGit } from "./refresh";
import type { ReviewComments } from "./review-comments";
import type { PullReviews } from "./reviews";
import { findPull, PULL_COLUMNS, PULL_FROM, type PullRow } from "./views";

export class PullSync {
  /** The work of pushes still being followed (tests and shutdown wait for it). */
  private pending = new Set<Promise<void>>();

  constructor(
    private readonly deps: PullDeps,
    private readonly pullGit: PullGit,
    private readonly reviews: PullReviews,
    private readonly comments: ReviewComments,
  ) {}

  /** The last push being followed per repository: its pushes are followed one after another. */
  private readonly chains = new Map<number, Promise<void>>();

  /** Follows every push from now on; returns the unsubscribe. */
  start(): () => void {
    return this.deps.git.onPush((event) => {
      // In order per repository: two quick pushes to one head must move it twice, in push order.
      const prev = this.chains.get(event.repo.id) ?? Promise.resolve();
      const work = prev.then(() =>
        this.onPush(event).catch((err) =>
          this.deps.log.error({ err, ref: event.ref }, "pull request sync failed"),
        ),
      );
      this.chains.set(event.repo.id, work);
      this.pending.add(work);
      void work.finally(() => {
        this.pending.delete(work);
        if (this.chains.get(event.repo.id) === work) this.chains.delete(event.repo.id);
      });
      return work;
    });
  }

  /** Resolves once the pushes seen so far have been followed. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  async onPush(event: PushEvent): Promise<void> {
    if (!event.ref.startsWith("refs/heads/")) return;
    const branch = event.ref.slice("refs/heads/".length);
    const repo = await this.repoOf(event);
    if (!repo) return;
    const open = await this.deps.db.query<PullRow>(
      `SELECT ${PULL_COLUMNS} FROM ${PULL_FROM}
        WHERE i.state = 'open' AND ((p.head_repo_id = $1 AND p.head_branch = $2) OR (p.repo_id = $1 AND p.base_branch = $2))
        ORDER BY i.number`,
      [repo.id, branch],
    );
    for (const row of open.rows) {
      if (row.head_branch === branch) await this.headPushed(repo, row, event);
      else await this.basePushed(repo, row, event);
    }
  }

  private async repoOf(event: PushEvent): Promise<Repository | undefined> {
    return this.deps.git.repos.find(event.repo.owner, event.repo.name);
  }

  private async headPushed(repo: Repository, row: PullRow, event: PushEvent): Promise<void> {
    const actor = event.pusher?.id ?? null;
    if (isZeroOid(event.after)) {
      await this.deps.db.transaction(async (tx) => {
        await tx.query("UPDATE pull_requests SET head_deleted_at = now() WHERE issue_id = $1", [row.id]);
        await recordTimeline(tx, row.id, actor, "head_ref_deleted", { ref: row.head_branch });
      });
      return this.pullGit.signal(repo, row.number);
    }
    if (event.after === row.head_sha && row.head_deleted_at === null) return;
    const gitDir = this.pullGit.gitDir(repo);
    const baseSha = (await this.pullGit.branchTip(repo, row.base_branch)) ?? row.base_sha;
    const [mb, kept] = await Promise.all([
      mergeBase(gitDir, baseSha, event.after),
      mergeBase(gitDir, row.head_sha, event.after).catch(() => null),
    ]);
    const forced = kept !== row.head_sha;
    const moves = await this.comments.relocations(repo, row.id, event.after);
    const rule = await this.deps.protection?.ruleFor(repo, row.base_branch);

    await this.deps.db.transaction(async (tx) => {
      const locked = await findPull(tx, repo.id, row.number, { lock: true });
      if (locked?.state !== "open" || locked.head_sha !== row.head_sha) return;
      await tx.query(
        `UPDATE pull_requests SET head_sha = $2, base_sha = $3, merge_base = $4, mergeable = 'unknown',
                conflict_files = '{}', head_deleted_at = NULL WHERE issue_id = $1`,
        [row.id, event.after, baseSha, mb ?? row.merge_base],
      );
      await recordTimeline(tx, row.id, actor, "head_pushed", {
        before: row.head_sha,
        after: event.after,
        forced,
      });
      await this.comments.applyRelocations(tx, row.id, event.after, moves);
      if (rule?.dismiss_stale_approvals) await this.reviews.dismissStale(tx, row.id, event.after, actor);
    });

    const fresh = await findPull(this.deps.db, repo.id, row.number);
    if (!fresh || fresh.head_sha !== event.after) return;
    await this.pullGit.keepHead(repo, row.number, fresh.head_sha);
    await this.pullGit.refreshMergeability(repo, fresh).catch(() => undefined);
    await this.pullGit.signal(repo, row.number);
    const paths = await this.pullGit.eventPaths(repo, fresh.merge_base ?? fresh.base_sha, fresh.head_sha);
    await this.deps.workflowEvents.pull(
      repo,
      "synchronize",
      this.pullGit.facts(fresh, event.pusher?.username, paths ? { paths } : {}),
    );
  }

  private async basePushed(repo: Repository, row: PullRow, event: PushEvent): Promise<void> {
    // A deleted base leaves the pull request where it was: nothing to merge into until it returns.
    if (isZeroOid(event.after)) return;
    const mb = await mergeBase(this.pullGit.gitDir(repo), event.after, row.head_sha);
    // The head's commits reached the base by a push (or by merging another pull request): merged.
    if (mb === row.head_sha) return this.mergedByPush(repo, row, event);
    if (event.after === row.base_sha) return;
    const r = await this.deps.db.query(
      `UPDATE pull_requests SET base_sha = $2, merge_base = $3, mergeable = 'unknown', conflict_files = '{}'
        WHERE issue_id = $1 AND base_sha = $4 AND head_sha = $5`,
      [row.id, event.after, mb ?? row.merge_base, row.base_sha, row.head_sha],
    );
    if (r.rowCount === 0) return;
    await this.pullGit
      .refreshMergeability(repo, { id: row.id, base_sha: event.after, head_sha: row.head_sha })
      .catch(() => undefined);
    await this.pullGit.signal(repo, row.number);
  }

  /** As on GitHub: a pull request whose head is now in its base is merged, by whoever pushed. */
  private async mergedByPush(repo: Repository, row: PullRow, event: PushEvent): Promise<void> {
    const actor = event.pusher?.id ?? null;
    const done = await this.deps.db.transaction(async (tx) => {
      const locked = await findPull(tx, repo.id, row.number, { lock: true });
      if (locked?.state !== "open" || locked.head_sha !== row.head_sha) return false;
      await tx.query(
        `UPDATE pull_requests SET merged_at = now(), merged_by_id = $2, merge_commit_sha = $3, base_sha = $4,
                mergeable = 'clean', conflict_files = '{}' WHERE issue_id = $1`,
        [row.id, actor, row.head_sha, event.after],
      );
      await tx.query(
        `UPDATE issues SET state = 'closed', state_reason = 'merged', closed_at = now(), closed_by_id = $2
          WHERE id = $1`,
        [row.id, actor],
      );
      await recordTimeline(tx, row.id, actor, "merged", {
        sha: row.head_sha,
        method: null,
        pushed: event.after,
      });
      return true;
    });
    if (!done) return;
    const merged = await findPull(this.deps.db, repo.id, row.number);
    if (merged) {
      const facts = this.pullGit.facts(merged, event.pusher?.username);
      await this.deps.workflowEvents.pull(repo, "merged", facts);
      await this.deps.workflowEvents.pull(repo, "closed", facts);
    }
    await this.pullGit.signal(repo, row.number);
  }
}
