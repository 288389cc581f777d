/**
 * `PATCH …/pulls/:n`: title and body (edited), state (closed / reopened), draft ↔ ready, and the
 * base branch (base_changed; commits and mergeability are computed again). A merged pull request
 * keeps its state and base; a closed one reopens only while its head branch exists, picking up
 * what was pushed to it meanwhile (sync follows open pull requests only).
 */
import type { z } from "zod";
import type { User } from "../auth/tokens";
import type { Queryable } from "../db";
import { AppError, notFound, unprocessable } from "../errors";
import { mergeBase } from "../git/diff";
import type { Repository } from "../git/repos";
import { recordTimeline } from "../issues/timeline";
import type { PullAction } from "../issues/workflow-events";
import type { UpdatePull } from "../wire/pulls";
import type { PullDeps } from "./deps";
import { branchName } from "./names";
import type { PullGit } from "./refresh";
import { findPull, PULL_FROM, type PullRow } from "./views";

type Input = z.output<typeof UpdatePull>;

/** Commits the change moves the pull request to (base change, reopen after pushes). */
interface Moved {
  base: string;
  baseSha: string;
  headSha: string;
  mergeBase: string;
}

export class PullUpdates {
  constructor(
    private readonly deps: PullDeps,
    private readonly pullGit: PullGit,
  ) {}

  async update(repo: Repository, user: User, number: number, input: Input): Promise<void> {
    const row = await findPull(this.deps.db, repo.id, number);
    if (!row) throw notFound(`no pull request #${number} in ${repo.owner}/${repo.name}`);
    const merged = row.merged_at !== null;
    const reopen = input.state === "open" && row.state === "closed";
    const close = input.state === "closed" && row.state === "open";
    const newBase = input.base !== undefined ? branchName(input.base, "base") : undefined;
    const baseChange = newBase !== undefined && newBase !== row.base_branch;
    if (merged && (reopen || baseChange || input.draft !== undefined))
      throw unprocessable(
        `pull request #${number} is merged: its state, base and draft flag are final`,
        "merged",
      );
    if (input.draft !== undefined && row.state === "closed" && !reopen)
      throw unprocessable(`pull request #${number} is closed`, "pull_closed");
    const moved =
      reopen || baseChange ? await this.moveTo(repo, row, newBase ?? row.base_branch, reopen) : undefined;

    const actions = await this.deps.db.transaction(async (tx) => {
      const locked = (await findPull(tx, repo.id, number, { lock: true }))!;
      if (locked.head_sha !== row.head_sha || locked.state !== row.state)
        throw new AppError(409, "pull_changed", `pull request #${number} changed meanwhile; try again`);
      if (moved) await this.refuseDuplicate(tx, repo, row, moved.base);
      return this.apply(tx, user, row, input, { moved, reopen, close, baseChange });
    });

    if (moved) {
      const fresh = await findPull(this.deps.db, repo.id, number);
      if (fresh) {
        await this.pullGit.keepHead(repo, number, fresh.head_sha);
        await this.pullGit.refreshMergeability(repo, fresh).catch(() => undefined);
      }
    }
    const after = (await findPull(this.deps.db, repo.id, number))!;
    if (input.body !== undefined && input.body !== row.body)
      await this.deps.workflowEvents.mentions(repo, input.body, { number, sender: user.username });
    for (const action of actions) {
      await this.deps.workflowEvents.pull(repo, action, this.pullGit.facts(after, user.username));
    }
    await this.pullGit.signal(repo, number);
  }

