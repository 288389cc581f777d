/**
 * Branch protection (docs/pulls.md, "Protected branches"): rules per branch pattern, the rule that
 * applies to a branch, and what keeps a pull request from merging into it.
 *
 * Patterns are the globs of the workflows' `branches=` filters (app/workflows/glob.ts: `*` any run
 * without `/`, `**` any run, `?`, `[a-z]`; dots are ordinary characters, as picomatch's
 * `{dot: true}`), matched in linear time. The most specific matching rule applies: the exact
 * branch name beats any glob, then the longest pattern.
 *
 * `ruleFor` is asked on every push and pull request read, so a repository's rules are cached here
 * for a few seconds and dropped on every change made through this replica; another replica sees
 * a change within RULES_CACHE_MS.
 */

import type { z } from "zod";
import type { Db, Queryable } from "../db";
import { conflict, notFound, unprocessable } from "../errors";
import type { Repository } from "../git/repos";
import type {
  BranchProtectionInput,
  BranchProtectionView,
  ChecksView,
  UpdateBranchProtection,
} from "../wire/pulls";
import { matchGlob } from "../workflows/glob";

const RULES_CACHE_MS = 5_000;
/** Rules per repository: a ref switcher's worth, not an export. */
const MAX_RULES = 100;

export type ProtectionInput = z.output<typeof BranchProtectionInput>;
export type ProtectionUpdate = z.output<typeof UpdateBranchProtection>;

/** What mergeBlockers reads of a commit's checks (Checks.forCommit). */
export interface CommitChecks {
  forCommit(repo: Repository, sha: string): Promise<ChecksView>;
}

export interface BranchProtectionsDeps {
  readonly db: Db;
  readonly checks: CommitChecks;
}

/** The pull request mergeBlockers judges: its issue id (pull_reviews.pull_id), base branch, head and author. */
export interface PullFacts {
  issueId: number;
  base: string;
  headSha: string;
  authorId: number | null;
}

interface Row {
  id: number;
  pattern: string;
  required_checks: string[];
  required_approvals: number;
  dismiss_stale_approvals: boolean;
  block_force_push: boolean;
  block_deletion: boolean;
  push_allowlist: string[] | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `id::int AS id, pattern, required_checks, required_approvals, dismiss_stale_approvals,
  block_force_push, block_deletion, push_allowlist, created_at, updated_at`;

const view = (r: Row): BranchProtectionView => ({
  id: r.id,
  pattern: r.pattern,
  required_checks: r.required_checks,
  required_approvals: r.required_approvals,
  dismiss_stale_approvals: r.dismiss_stale_approvals,
  block_force_push: r.block_force_push,
  block_deletion: r.block_deletion,
  push_allowlist: r.push_allowlist,
  created_at: new Date(r.created_at).toISOString(),
  updated_at: new Date(r.updated_at).toISOString(),
});

/** Whether a pattern has glob characters (else it names one branch). */
export const isGlob = (pattern: string) => /[*?[\\]/.test(pattern);

/**
 * The rule of `rules` that applies to `branch`: the exact name, else the longest matching glob
 * (ties: the older rule).
 */
export function mostSpecific<T extends { pattern: string }>(
  rules: readonly T[],
  branch: string,
): T | undefined {
  const exact = rules.find((r) => !isGlob(r.pattern) && r.pattern === branch);
  if (exact) return exact;
  let best: T | undefined;
  for (const r of rules) {
    if (!isGlob(r.pattern) || !matchGlob(r.pattern, branch)) continue;
    if (!best || r.pattern.length > best.pattern.length) best = r;
  }
  return best;
}

/** A pattern a branch could match: no control characters, spaces, `..`, `:`, `~`, `^`, leading `-` or `/`. */
function checkPattern(pattern: string): void {
  if (/[\x00-\x20\x7f~^:]|\.\.|^[-/]|\/$|\.lock$|@\{/.test(pattern)) {
    throw unprocessable(
      `invalid branch pattern ${JSON.stringify(pattern)}: a branch name or glob (main, release/*) without spaces, "..", ":", "~", "^" or a leading "-"`,
      "invalid_pattern",
    );
  }
}

function checkAllowlist(list: string[] | null | undefined): void {
  for (const entry of list ?? []) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*(\/[A-Za-z0-9][A-Za-z0-9_. -]*)?$/.test(entry)) {
      throw unprocessable(
        `invalid push_allowlist entry ${JSON.stringify(entry)}: a username or org/team`,
        "invalid_allowlist",
      );
    }
  }
}

export class BranchProtections {
  private readonly cache = new Map<number, { at: number; rules: Promise<BranchProtectionView[]> }>();

