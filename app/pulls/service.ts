/**
 * Pull requests (docs/pulls.md): opening one from a head branch to a base branch, listing,
 * reading, editing (title, body, state, draft, base), its diff and its commits. Reviews, line
 * comments, sync on push and merging are their own modules, reached through this service
 * (`reviews`, `comments`, `merges`, `sync`), which is the one thing on the AppContext.
 *
 * Permissions are the routes' (repoAccess): a service method is called once the caller may do it.
 */

import type { z } from "zod";
import type { User } from "../auth/tokens";
import { AppError, notFound, unprocessable } from "../errors";
import { diffPage, listCommits, mergeBase } from "../git/diff";
import type { Repository } from "../git/repos";
import { nextIssueNumber } from "../issues/numbers";
import { recordTimeline } from "../issues/timeline";
import type { CommitView, CreatePull, DiffPage, DiffQuery, ListQuery, PullView } from "../wire/pulls";
import type { PullDeps } from "./deps";
import { PullMerges } from "./merge";
import { branchName } from "./names";
import { PullGit } from "./refresh";
import { ReviewComments } from "./review-comments";
import { PullReviews } from "./reviews";
import { PullSync } from "./sync";
import { PullUpdates } from "./update";
import {
  findPull,
  PULL_COLUMNS,
  PULL_FROM,
  type PullCounts,
  type PullRow,
  pullExtras,
  pullView,
} from "./views";

/** How many pull requests of a listing have their counts computed at once. */
const LIST_GIT_CONCURRENCY = 4;
/** GitHub's cap on a pull request's commit list. */
const MAX_COMMITS = 250;

export class PullService {
  readonly pullGit: PullGit;
  readonly reviews: PullReviews;
  readonly comments: ReviewComments;
  readonly merges: PullMerges;
  readonly sync: PullSync;
  readonly updates: PullUpdates;

  constructor(private readonly deps: PullDeps) {
    this.pullGit = new PullGit(deps);
    this.comments = new ReviewComments(deps, this.pullGit);
    this.reviews = new PullReviews(deps, this.pullGit, this.comments);
    this.merges = new PullMerges(deps, this.pullGit);
    this.sync = new PullSync(deps, this.pullGit, this.reviews, this.comments);
    this.updates = new PullUpdates(deps, this.pullGit);
  }

  /** The open pull request `number`, or 404 (an issue of that number is not one). */
  async row(repo: Repository, number: number): Promise<PullRow> {
    const row = await findPull(this.deps.db, repo.id, number);
    if (!row) throw notFound(`no pull request #${number} in ${repo.owner}/${repo.name}`);
    return row;
  }

  async create(repo: Repository, user: User, input: z.output<typeof CreatePull>): Promise<PullView> {
    const head = branchName(input.head, "head");
    const base = branchName(input.base ?? repo.defaultBranch, "base");
    if (head === base) throw unprocessable(`head and base are the same branch (${head})`, "same_branch");
    const [headSha, baseSha] = await Promise.all([
      this.pullGit.branchTip(repo, head),
      this.pullGit.branchTip(repo, base),
    ]);
    if (!headSha) throw unprocessable(`no branch ${head} in ${repo.owner}/${repo.name}`, "unknown_branch");
    if (!baseSha) throw unprocessable(`no branch ${base} in ${repo.owner}/${repo.name}`, "unknown_branch");
    const base_ = await mergeBase(this.pullGit.gitDir(repo), baseSha, headSha);
    if (!base_) throw unprocessable(`${head} and ${base} have no history in common`, "no_common_history");
    if (base_ === headSha)
      throw unprocessable(
        `nothing to compare: ${base} already has every commit of ${head}`,
        "nothing_to_compare",
      );

    const number = await this.deps.db.transaction(async (tx) => {
      // The number locks the repository's row: two creates for one head→base are serialised here.
      const n = await nextIssueNumber(tx, repo.id);
      const open = await tx.query<{ number: number }>(
        `SELECT i.number FROM ${PULL_FROM} WHERE p.repo_id = $1 AND p.head_repo_id = $1
            AND p.head_branch = $2 AND p.base_branch = $3 AND i.state = 'open'`,
        [repo.id, head, base],
      );
      if (open.rows[0]) {
        const existing = open.rows[0].number;
        throw new AppError(
          409,
          "pull_exists",
          `pull request #${existing} already proposes ${head} into ${base}`,
          {
            number: existing,
          },
        );
      }
      const issue = await tx.query<{ id: number }>(
        `INSERT INTO issues (repo_id, number, is_pull, title, body, author_id)
         VALUES ($1, $2, true, $3, $4, $5) RETURNING id::int AS id`,
        [repo.id, n, input.title, input.body, user.id],
      );
      const id = issue.rows[0]!.id;
      await tx.query(
        `INSERT INTO pull_requests (issue_id, repo_id, head_repo_id, head_branch, base_branch, head_sha, base_sha, merge_base, draft)
         VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8)`,
        [id, repo.id, head, base, headSha, baseSha, base_, input.draft],
      );
      await recordTimeline(tx, id, user.id, "opened", { head, base, head_sha: headSha });
      return n;
    });

    const row = await this.row(repo, number);
    await this.afterOpen(repo, user, row);
    return this.get(repo, number);
  }

