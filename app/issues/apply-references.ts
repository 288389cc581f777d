/**
 * What `#N` references do once a commit, a pull request or an issue carries them (IssueService
 * .applyReferences): a closing reference closes an open issue (never a pull request) when the
 * source lands on the default branch; every other reference leaves a `referenced` (commit) or
 * `cross-referenced` (another issue or pull request) entry on the target's timeline. An issue's
 * body or comment never closes anything (as on GitHub). Each source is recorded once
 * per target, so a commit pushed again (to another branch, after a force-push) or a pull request
 * edited twice adds nothing, and an issue reopened after a commit closed it is not closed again by
 * that same commit.
 */
import type { Queryable } from "../db";
import type { References } from "./references";
import { recordTimeline } from "./timeline";
import { findIssue, type IssueRow } from "./views";

/**
 * Where the references come from: a commit (with the ref it was pushed to), a pull request, or an
 * issue (its body or a comment on it; a pull request's conversation is `pull`).
 */
export interface ReferenceSource {
  commit?: string;
  ref?: string;
  pull?: number;
  issue?: number;
}

/** The issue or pull request number the references come from, if they do not come from a commit. */
const fromNumber = (source: ReferenceSource): number | undefined => source.pull ?? source.issue;

export interface AppliedReferences {
  /** Issues this source closed now. */
  closed: IssueRow[];
  /** Numbers whose timeline got a new referenced / cross-referenced entry. */
  referenced: number[];
}

export async function applyReferencesTx(
  tx: Queryable,
  repoId: number,
  refs: References,
  source: ReferenceSource,
  actorId: number | null,
  close: boolean,
): Promise<AppliedReferences> {
  const out: AppliedReferences = { closed: [], referenced: [] };
  const closing = new Set(close && source.issue === undefined ? refs.closes : []);
  // In number order, so two transactions touching the same issues lock them in the same order.
  for (const n of [...refs.closes, ...refs.mentions].sort((a, b) => a - b)) {
    const issue = await target(tx, repoId, n, source);
    if (!issue) continue;
    if (closing.has(n) && (await closeIssue(tx, issue, source, actorId))) {
      out.closed.push({ ...issue, state: "closed", state_reason: "completed" });
    } else if (await reference(tx, issue, source, actorId)) {
      out.referenced.push(n);
    }
  }
  return out;
}

/** Closes an open issue (not a pull request) unless this source closed it once already. */
async function closeIssue(
  tx: Queryable,
  issue: IssueRow,
  source: ReferenceSource,
  actorId: number | null,
): Promise<boolean> {
  if (issue.is_pull || issue.state === "closed" || (await recorded(tx, issue.id, source, ["closed"])))
    return false;
  const r = await tx.query(
    `UPDATE issues SET state = 'closed', state_reason = 'completed', closed_at = now(), closed_by_id = $2
      WHERE id = $1 AND state = 'open'`,
    [issue.id, actorId],
  );
  if (r.rowCount === 0) return false;
  await recordTimeline(tx, issue.id, actorId, "closed", closedData(source));
  return true;
}

/** Records the reference on the issue's timeline, once per source. */
async function reference(
  tx: Queryable,
  issue: IssueRow,
  source: ReferenceSource,
  actorId: number | null,
): Promise<boolean> {
  if (await recorded(tx, issue.id, source, ["closed", "referenced", "cross-referenced"])) return false;
  const from = fromNumber(source);
  if (from !== undefined) {
    await recordTimeline(tx, issue.id, actorId, "cross-referenced", { number: from });
  } else {
    await recordTimeline(tx, issue.id, actorId, "referenced", {
      sha: source.commit,
      ref: source.ref ?? null,
    });
  }
  return true;
}

/** The issue `n` refers to, unless it is the source pull request itself. */
async function target(
  tx: Queryable,
  repoId: number,
  n: number,
  source: ReferenceSource,
): Promise<IssueRow | undefined> {
  if (n === fromNumber(source)) return undefined;
  // Locked, so two pushes of the same commit at once (two refs) record it once.
  await tx.query("SELECT 1 FROM issues WHERE repo_id = $1 AND number = $2 FOR UPDATE", [repoId, n]);
  return findIssue(tx, repoId, n);
}

function closedData(source: ReferenceSource): Record<string, unknown> {
  if (source.pull !== undefined)
    return { pull: source.pull, ...(source.commit ? { sha: source.commit } : {}) };
  return { sha: source.commit, ref: source.ref ?? null };
}

/** Whether this source already left an entry of one of `kinds` on the issue. */
async function recorded(
  tx: Queryable,
  issueId: number,
  source: ReferenceSource,
  kinds: readonly string[],
): Promise<boolean> {
  const from = fromNumber(source);
  const pull = from !== undefined ? String(from) : null;
  const sha = pull === null ? (source.commit ?? null) : null;
  const r = await tx.query(
    `SELECT 1 FROM issue_events WHERE issue_id = $1 AND kind = ANY($4::text[]) AND (
        ($2::text IS NOT NULL AND kind IN ('referenced', 'closed') AND data->>'sha' = $2)
     OR ($3::text IS NOT NULL AND ((kind = 'cross-referenced' AND data->>'number' = $3)
                                 OR (kind = 'closed' AND data->>'pull' = $3))))
     LIMIT 1`,
    [issueId, sha, pull, kinds],
  );
  return r.rowCount > 0;
}