  /** The commits a base change or a reopen takes the pull request to, or 422 why it cannot. */
  private async moveTo(repo: Repository, row: PullRow, base: string, reopen: boolean): Promise<Moved> {
    if (base === row.head_branch)
      throw unprocessable(`head and base are the same branch (${base})`, "same_branch");
    const [baseSha, headTip] = await Promise.all([
      this.pullGit.branchTip(repo, base),
      this.pullGit.branchTip(repo, row.head_branch),
    ]);
    if (!baseSha) throw unprocessable(`no branch ${base} in ${repo.owner}/${repo.name}`, "unknown_branch");
    if (reopen && !headTip)
      throw unprocessable(
        `the head branch ${row.head_branch} is gone: the pull request cannot reopen`,
        "head_gone",
      );
    const headSha = reopen && headTip ? headTip : row.head_sha;
    const mb = await mergeBase(this.pullGit.gitDir(repo), baseSha, headSha);
    if (!mb)
      throw unprocessable(`${row.head_branch} and ${base} have no history in common`, "no_common_history");
    if (reopen && mb === headSha)
      throw unprocessable(
        `nothing to compare: ${base} already has every commit of ${row.head_branch}`,
        "nothing_to_compare",
      );
    return { base, baseSha, headSha, mergeBase: mb };
  }

  private async refuseDuplicate(tx: Queryable, repo: Repository, row: PullRow, base: string): Promise<void> {
    const open = await tx.query<{ number: number }>(
      `SELECT i.number FROM ${PULL_FROM} WHERE p.repo_id = $1 AND p.head_branch = $2 AND p.base_branch = $3
          AND i.state = 'open' AND i.id <> $4`,
      [repo.id, row.head_branch, base, row.id],
    );
    const other = open.rows[0]?.number;
    if (other !== undefined)
      throw new AppError(
        409,
        "pull_exists",
        `pull request #${other} already proposes ${row.head_branch} into ${base}`,
        {
          number: other,
        },
      );
  }

  /** Writes the change and its timeline; answers the workflow events it causes. */
  private async apply(
    tx: Queryable,
    user: User,
    row: PullRow,
    input: Input,
    c: { moved?: Moved; reopen: boolean; close: boolean; baseChange: boolean },
  ): Promise<PullAction[]> {
    const actions: PullAction[] = [];
    const edits: Record<string, unknown> = {};
    if (input.title !== undefined && input.title !== row.title) edits.title = { from: row.title };
    if (input.body !== undefined && input.body !== row.body) edits.body = { from: row.body };
    if (Object.keys(edits).length > 0) {
      await tx.query(
        "UPDATE issues SET title = coalesce($2, title), body = coalesce($3, body) WHERE id = $1",
        [row.id, input.title ?? null, input.body ?? null],
      );
      await recordTimeline(tx, row.id, user.id, "edited", edits);
      actions.push("edited");
    }
    if (c.moved) {
      const m = c.moved;
      await tx.query(
        `UPDATE pull_requests SET base_branch = $2, base_sha = $3, head_sha = $4, merge_base = $5,
                mergeable = 'unknown', conflict_files = '{}' WHERE issue_id = $1`,
        [row.id, m.base, m.baseSha, m.headSha, m.mergeBase],
      );
      if (c.baseChange)
        await recordTimeline(tx, row.id, user.id, "base_changed", { from: row.base_branch, to: m.base });
    }
    if (c.close) {
      await tx.query(
        "UPDATE issues SET state = 'closed', state_reason = NULL, closed_at = now(), closed_by_id = $2 WHERE id = $1",
        [row.id, user.id],
      );
      await recordTimeline(tx, row.id, user.id, "closed", {});
      actions.push("closed");
    }
    if (c.reopen) {
      await tx.query(
        "UPDATE issues SET state = 'open', state_reason = 'reopened', closed_at = NULL, closed_by_id = NULL WHERE id = $1",
        [row.id],
      );
      await recordTimeline(tx, row.id, user.id, "reopened", {});
      actions.push("reopened");
    }
    if (input.draft !== undefined && input.draft !== row.draft) {
      await tx.query("UPDATE pull_requests SET draft = $2 WHERE issue_id = $1", [row.id, input.draft]);
      await recordTimeline(tx, row.id, user.id, input.draft ? "converted_to_draft" : "ready_for_review", {});
    }
    return actions;
  }
}