  /** Mergeability, the `opened` event, mentions and references; none of them undoes the create. */
  private async afterOpen(repo: Repository, user: User, row: PullRow): Promise<void> {
    await this.pullGit.keepHead(repo, row.number, row.head_sha);
    await this.pullGit.refreshMergeability(repo, row).catch((err) => {
      this.deps.log.warn({ err }, "mergeability of a new pull request");
    });
    const paths = await this.pullGit.eventPaths(repo, row.merge_base ?? row.base_sha, row.head_sha);
    await this.deps.workflowEvents.pull(
      repo,
      "opened",
      this.pullGit.facts(row, user.username, paths ? { paths } : {}),
    );
    const text = `${row.title}\n\n${row.body}`;
    await this.deps.workflowEvents.mentions(repo, row.body, { number: row.number, sender: user.username });
    await this.deps.issues
      ?.applyReferences(repo, text, { pull: row.number }, user, { close: false })
      .catch((err) => this.deps.log.warn({ err }, "references of a pull request"));
    await this.pullGit.signal(repo, row.number);
  }

  async list(repo: Repository, q: z.output<typeof ListQuery>) {
    const labels = (q.labels ?? "")
      .split(",")
      .map((l) => l.trim().toLowerCase())
      .filter(Boolean);
    const where = `i.repo_id = $1 AND ($2 = 'all' OR i.state = $2)
      AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM users u WHERE u.id = i.author_id AND lower(u.username) = lower($3)))
      AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM issue_assignees a JOIN users u ON u.id = a.user_id
                                       WHERE a.issue_id = i.id AND lower(u.username) = lower($4)))
      AND (SELECT count(DISTINCT lower(l.name)) FROM issue_labels il JOIN labels l ON l.id = il.label_id
            WHERE il.issue_id = i.id AND lower(l.name) = ANY($5::text[])) = cardinality($5::text[])`;
    const params = [repo.id, q.state, q.author ?? null, q.assignee ?? null, labels];
    const [rows, total] = await Promise.all([
      this.deps.db.query<PullRow>(
        `SELECT ${PULL_COLUMNS} FROM ${PULL_FROM} WHERE ${where} ORDER BY i.number DESC LIMIT $6 OFFSET $7`,
        [...params, q.per_page, (q.page - 1) * q.per_page],
      ),
      this.deps.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${PULL_FROM} WHERE ${where}`, params),
    ]);
    const n = total.rows[0]?.n ?? 0;
    const items = await this.views(repo, rows.rows);
    return {
      items,
      total: n,
      page: q.page,
      per_page: q.per_page,
      next_page: q.page * q.per_page < n ? q.page + 1 : null,
    };
  }

  private async views(repo: Repository, rows: PullRow[]): Promise<PullView[]> {
    const extras = await pullExtras(
      this.deps.db,
      rows.map((r) => r.id),
    );
    // The counts are cached; the ones that are not cost two git processes each, so a page of 100
    // runs them a few at a time rather than 200 processes at once.
    const counts = new Array<PullCounts>(rows.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < rows.length; i = next++)
        counts[i] = await this.pullGit.countsOf(repo, rows[i]!);
    };
    await Promise.all(Array.from({ length: Math.min(LIST_GIT_CONCURRENCY, rows.length) }, worker));
    return rows.map((row, i) => pullView(row, { repo, counts: counts[i]!, ...extras.get(row.id)! }));
  }

  /**
   * One pull request with its blockers. A base that moved since sync last looked, or mergeability
   * still unknown, is brought up to date here, before answering.
   */
  async get(repo: Repository, number: number): Promise<PullView> {
    let row = await this.row(repo, number);
    if (await this.pullGit.freshen(repo, row)) row = await this.row(repo, number);
    const [extras, counts, blockers] = await Promise.all([
      pullExtras(this.deps.db, [row.id]),
      this.pullGit.countsOf(repo, row),
      this.merges.blockers(repo, row),
    ]);
    return pullView(row, { repo, counts, blockers, ...extras.get(row.id)! });
  }

  update(repo: Repository, user: User, number: number, input: Parameters<PullUpdates["update"]>[3]) {
    return this.updates.update(repo, user, number, input).then(() => this.get(repo, number));
  }

  /** The diff from the merge base to the head, paged by file. */
  async files(repo: Repository, number: number, q: z.output<typeof DiffQuery>): Promise<DiffPage> {
    const row = await this.row(repo, number);
    return diffPage(this.pullGit.gitDir(repo), row.merge_base ?? row.base_sha, row.head_sha, q);
  }

  /** The commits from the merge base to the head, oldest first (at most 250, as on GitHub). */
  async commits(repo: Repository, number: number): Promise<CommitView[]> {
    const row = await this.row(repo, number);
    const from = row.merge_base ?? row.base_sha;
    const { commits } = await listCommits(this.pullGit.gitDir(repo), from, row.head_sha, {
      limit: MAX_COMMITS,
    });
    return commits;
  }
}
