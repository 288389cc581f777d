/**
 * Merging a pull request (`PUT …/pulls/:n/merge`): the checks, then one server-side merge in the
 * bare repository (app/git/merge.ts: merge-tree, commit-tree, and one ref update guarded by the
 * base's old value), then what a push does, exactly once: `recordPush` (the base's push
 * workflows, `Fixes #N` in the commits), and the pull request marked merged.
 *
 * Two merges of one pull request are serialised on its row (FOR UPDATE, held across the git
 * update): the second sees it merged and is refused. A push to the base that lands between the
 * checks and the update makes the guarded update fail: 409 `base_moved`, nothing written.
 */
import type { z } from "zod";
import type { User } from "../auth/tokens";
import { AppError, notFound } from "../errors";
import { listCommits } from "../git/diff";
import {
  deleteBranch,
  MergeConflictError,
  mergeCommits,
  NotFastForwardError,
  NothingToMergeError,
  NotRebasableError,
  RefMovedError,
} from "../git/merge";
import type { Repository } from "../git/repos";
import { recordTimeline } from "../issues/timeline";
import type { MergePull, MergeResult } from "../wire/pulls";
import type { PullDeps } from "./deps";
import type { PullGit } from "./refresh";
import { findPull, type PullRow } from "./views";

type Input = z.output<typeof MergePull>;

interface Identity {
  name: string;
  email: string;
}

function notMergeable(number: number, reasons: string[], extra: Record<string, unknown> = {}): AppError {
  return new AppError(
    409,
    "not_mergeable",
    `pull request #${number} cannot be merged: ${reasons.join("; ")}`,
    {
      reasons,
      ...extra,
    },
  );
}

export class PullMerges {
  constructor(
    private readonly deps: PullDeps,
    private readonly pullGit: PullGit,
  ) {}

  /** What keeps the pull request from merging now: state, draft, conflicts, branch rules. */
  async blockers(repo: Repository, row: PullRow): Promise<string[]> {
    const reasons: string[] = [];
    if (row.merged_at !== null) return ["the pull request is already merged"];
    if (row.state !== "open") return ["the pull request is closed"];
    if (row.head_deleted_at !== null) reasons.push(`the head branch ${row.head_branch} was deleted`);
    if (row.draft) reasons.push("the pull request is a draft");
    if (row.mergeable === "conflict")
      reasons.push(
        `conflicts with ${row.base_branch}: ${row.conflict_files.join(", ") || "(files unknown)"}`,
      );
    if (this.deps.protection) {
      const unmet = await this.deps.protection.mergeBlockers(repo, {
        issueId: row.id,
        base: row.base_branch,
        headSha: row.head_sha,
        authorId: row.author_id,
      });
      reasons.push(...unmet);
    }
    return reasons;
  }

  async merge(repo: Repository, user: User, number: number, input: Input): Promise<MergeResult> {
    const row = await this.checked(repo, number, input);
    const baseRef = `refs/heads/${row.base_branch}`;
    const [author, committer] = await Promise.all([
      input.method === "squash"
        ? this.identity(row.author_id, row.author ?? user.username)
        : this.identity(user.id, user.username),
      this.identity(user.id, user.username),
    ]);
    const { title, message } = await this.messageOf(repo, row, input);
    let moved: { sha: string; before: string } | undefined;
    try {
      await this.deps.db.transaction(async (tx) => {
        const locked = await findPull(tx, repo.id, number, { lock: true });
        const late = locked ? stateReasons(locked) : ["the pull request is gone"];
        if (locked && locked.head_sha !== row.head_sha) late.push("the head moved");
        if (late.length > 0) throw notMergeable(number, late);
        const m = await mergeCommits(this.pullGit.gitDir(repo), {
          method: input.method,
          ref: baseRef,
          expectedOld: row.base_sha,
          head: row.head_sha,
          author,
          committer,
          title,
          message,
        });
        moved = m;
        await tx.query(
          `UPDATE pull_requests SET merged_at = now(), merged_by_id = $2, merge_commit_sha = $3, merge_method = $4,
                  mergeable = 'clean', conflict_files = '{}' WHERE issue_id = $1`,
          [row.id, user.id, m.sha, input.method],
        );
        await tx.query(
          `UPDATE issues SET state = 'closed', state_reason = 'merged', closed_at = now(), closed_by_id = $2
            WHERE id = $1`,
          [row.id, user.id],
        );
        await recordTimeline(tx, row.id, user.id, "merged", {
          sha: m.sha,
          method: input.method,
          base: row.base_branch,
        });
      });
    } catch (err) {
      throw this.refusal(number, err, moved);
    } finally {
      // The ref moved: that is a push, announced exactly once, even if the bookkeeping failed.
      if (moved)
        await this.deps.git.recordPush(repo, user, [
          { ref: baseRef, before: moved.before, after: moved.sha },
        ]);
    }
    await this.afterMerge(repo, user, row, input, moved!.sha);
    return { merged: true, sha: moved!.sha, method: input.method, message: title };
  }

