/**
 * What the pull request area asks git about a pull request, shared by the service, sync and
 * merge: branch tips, mergeability at (base_sha, head_sha) stored on the row, the counts a view
 * shows (cached by commit ids, so an entry never goes stale), the paths a workflow's `paths`
 * filter matches, and the facts of a `pull_request` event.
 */

import { pullTopic } from "../events/topics";
import { changedPaths, diffFiles, listCommits, mergeBase } from "../git/diff";
import { git } from "../git/exec";
import { mergeability } from "../git/merge";
import type { Repository } from "../git/repos";
import type { PullFacts } from "../issues/workflow-events";
import type { PullDeps } from "./deps";
import type { PullCounts, PullRow } from "./views";

/** The trigger matcher takes at most this many paths; more and the event carries none. */
const MAX_EVENT_PATHS = 1000;
const COUNTS_ENTRIES = 2000;

export class PullGit {
  private readonly counts = new Map<string, PullCounts>();

  constructor(private readonly deps: PullDeps) {}

  gitDir(repo: Repository): string {
    return this.deps.git.repos.gitDir(repo);
  }

  /** The commit a branch points at (never a tag or another ref of the same name). */
  branchTip(repo: Repository, branch: string): Promise<string | undefined> {
    return this.deps.git.resolveRef(repo, `refs/heads/${branch}`);
  }

  /**
   * Points `refs/pull/<n>/head` at the pull request's head, as GitHub does: its commits stay
   * reachable (gc never prunes them) after the branch is deleted or force-pushed, so its diff and
   * commits can still be read. Not a branch: no push event, no workflow, not in branch listings.
   */
  async keepHead(repo: Repository, number: number, sha: string): Promise<void> {
    if (!Number.isSafeInteger(number) || !/^[0-9a-f]{40}$/.test(sha)) return;
    await git(["update-ref", "--no-deref", `refs/pull/${number}/head`, sha], {
      gitDir: this.gitDir(repo),
    }).catch((err) => this.deps.log.warn({ err }, "refs/pull head"));
  }

  /**
   * Computes and stores the mergeability of the row's (base_sha, head_sha). The update is guarded
   * by both commits, so a result computed for commits that moved meanwhile is dropped.
   */
  async refreshMergeability(
    repo: Repository,
    row: Pick<PullRow, "id" | "base_sha" | "head_sha">,
  ): Promise<{ mergeable: "clean" | "conflict"; conflicts: string[] }> {
    const m = await mergeability(this.gitDir(repo), row.base_sha, row.head_sha);
    const mergeable = m.clean ? "clean" : "conflict";
    const conflicts = m.clean ? [] : m.conflicts.slice(0, 500);
    await this.deps.db.query(
      `UPDATE pull_requests SET mergeable = $2, conflict_files = $3
        WHERE issue_id = $1 AND base_sha = $4 AND head_sha = $5`,
      [row.id, mergeable, conflicts, row.base_sha, row.head_sha],
    );
    return { mergeable, conflicts };
  }

  /**
   * Brings an open pull request's base up to the base branch's tip when a push moved it and sync
   * has not followed yet, then computes mergeability if it is unknown. Answers whether it changed.
   */
  async freshen(repo: Repository, row: PullRow): Promise<boolean> {
    if (row.state !== "open") return false;
    let changed = false;
    let base = row.base_sha;
    const tip = await this.branchTip(repo, row.base_branch);
    if (tip && tip !== row.base_sha) {
      const mb = await mergeBase(this.gitDir(repo), tip, row.head_sha);
      const r = await this.deps.db.query(
        `UPDATE pull_requests SET base_sha = $2, merge_base = coalesce($3, merge_base), mergeable = 'unknown',
                conflict_files = '{}' WHERE issue_id = $1 AND base_sha = $4 AND head_sha = $5`,
        [row.id, tip, mb, row.base_sha, row.head_sha],
      );
      if (r.rowCount === 0) return true; // someone else moved it: the caller reads it again
      base = tip;
      changed = true;
    }
    if (changed || row.mergeable === "unknown") {
      await this.refreshMergeability(repo, { id: row.id, base_sha: base, head_sha: row.head_sha }).catch(
        (err) => this.deps.log.warn({ err }, "mergeability of a pull request"),
      );
      changed = true;
    }
    return changed;
  }

  /** Commits, additions, deletions and changed files from the merge base to the head. */
  async countsOf(
    repo: Repository,
    row: Pick<PullRow, "merge_base" | "base_sha" | "head_sha">,
  ): Promise<PullCounts> {
    const from = row.merge_base ?? row.base_sha;
    const key = `${repo.id}:${from}:${row.head_sha}`;
    const hit = this.counts.get(key);
    if (hit) return hit;
    const gitDir = this.gitDir(repo);
    const [diff, log] = await Promise.all([
      diffFiles(gitDir, from, row.head_sha, { page: 1, perPage: 1 }),
      listCommits(gitDir, from, row.head_sha, { limit: 1 }),
    ]);
    const counts: PullCounts = {
      commits: log.total,
      additions: diff.additions,
      deletions: diff.deletions,
      changed_files: diff.total,
    };
    if (this.counts.size >= COUNTS_ENTRIES) this.counts.delete(this.counts.keys().next().value!);
    this.counts.set(key, counts);
    return counts;
  }

  /** The paths changed from the merge base to the head, or undefined when too many to match. */
  async eventPaths(repo: Repository, mergeBase: string, head: string): Promise<string[] | undefined> {
    try {
      const paths = await changedPaths(this.gitDir(repo), mergeBase, head, MAX_EVENT_PATHS + 1);
      return paths && paths.length <= MAX_EVENT_PATHS ? [...paths] : undefined;
    } catch (err) {
      this.deps.log.warn({ err }, "changed paths of a pull request");
      return undefined;
    }
  }

  /** The `ctx.event.pull_request` facts of the row (paths when the caller computed them). */
  facts(row: PullRow, sender: string | undefined, extra: Partial<PullFacts> = {}): PullFacts {
    return {
      number: row.number,
      title: row.title,
      base: row.base_branch,
      head: row.head_branch,
      base_sha: row.base_sha,
      head_sha: row.head_sha,
      ...(sender ? { sender } : {}),
      ...extra,
    };
  }

  signal(repo: Repository, number: number): Promise<void> {
    return this.deps.events.signal(pullTopic(repo.id, number));
  }
}
