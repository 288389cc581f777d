/**
 * Pull requests: `/<owner>/<repo>/pulls` (the list) and `/pulls/<n>[/commits|/files]` (one pull
 * request: header with state and head → base, tabs Conversation / Commits / Files changed).
 * The conversation has the body, comments, reviews and timeline, the checks of the head and the
 * merge box. The page follows `GET …/pulls/:n/events` (SSE, through the `eventsource` package so
 * a Bearer token can be sent, as the run page does) and reads the pull request and its checks
 * again on every `changed`.
 */
import { EventSource } from "eventsource";
import { ApiError } from "../../../app/client/api-error";
import type { RepoView } from "../../../app/wire/api";
import type {
  ChecksView,
  CommentView,
  CommitView,
  Page,
  PullView,
  ReviewCommentView,
  ReviewView,
  TimelineEventView,
} from "../../../app/wire/pulls";
import { apiJson, browserFetch, issueApi, itemsOf, signedIn } from "../api";
import { h, main, notice, replace, setTitle, time } from "../dom";
import { type PullTab, urls } from "../routes";
import {
  assigneesEditor,
  commentBox,
  conversation,
  labelChip,
  labelsEditor,
  openingPost,
  stateBadge,
  titleHeading,
  userName,
} from "./conversation";
import { DiffView, type Side } from "./diff";
import { filterForm, pager, readFilters, signInToComment } from "./issues";
import { checksBox, fieldValues, mergeBox, restoreFields, reviewForm } from "./pull-boxes";
import { loadRepo, repoHeader, repoNotFound } from "./repo";

const PER_PAGE = 30;
/** Several `changed` frames in a burst (a push: pull, checks, reviews) cause one re-read. */
const REFRESH_DEBOUNCE_MS = 150;

// ---- the list ----------------------------------------------------------------------------------