  /** The row if it may be merged as asked, or the 409 that says why not. */
  private async checked(repo: Repository, number: number, input: Input): Promise<PullRow> {
    let row = await findPull(this.deps.db, repo.id, number);
    if (!row) throw notFound(`no pull request #${number} in ${repo.owner}/${repo.name}`);
    const early = stateReasons(row);
    if (early.length > 0) throw notMergeable(number, early);
    if (input.sha !== undefined && input.sha !== row.head_sha)
      throw new AppError(409, "head_moved", `the head of #${number} is ${row.head_sha}, not ${input.sha}`, {
        head_sha: row.head_sha,
        reasons: ["the head moved"],
      });
    const tip = await this.pullGit.branchTip(repo, row.base_branch);
    if (!tip) throw notMergeable(number, [`the base branch ${row.base_branch} is gone`]);
    // Decide on the base as it is now, even if sync has not followed its last push yet.
    if (await this.pullGit.freshen(repo, row)) row = (await findPull(this.deps.db, repo.id, number))!;
    const reasons = await this.blockers(repo, row);
    if (reasons.length > 0) throw notMergeable(number, reasons, { conflicts: row.conflict_files });
    return row;
  }

  /** Git's refusals as the API's 409s; anything else as it is. */
  private refusal(number: number, err: unknown, moved: unknown): unknown {
    if (moved) return err;
    if (err instanceof RefMovedError)
      return new AppError(409, "base_moved", `the base of #${number} moved while merging; try again`, {
        reasons: ["the base branch moved"],
        retryable: true,
      });
    if (err instanceof MergeConflictError) {
      const files = err.conflicts;
      return notMergeable(number, [files.length ? `conflicts: ${files.join(", ")}` : err.message], {
        conflicts: files,
      });
    }
    if (err instanceof NothingToMergeError) return notMergeable(number, [err.message]);
    if (err instanceof NotFastForwardError)
      return notMergeable(number, ["the base has commits the head does not: it cannot fast-forward"]);
    if (err instanceof NotRebasableError) return notMergeable(number, [`cannot rebase: ${err.message}`]);
    return err;
  }

  /** GitHub's defaults: `Merge pull request #N from head` / `<title> (#N)` and the commit list. */
  private async messageOf(
    repo: Repository,
    row: PullRow,
    input: Input,
  ): Promise<{ title: string; message: string }> {
    if (input.method === "squash") {
      const title = input.title || `${row.title} (#${row.number})`;
      if (input.message !== undefined) return { title, message: input.message };
      const { commits } = await listCommits(
        this.pullGit.gitDir(repo),
        row.merge_base ?? row.base_sha,
        row.head_sha,
        {
          limit: 250,
        },
      );
      return { title, message: commits.map((c) => `* ${c.title}`).join("\n") };
    }
    const title = input.title || `Merge pull request #${row.number} from ${row.head_branch}`;
    return { title, message: input.message ?? row.title };
  }

  /** A commit identity: the user's name and e-mail, or a no-reply address. */
  private async identity(userId: number | null, fallback: string): Promise<Identity> {
    const r = await this.deps.db.query<{ username: string; full_name: string; email: string | null }>(
      "SELECT username, full_name, email FROM users WHERE id = $1",
      [userId],
    );
    const u = r.rows[0];
    const username = u?.username ?? fallback;
    return { name: u?.full_name || username, email: u?.email || `${username}@users.noreply.plue` };
  }

  /** References, events, the head branch's deletion, the signal; none undoes the merge. */
  private async afterMerge(
    repo: Repository,
    user: User,
    row: PullRow,
    input: Input,
    sha: string,
  ): Promise<void> {
    const log = this.deps.log;
    // As on GitHub: `Fixes #N` closes issues when the change reaches the default branch.
    const close = row.base_branch === repo.defaultBranch;
    await this.referenceText(repo, row)
      .then((text) => this.deps.issues?.applyReferences(repo, text, { pull: row.number }, user, { close }))
      .catch((err) => log.warn({ err }, "references of a merged pull request"));
    const merged = (await findPull(this.deps.db, repo.id, row.number))!;
    const facts = this.pullGit.facts(merged, user.username);
    await this.deps.workflowEvents.pull(repo, "merged", facts);
    await this.deps.workflowEvents.pull(repo, "closed", facts);
    if (input.delete_branch) await this.deleteHead(repo, user, row);
    log.info({ repo: `${repo.owner}/${repo.name}`, pull: row.number, sha, method: input.method }, "merged");
    await this.pullGit.signal(repo, row.number);
  }

  /** The pull request's title, body and its commits' messages: where `Fixes #N` may be written. */
  private async referenceText(repo: Repository, row: PullRow): Promise<string> {
    const from = row.merge_base ?? row.base_sha;
    const { commits } = await listCommits(this.pullGit.gitDir(repo), from, row.head_sha, { limit: 250 });
    return [row.title, row.body, ...commits.map((c) => c.message)].join("\n\n");
  }

  /** Deletes the head branch if it still points at what was merged (a newer push keeps it). */
  private async deleteHead(repo: Repository, user: User, row: PullRow): Promise<void> {
    try {
      await deleteBranch(this.pullGit.gitDir(repo), `refs/heads/${row.head_branch}`, row.head_sha);
    } catch (err) {
      this.deps.log.warn({ err }, "deleting a merged head branch");
      return;
    }
    await this.deps.db.transaction(async (tx) => {
      await tx.query("UPDATE pull_requests SET head_deleted_at = now() WHERE issue_id = $1", [row.id]);
      await recordTimeline(tx, row.id, user.id, "head_ref_deleted", { ref: row.head_branch });
    });
  }
}

function stateReasons(row: PullRow): string[] {
  if (row.merged_at !== null) return ["the pull request is already merged"];
  if (row.state !== "open") return ["the pull request is closed"];
  return [];
}
