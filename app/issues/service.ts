/**
 * Issues (docs/pulls.md, "Issues"): opening, reading, listing and changing them, their labels and
 * assignees, and what `#N` references in commits and pull requests do. Every change writes its
 * timeline entry in the transaction that makes it; after commit it announces itself: `issue`
 * workflow events (only for real issues, not pull requests, whose events are the pull requests'),
 * `mention` events for `@handle`s in new bodies, and the pull request topic when the row is one.
 *
 * Routes authorize the action (`repoAccess`); this service asks `permissions` only what a route
 * cannot know (whether an assignee may read the repository), and never inside a transaction.
 */
import type { RepoPermissions } from "../auth/permissions";
import type { User } from "../auth/tokens";
import type { Db, Queryable } from "../db";
import { AppError, notFound } from "../errors";
import { pullTopic } from "../events/topics";
import type { PushEvent } from "../git/push-events";
import type { Repository } from "../git/repos";
import type { GitService } from "../git/service";
import type { Logger } from "../log";
import type { CreateIssue, IssueView, LabelView, ListQuery, Page, UpdateIssue } from "../wire/pulls";
import { type AppliedReferences, applyReferencesTx, type ReferenceSource } from "./apply-references";
import { changeAssignees, changeLabels, changeState, edit, labelsOf } from "./changes";
import { IssueConversation } from "./conversation";
import { resolveLabels } from "./labels";
import { nextIssueNumber } from "./numbers";
import { type Person, resolvePeople } from "./people";
import { pushedMessages } from "./pushed-commits";
import { parseReferences } from "./references";
import { recordTimeline } from "./timeline";
import { findIssue, ISSUE_COLUMNS, type IssueRow, issueViews } from "./views";
import type { WorkflowEvents } from "./workflow-events";

type CreateInput = import("zod").output<typeof CreateIssue>;
type UpdateInput = import("zod").output<typeof UpdateIssue>;
type ListInput = import("zod").output<typeof ListQuery>;

export interface IssueServiceDeps {
  readonly db: Db;
  readonly log: Logger;
  readonly git: Pick<GitService, "onPush" | "repos">;
  readonly permissions: Pick<RepoPermissions, "role" | "can">;
  readonly workflowEvents: Pick<WorkflowEvents, "issue" | "mentions">;
  readonly events: { signal(topic: string): Promise<void> };
}

export type { AppliedReferences, ReferenceSource };

export class IssueService {
  /** Announcements and push handling still under way (shutdown waits for them). */
  private readonly pending = new Set<Promise<void>>();

  /** Comments, reactions and the timeline (conversation.ts). */
  readonly conversation: IssueConversation;

  constructor(private readonly deps: IssueServiceDeps) {
    this.conversation = new IssueConversation(deps, this);
  }

  // ---- reading ----