  constructor(private readonly deps: BranchProtectionsDeps) {}

  async list(repo: Repository): Promise<BranchProtectionView[]> {
    const r = await this.deps.db.query<Row>(
      `SELECT ${COLUMNS} FROM branch_protections WHERE repo_id = $1 ORDER BY id`,
      [repo.id],
    );
    return r.rows.map(view);
  }

  async get(repo: Repository, id: number): Promise<BranchProtectionView> {
    const row = await findRule(this.deps.db, repo.id, id);
    if (!row) throw notFound(`no branch protection ${id} in ${repo.owner}/${repo.name}`);
    return view(row);
  }

  async create(repo: Repository, input: ProtectionInput): Promise<BranchProtectionView> {
    checkPattern(input.pattern);
    checkAllowlist(input.push_allowlist);
    const row = await this.deps.db.transaction(async (tx) => {
      const count = await tx.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM branch_protections WHERE repo_id = $1",
        [repo.id],
      );
      if ((count.rows[0]?.n ?? 0) >= MAX_RULES) {
        throw unprocessable(
          `a repository has at most ${MAX_RULES} branch protection rules`,
          "too_many_rules",
        );
      }
      await refuseDuplicate(tx, repo.id, input.pattern);
      const r = await tx.query<Row>(
        `INSERT INTO branch_protections (repo_id, pattern, required_checks, required_approvals,
                dismiss_stale_approvals, block_force_push, block_deletion, push_allowlist)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
        [
          repo.id,
          input.pattern,
          dedupe(input.required_checks),
          input.required_approvals,
          input.dismiss_stale_approvals,
          input.block_force_push,
          input.block_deletion,
          input.push_allowlist === null ? null : dedupe(input.push_allowlist),
        ],
      );
      return r.rows[0]!;
    });
    this.cache.delete(repo.id);
    return view(row);
  }

  async update(repo: Repository, id: number, patch: ProtectionUpdate): Promise<BranchProtectionView> {
    if (patch.pattern !== undefined) checkPattern(patch.pattern);
    checkAllowlist(patch.push_allowlist);
    const row = await this.deps.db.transaction(async (tx) => {
      const current = await findRule(tx, repo.id, id, true);
      if (!current) throw notFound(`no branch protection ${id} in ${repo.owner}/${repo.name}`);
      if (patch.pattern !== undefined && patch.pattern !== current.pattern) {
        await refuseDuplicate(tx, repo.id, patch.pattern);
      }
      const next = { ...current, ...definedOnly(patch) };
      const r = await tx.query<Row>(
        `UPDATE branch_protections SET pattern = $3, required_checks = $4, required_approvals = $5,
                dismiss_stale_approvals = $6, block_force_push = $7, block_deletion = $8,
                push_allowlist = $9, updated_at = now()
          WHERE repo_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
        [
          repo.id,
          id,
          next.pattern,
          dedupe(next.required_checks),
          next.required_approvals,
          next.dismiss_stale_approvals,
          next.block_force_push,
          next.block_deletion,
          next.push_allowlist === null ? null : dedupe(next.push_allowlist),
        ],
      );
      return r.rows[0]!;
    });
    this.cache.delete(repo.id);
    return view(row);
  }

  async delete(repo: Repository, id: number): Promise<void> {
    const r = await this.deps.db.query("DELETE FROM branch_protections WHERE repo_id = $1 AND id = $2", [
      repo.id,
      id,
    ]);
    this.cache.delete(repo.id);
    if (r.rowCount === 0) throw notFound(`no branch protection ${id} in ${repo.owner}/${repo.name}`);
  }

  /** The rule that applies to `branch` (a name without `refs/heads/`), if any. */
  async ruleFor(repo: Repository, branch: string): Promise<BranchProtectionView | undefined> {
    return mostSpecific(await this.rules(repo), branch);
  }