export async function renderPulls(owner: string, name: string): Promise<void> {
  setTitle("Pull requests", `${owner}/${name}`);
  let repo: RepoView;
  try {
    repo = (await loadRepo(owner, name)).repo;
  } catch (err) {
    replace(main(), repoNotFound(owner, name, err));
    return;
  }
  const f = readFilters();
  const href = (q: string) => urls.pulls(owner, name, q);
  const list = h("div", { class: "issue-list", "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  replace(
    main(),
    repoHeader(repo, "pulls"),
    h(
      "div",
      { class: "list-toolbar" },
      h("h2", null, "Pull requests"),
      filterForm(f, href),
      h("span", { class: "spacer" }),
      repo.permission !== "read" && signedIn()
        ? h(
            "a",
            { class: "button", href: urls.compare(owner, name, repo.default_branch, "") },
            "New pull request",
          )
        : null,
    ),
    list,
  );
  try {
    const page = await apiJson<Page<PullView>>(
      issueApi(owner, name).pulls({
        state: f.state,
        labels: f.labels || undefined,
        author: f.author || undefined,
        page: f.page,
        per_page: PER_PAGE,
      }),
    );
    const pulls = itemsOf<PullView>(page);
    replace(
      list,
      pulls.length
        ? h("ul", { class: "issues" }, ...pulls.map((p) => pullRow(repo, p)))
        : h("p", { class: "empty" }, "No pull requests match."),
      pager(f, page, href),
    );
  } catch (err) {
    replace(list, notice("error", `Could not load the pull requests: ${(err as Error).message}`));
  } finally {
    list.removeAttribute("aria-busy");
  }
}

function pullRow(repo: RepoView, p: PullView): HTMLElement {
  return h(
    "li",
    { class: "issue-row", "data-number": p.number },
    stateBadge(p),
    h("a", { class: "issue-title", href: urls.pull(repo.owner, repo.name, p.number) }, p.title),
    ...p.labels.map(labelChip),
    h(
      "span",
      { class: "muted issue-meta" },
      `#${p.number} by ${userName(p.user)} · ${p.head.ref} → ${p.base.ref} · `,
      time(p.created_at),
    ),
  );
}

// ---- one pull request ----------------------------------------------------------------------------

export async function renderPull(owner: string, name: string, n: number, tab: PullTab): Promise<void> {
  setTitle(`Pull request #${n}`, `${owner}/${name}`);
  let repo: RepoView;
  try {
    repo = (await loadRepo(owner, name)).repo;
  } catch (err) {
    replace(main(), repoNotFound(owner, name, err));
    return;
  }
  const page = new PullPage(repo, n, tab);
  await page.mount();
}

class PullPage {
  private readonly ia: ReturnType<typeof issueApi>;
  private pull!: PullView;
  private readonly header = h("div", { class: "pull-header" });
  private readonly tabs = h("nav", { class: "tabs pull-tabs", "aria-label": "Pull request" });
  private readonly body = h("div", { class: "pull-body", tabindex: "-1" });
  private checks: ChecksView | undefined;
  private checksError: string | undefined;
  private source?: EventSource;
  private refreshTimer?: ReturnType<typeof setTimeout>;
  /** Incremented per render of the body; a slower earlier one must not overwrite a newer one. */
  private generation = 0;

  constructor(
    private readonly repo: RepoView,
    private readonly n: number,
    private tab: PullTab,
  ) {
    this.ia = issueApi(repo.owner, repo.name);
  }

  private get writer(): boolean {
    return this.repo.permission !== "read" && signedIn();
  }

  async mount(): Promise<void> {
    try {
      this.pull = await apiJson<PullView>(this.ia.pull(this.n));
    } catch (err) {
      const missing = err instanceof ApiError && err.status === 404;
      replace(
        main(),
        repoHeader(this.repo, "pulls"),
        notice(
          missing ? "warning" : "error",
          missing ? `There is no pull request #${this.n}.` : (err as Error).message,
        ),
      );
      return;
    }
    replace(main(), repoHeader(this.repo, "pulls"), this.header, this.tabs, this.body);
    this.tabs.addEventListener("click", (ev) => {
      const a = (ev.target as Element).closest("a[data-tab]") as HTMLAnchorElement | null;
      if (!a || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
      ev.preventDefault();
      this.tab = a.dataset.tab as PullTab;
      history.pushState(null, "", a.href);
      void this.renderTab(true);
    });
    window.addEventListener("popstate", () => {
      const m = /\/pulls\/\d+(?:\/(commits|files))?$/.exec(location.pathname);
      this.tab = (m?.[1] as PullTab | undefined) ?? "conversation";
      void this.renderTab(false);
    });
    this.renderHeader();
    await this.renderTab(false);
    this.follow();
  }

  private renderHeader(): void {
    const p = this.pull;
    setTitle(`${p.title} #${p.number}`, `${this.repo.owner}/${this.repo.name}`);
    replace(
      this.header,
      titleHeading(p, this.writer ? this.ia.pull(this.n) : undefined, () => this.refresh()),
      h(
        "p",
        { class: "pull-summary" },
        stateBadge(p),
        " ",
        h("strong", null, userName(p.user)),
        p.merged ? " merged " : " wants to merge ",
        `${p.commits} commit${p.commits === 1 ? "" : "s"} into `,
        h("code", { class: "branch" }, p.base.ref),
        " from ",
        h("code", { class: "branch" }, p.head.ref),
      ),
    );
    const tab = (id: PullTab, label: string, count: number) =>
      h(
        "a",
        {
          class: "tab",
          href: urls.pull(this.repo.owner, this.repo.name, p.number, id),
          "data-tab": id,
          "aria-current": this.tab === id ? "page" : undefined,
        },
        label,
        " ",
        h("span", { class: "count" }, String(count)),
      );
    replace(
      this.tabs,
      tab("conversation", "Conversation", p.comments + p.review_comments),
      tab("commits", "Commits", p.commits),
      tab("files", "Files changed", p.changed_files),
    );
  }

  private async renderTab(focus: boolean): Promise<void> {
    const gen = ++this.generation;
    this.renderHeader();
    this.body.setAttribute("aria-busy", "true");
    try {
      const node =
        this.tab === "commits"
          ? await this.commitsView()
          : this.tab === "files"
            ? await this.filesView()
            : await this.conversationView();
      if (gen !== this.generation) return;
      // A live re-render keeps what the reader was writing or choosing.
      const kept = fieldValues(this.body);
      replace(this.body, node);
      restoreFields(this.body, kept);
      if (focus) this.body.focus({ preventScroll: true });
    } catch (err) {
      if (gen === this.generation)
        replace(this.body, notice("error", `Could not load this tab: ${(err as Error).message}`));
    } finally {
      if (gen === this.generation) this.body.removeAttribute("aria-busy");
    }
  }

  private async conversationView(): Promise<HTMLElement> {
    const [comments, timeline, reviews, lineComments] = await Promise.all([
      apiJson<unknown>(`${this.ia.comments(this.n)}?per_page=100`).then((a) => itemsOf<CommentView>(a)),
      apiJson<unknown>(`${this.ia.timeline(this.n)}?per_page=100`)
        .then((a) => itemsOf<TimelineEventView>(a))
        .catch(() => []),
      apiJson<unknown>(this.ia.reviews(this.n))
        .then((a) => itemsOf<ReviewView>(a))
        .catch(() => []),
      apiJson<unknown>(`${this.ia.reviewComments(this.n)}?per_page=100`)
        .then((a) => itemsOf<ReviewCommentView>(a))
        .catch(() => []),
      this.loadChecks(),
    ]);
    const p = this.pull;
    const checksSlot = h("div", { class: "checks-slot" }, checksBox(this.checks, this.checksError));
    const mergeSlot = h(
      "div",
      { class: "merge-slot" },
      mergeBox(this.ia, p, this.writer, () => this.refresh()),
    );
    return h(
      "div",
      { class: "issue-layout" },
      h(
        "div",
        { class: "issue-main" },
        openingPost(p, signedIn() ? this.ia.reactions(p.number) : undefined),
        conversation({ comments, timeline, reviews, outdated: lineComments.filter((c) => c.outdated) }),
        checksSlot,
        mergeSlot,
        this.writer ? commentBox(this.ia, p, () => this.refresh(), this.ia.pull(this.n)) : signInToComment(),
      ),
      h(
        "aside",
        { class: "issue-sidebar", "aria-label": "Details" },
        labelsEditor(this.ia, p, this.writer, () => this.refresh()),
        assigneesEditor(this.ia, p, this.writer, () => this.refresh()),
      ),
    );
  }

  private async loadChecks(): Promise<void> {
    try {
      this.checks = await apiJson<ChecksView>(this.ia.checks(this.pull.head.sha));
      this.checksError = undefined;
    } catch (err) {
      this.checksError = `Could not load the checks: ${(err as Error).message}`;
    }
  }

  private async commitsView(): Promise<HTMLElement> {
    const commits = itemsOf<CommitView>(await apiJson<unknown>(this.ia.commits(this.n)));
    const { owner, name } = this.repo;
    return h(
      "ol",
      { class: "commits" },
      ...commits.map((c) =>
        h(
          "li",
          { class: "commit", "data-sha": c.sha },
          h("span", { class: "commit-title" }, c.title),
          h("span", { class: "muted" }, ` ${c.author.name} · `, time(c.author.date)),
          h("span", { class: "spacer" }),
          h("a", { href: urls.tree(owner, name, c.sha), title: c.sha }, h("code", null, c.sha.slice(0, 7))),
        ),
      ),
    );
  }

  private async filesView(): Promise<HTMLElement> {
    const comments = itemsOf<ReviewCommentView>(
      await apiJson<unknown>(`${this.ia.reviewComments(this.n)}?per_page=100`).catch(() => []),
    );
    const p = this.pull;
    const open = p.state === "open";
    const diff = new DiffView({
      load: (page, perPage) => apiJson(this.ia.files(this.n, page, perPage)),
      comments,
      comment:
        this.writer && open
          ? (path: string, line: number, side: Side, body: string) =>
              apiJson<ReviewCommentView>(this.ia.reviewComments(this.n), {
                method: "POST",
                body: { path, line, side, body, commit_id: p.head.sha },
              })
          : undefined,
    });
    await diff.start();
    return h(
      "div",
      { class: "files-tab" },
      this.writer && open ? reviewForm(this.ia, p, () => this.refresh()) : null,
      diff.element,
    );
  }

  /** Reads the pull request again and re-renders the current tab (a merge, a review, a live change). */
  private async refresh(): Promise<void> {
    try {
      this.pull = await apiJson<PullView>(this.ia.pull(this.n));
    } catch {
      return; // keep what is shown; the next change tries again
    }
    if (this.tab === "conversation") await this.renderTab(false);
    else this.renderHeader();
  }

  /** Only the checks changed: re-read them and replace the box in place (keeps the merge form). */
  private async refreshChecks(): Promise<void> {
    const before = this.pull.head.sha;
    this.pull = await apiJson<PullView>(this.ia.pull(this.n)).catch(() => this.pull);
    if (this.pull.head.sha !== before || this.tab !== "conversation") return this.refresh();
    await this.loadChecks();
    this.body.querySelector(".checks-slot")?.replaceChildren(checksBox(this.checks, this.checksError));
    const slot = this.body.querySelector(".merge-slot");
    if (slot) {
      const kept = fieldValues(slot);
      slot.replaceChildren(mergeBox(this.ia, this.pull, this.writer, () => this.refresh()));
      restoreFields(slot, kept);
    }
  }

  private follow(): void {
    const url = new URL(this.ia.events(this.n), location.origin).toString();
    this.source = new EventSource(url, { fetch: browserFetch });
    let what = new Set<string>();
    this.source.addEventListener("changed", (ev) => {
      try {
        what.add(String((JSON.parse(ev.data) as { what?: string }).what ?? "pull"));
      } catch {
        what.add("pull");
      }
      clearTimeout(this.refreshTimer);
      this.refreshTimer = setTimeout(() => {
        const changes = what;
        what = new Set();
        void (changes.size === 1 && changes.has("checks") ? this.refreshChecks() : this.refresh());
      }, REFRESH_DEBOUNCE_MS);
    });
    window.addEventListener("pagehide", () => this.source?.close());
  }
}