  /** `GET …/issues`: issues only (pull requests are `GET …/pulls`), newest first. */
  async list(repo: Repository, q: ListInput): Promise<Page<IssueView>> {
    const labels = [...new Set((q.labels ?? "").split(",").map((l) => l.trim().toLowerCase()))].filter(
      Boolean,
    );
    const where = `i.repo_id = $1 AND NOT i.is_pull AND ($2 = 'all' OR i.state = $2)
      AND ($3::text IS NULL OR i.author_id = (SELECT id FROM users WHERE lower(username) = lower($3)))
      AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM issue_assignees a JOIN users u ON u.id = a.user_id
                                        WHERE a.issue_id = i.id AND lower(u.username) = lower($4)))
      AND (cardinality($5::text[]) = 0 OR (SELECT count(*) FROM issue_labels il JOIN labels l ON l.id = il.label_id
            WHERE il.issue_id = i.id AND lower(l.name) = ANY($5::text[])) = cardinality($5::text[]))`;
    const params = [repo.id, q.state, q.author ?? null, q.assignee ?? null, labels];
    const [rows, total] = await Promise.all([
      this.deps.db.query<IssueRow>(
        `SELECT ${ISSUE_COLUMNS} FROM issues i WHERE ${where} ORDER BY i.number DESC LIMIT $6 OFFSET $7`,
        [...params, q.per_page, (q.page - 1) * q.per_page],
      ),
      this.deps.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM issues i WHERE ${where}`, params),
    ]);
    const n = total.rows[0]?.n ?? 0;
    return {
      items: await issueViews(this.deps.db, rows.rows),
      total: n,
      page: q.page,
      per_page: q.per_page,
      next_page: q.page * q.per_page < n ? q.page + 1 : null,
    };
  }

  /** Issue or pull request `number` (GitHub answers both at `…/issues/:n`); 404 if none. */
  async row(repo: Repository, number: number, db: Queryable = this.deps.db): Promise<IssueRow> {
    const row = await findIssue(db, repo.id, number);
    if (!row) throw notFound(`issue #${number} not found in ${repo.owner}/${repo.name}`);
    return row;
  }

  /** `row`, locked until the transaction ends (changes to one issue go one at a time). */
  private async locked(tx: Queryable, repo: Repository, number: number): Promise<IssueRow> {
    const row = await this.row(repo, number, tx);
    await tx.query("SELECT 1 FROM issues WHERE id = $1 FOR UPDATE", [row.id]);
    return this.row(repo, number, tx);
  }

  async get(repo: Repository, number: number): Promise<IssueView> {
    return this.view(await this.row(repo, number));
  }

  async view(row: IssueRow): Promise<IssueView> {
    const [view] = await issueViews(this.deps.db, [row]);
    if (!row.is_pull) return view!;
    const pr = await this.deps.db.query<{ merged_at: Date | null; draft: boolean }>(
      "SELECT merged_at, draft FROM pull_requests WHERE issue_id = $1",
      [row.id],
    );
    const p = pr.rows[0];
    return {
      ...view!,
      pull_request: {
        merged_at: p?.merged_at ? new Date(p.merged_at).toISOString() : null,
        draft: !!p?.draft,
      },
    };
  }

  // ---- changing ----

  /** `POST …/issues`: always an issue (pull requests are opened at `POST …/pulls`). */
  async create(repo: Repository, user: User, input: CreateInput): Promise<IssueView> {
    const assignees = await this.assignable(repo, input.assignees);
    const row = await this.deps.db.transaction(async (tx) => {
      const labels = await resolveLabels(tx, repo.id, input.labels);
      const number = await nextIssueNumber(tx, repo.id);
      const r = await tx.query<{ id: number }>(
        `INSERT INTO issues (repo_id, number, title, body, author_id) VALUES ($1, $2, $3, $4, $5)
         RETURNING id::int AS id`,
        [repo.id, number, input.title, input.body, user.id],
      );
      const id = r.rows[0]!.id;
      await recordTimeline(tx, id, user.id, "opened");
      const issue = (await findIssue(tx, repo.id, number))!;
      await changeLabels(tx, issue, user.id, labels);
      await changeAssignees(tx, issue, user.id, assignees);
      return issue;
    });
    const view = await this.view(row);
    this.announce(repo, row, user, [{ action: "opened" }], view.labels);
    this.wrote(repo, row, user, row.body);
    return view;
  }

  /**
   * `PATCH …/issues/:n`: title and body (`edited`), state (`closed` with its reason, `reopened`),
   * labels and assignees (replaced: `labeled`/`unlabeled`, `assigned`/`unassigned`). Works on a
   * pull request's number too, but closing one here never marks it merged, and a merged one
   * cannot be reopened.
   */
  async update(repo: Repository, user: User, number: number, input: UpdateInput): Promise<IssueView> {
    const assignees = input.assignees ? await this.assignable(repo, input.assignees) : undefined;
    const actions: Announcement[] = [];
    const row = await this.deps.db.transaction(async (tx) => {
      const issue = await this.locked(tx, repo, number);
      const labels = input.labels ? await resolveLabels(tx, repo.id, input.labels) : undefined;
      if (await edit(tx, issue, user.id, input)) actions.push({ action: "edited" });
      const state = await changeState(tx, issue, user.id, input);
      if (state) actions.push({ action: state });
      if (labels) {
        const { added } = await changeLabels(tx, issue, user.id, labels);
        for (const l of added) actions.push({ action: "labeled", label: l.name });
      }
      if (assignees) await changeAssignees(tx, issue, user.id, assignees);
      return (await findIssue(tx, repo.id, number))!;
    });
    const view = await this.view(row);
    this.announce(repo, row, user, actions, view.labels);
    if (input.body !== undefined && actions.some((a) => a.action === "edited")) {
      this.later(() => this.crossReference(repo, row, user, row.body));
    }
    return view;
  }

  /** `POST …/issues/:n/labels`: adds labels; answers the issue's labels now. */
  async addLabels(repo: Repository, user: User, number: number, names: string[]): Promise<LabelView[]> {
    return this.relabel(repo, user, number, async (tx, current) => {
      const wanted = await resolveLabels(tx, repo.id, names);
      return [...current, ...wanted.filter((l) => !current.some((c) => c.id === l.id))];
    });
  }

  /** `DELETE …/issues/:n/labels/:name`: 404 when the issue does not carry it. */
  async removeLabel(repo: Repository, user: User, number: number, name: string): Promise<LabelView[]> {
    return this.relabel(repo, user, number, async (_tx, current) => {
      const rest = current.filter((l) => l.name.toLowerCase() !== name.toLowerCase());
      if (rest.length === current.length)
        throw notFound(`issue #${number} has no label ${JSON.stringify(name)}`);
      return rest;
    });
  }

  private async relabel(
    repo: Repository,
    user: User,
    number: number,
    next: (tx: Queryable, current: LabelView[]) => Promise<LabelView[]>,
  ): Promise<LabelView[]> {
    const { row, added } = await this.deps.db.transaction(async (tx) => {
      const issue = await this.locked(tx, repo, number);
      const changed = await changeLabels(tx, issue, user.id, await next(tx, await labelsOf(tx, issue)));
      return { row: issue, added: changed.added };
    });
    const labels = await labelsOf(this.deps.db, row);
    const actions = added.map((l) => ({ action: "labeled" as const, label: l.name }));
    this.announce(repo, row, user, actions, labels);
    return labels;
  }

  // ---- references ----

  /**
   * Applies the `#N` references of `text` from a commit or a pull request (see
   * apply-references.ts): with `close`, closing references close open issues. The pull requests
   * call it when one is opened (close: false) and when it is merged (its body and commit
   * messages, close: true); pushes call it for each new commit (close: on the default branch).
   */
  async applyReferences(
    repo: Repository,
    text: string,
    source: ReferenceSource,
    actor: User | undefined,
    { close }: { close: boolean },
  ): Promise<AppliedReferences> {
    const refs = parseReferences(text);
    if (refs.closes.length === 0 && refs.mentions.length === 0) return { closed: [], referenced: [] };
    const applied = await this.deps.db.transaction((tx) =>
      applyReferencesTx(tx, repo.id, refs, source, actor?.id ?? null, close),
    );
    for (const row of applied.closed) this.announce(repo, row, actor, [{ action: "closed" }]);
    return applied;
  }

  /** Closes and references issues from pushed commits; returns the unsubscribe (and drain). */
  subscribeToPushes(): () => Promise<void> {
    const unsubscribe = this.deps.git.onPush((e) => this.later(() => this.onPush(e)));
    return async () => {
      unsubscribe();
      await this.drain();
    };
  }

  /**
   * The new commits of a branch push, oldest first: on the default branch their closing
   * references close issues; on any other branch they only reference them.
   */
  async onPush(e: PushEvent): Promise<void> {
    if (!e.ref.startsWith("refs/heads/")) return;
    const repo = await this.deps.git.repos.byId(e.repo.id);
    if (!repo) return;
    const commits = await pushedMessages(this.deps.git.repos.gitDir(repo), e.before, e.after, this.deps.log);
    const close = e.ref === `refs/heads/${repo.defaultBranch}`;
    const actor = e.pusher ? { ...e.pusher, is_admin: false } : undefined;
    for (const c of commits) {
      await this.applyReferences(repo, c.message, { commit: c.sha, ref: e.ref }, actor, { close });
    }
  }

  /** Waits for announcements and push handling under way. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** The users named, each of whom may read the repository (asked before any transaction). */
  private async assignable(repo: Repository, usernames: readonly string[]): Promise<Person[]> {
    const people = await resolvePeople(this.deps.db, usernames);
    for (const p of people) {
      if (!(await this.deps.permissions.role({ user: p }, repo))) {
        throw new AppError(422, "invalid_assignee", `${p.username} cannot read ${repo.owner}/${repo.name}`, {
          assignee: p.username,
        });
      }
    }
    return people;
  }

  // ---- after commit ----

  /**
   * Signals the pull request's page, or starts the `issue` workflow events of a real issue, with
   * its labels as the change left them (read now, unless the caller has them).
   */
  announce(
    repo: Repository,
    row: IssueRow,
    sender: Pick<User, "username"> | undefined,
    actions: Announcement[],
    labelsNow?: readonly LabelView[],
  ) {
    if (actions.length === 0) return;
    if (row.is_pull) return this.touched(repo, row);
    this.later(async () => {
      const labels = (labelsNow ?? (await labelsOf(this.deps.db, row))).map((l) => l.name);
      for (const a of actions) {
        await this.deps.workflowEvents.issue(repo, a.action, {
          number: row.number,
          title: row.title,
          labels,
          ...(sender ? { sender: sender.username } : {}),
          ...(a.label !== undefined ? { label: a.label } : {}),
          ...(a.comment !== undefined ? { comment: a.comment } : {}),
        });
      }
    });
  }

  /**
   * After a new body or comment on issue or pull request `row` is committed: its `@handle`s start
   * `mention` workflows and its `#N`s cross-reference those issues.
   */
  wrote(repo: Repository, row: Pick<IssueRow, "is_pull" | "number">, user: User, text: string): void {
    this.later(() =>
      this.deps.workflowEvents.mentions(repo, text, { number: row.number, sender: user.username }),
    );
    this.later(() => this.crossReference(repo, row, user, text));
  }

  private crossReference(
    repo: Repository,
    row: Pick<IssueRow, "is_pull" | "number">,
    user: User,
    text: string,
  ) {
    const source = row.is_pull ? { pull: row.number } : { issue: row.number };
    return this.applyReferences(repo, text, source, user, { close: false });
  }

  touched(repo: Repository, row: Pick<IssueRow, "is_pull" | "number">): void {
    if (row.is_pull) this.later(() => this.deps.events.signal(pullTopic(repo.id, row.number)));
  }

  /** Runs `work` after the answer, logging a failure; shutdown waits for it (`drain`). */
  later(work: () => Promise<unknown>): void {
    const p: Promise<void> = work()
      .then(() => undefined)
      .catch((err) => this.deps.log.error({ err }, "issue event failed"))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }
}

export interface Announcement {
  action: "opened" | "edited" | "closed" | "reopened" | "labeled" | "commented";
  label?: string;
  comment?: string;
}