  /** Whether the repository has any rule (a push whose commands were not all seen is then refused). */
  async hasRules(repo: Repository): Promise<boolean> {
    return (await this.rules(repo)).length > 0;
  }

  /**
   * What keeps a pull request into `pull.base` from merging under its rule, in words: required
   * checks that are not success or skipped at the head, missing approvals, requested changes.
   */
  async mergeBlockers(repo: Repository, pull: PullFacts): Promise<string[]> {
    const rule = await this.ruleFor(repo, pull.base);
    if (!rule) return [];
    const blockers: string[] = [];
    if (rule.required_checks.length > 0) {
      const { checks } = await this.deps.checks.forCommit(repo, pull.headSha);
      for (const name of rule.required_checks) {
        const status = worstStatus(checks.filter((c) => c.name === name).map((c) => c.status));
        if (status === undefined) blockers.push(`required check ${name} has not run`);
        else if (status === "queued" || status === "running")
          blockers.push(`required check ${name} is pending`);
        else if (status !== "success" && status !== "skipped")
          blockers.push(`required check ${name} is ${status}`);
      }
    }
    const reviews = await latestReviews(this.deps.db, pull.issueId);
    const others = reviews.filter((r) => r.author_id !== null && r.author_id !== pull.authorId);
    for (const r of others)
      if (r.state === "changes_requested") blockers.push(`changes requested by ${r.username}`);
    const approvals = others.filter(
      (r) => r.state === "approved" && (!rule.dismiss_stale_approvals || r.commit_sha === pull.headSha),
    ).length;
    if (approvals < rule.required_approvals) {
      const word = rule.required_approvals === 1 ? "approval" : "approvals";
      blockers.push(`needs ${rule.required_approvals} ${word}, has ${approvals}`);
    }
    return blockers;
  }

  private rules(repo: Repository): Promise<BranchProtectionView[]> {
    const hit = this.cache.get(repo.id);
    if (hit && Date.now() - hit.at < RULES_CACHE_MS) return hit.rules;
    const rules = this.list(repo);
    this.cache.set(repo.id, { at: Date.now(), rules });
    rules.catch(() => this.cache.delete(repo.id));
    return rules;
  }
}

/** failure-like beats pending beats success/skipped. */
function worstStatus(statuses: string[]): string | undefined {
  const rank = (s: string) =>
    s === "success" || s === "skipped" ? 0 : s === "queued" || s === "running" ? 1 : 2;
  let worst: string | undefined;
  for (const s of statuses) if (worst === undefined || rank(s) > rank(worst)) worst = s;
  return worst;
}

/**
 * Each reviewer's latest non-dismissed approval or change request (a later comment-only review
 * changes neither, as on GitHub).
 */
async function latestReviews(db: Queryable, pullId: number) {
  const r = await db.query<{ author_id: number | null; username: string; state: string; commit_sha: string }>(
    `SELECT DISTINCT ON (v.author_id) v.author_id::int AS author_id, u.username, v.state, v.commit_sha
       FROM pull_reviews v JOIN users u ON u.id = v.author_id
      WHERE v.pull_id = $1 AND v.dismissed_at IS NULL AND v.state IN ('approved', 'changes_requested')
      ORDER BY v.author_id, v.id DESC`,
    [pullId],
  );
  return r.rows;
}

async function findRule(db: Queryable, repoId: number, id: number, lock = false): Promise<Row | undefined> {
  if (!Number.isSafeInteger(id) || id < 1) return undefined;
  const r = await db.query<Row>(
    `SELECT ${COLUMNS} FROM branch_protections WHERE repo_id = $1 AND id = $2 ${lock ? "FOR UPDATE" : ""}`,
    [repoId, id],
  );
  return r.rows[0];
}

async function refuseDuplicate(tx: Queryable, repoId: number, pattern: string): Promise<void> {
  const r = await tx.query("SELECT 1 FROM branch_protections WHERE repo_id = $1 AND pattern = $2", [
    repoId,
    pattern,
  ]);
  if (r.rowCount > 0)
    throw conflict(`a branch protection rule for ${pattern} already exists`, "duplicate_pattern");
}

const dedupe = (list: readonly string[]) => [...new Set(list)];

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
