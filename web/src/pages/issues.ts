/**
 * Issues: `/<owner>/<repo>/issues` (the list: open/closed, label, author, paged),
 * `/issues/new` (the form) and `/issues/<n>` (one issue: body, comments and timeline
 * interleaved, a comment box, close/reopen, labels for writers). The conversation parts are
 * shared with the pull request page (./conversation.ts).
 */
import { ApiError } from "../../../app/client/api-error";
import type { RepoView } from "../../../app/wire/api";
import type { CommentView, IssueView, Page, TimelineEventView } from "../../../app/wire/pulls";
import { apiJson, issueApi, itemsOf, signedIn } from "../api";
import { h, main, notice, replace, setTitle, time } from "../dom";
import { onSubmit, statusLine } from "../forms";
import { urls } from "../routes";
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
import { loadRepo, repoHeader, repoNotFound } from "./repo";

const PER_PAGE = 30;

async function repoOrNotFound(owner: string, name: string): Promise<RepoView | undefined> {
  try {
    return (await loadRepo(owner, name)).repo;
  } catch (err) {
    replace(main(), repoNotFound(owner, name, err));
    return undefined;
  }
}

// ---- the list ----------------------------------------------------------------------------------

export interface ListFilters {
  state: "open" | "closed" | "all";
  labels: string;
  author: string;
  page: number;
}

export function readFilters(): ListFilters {
  const q = new URLSearchParams(location.search);
  const state = q.get("state");
  const page = Number(q.get("page"));
  return {
    state: state === "closed" || state === "all" ? state : "open",
    labels: q.get("labels") ?? "",
    author: q.get("author") ?? "",
    page: Number.isInteger(page) && page > 0 ? page : 1,
  };
}

const filterQuery = (f: ListFilters) => {
  const p = new URLSearchParams();
  if (f.state !== "open") p.set("state", f.state);
  if (f.labels) p.set("labels", f.labels);
  if (f.author) p.set("author", f.author);
  if (f.page > 1) p.set("page", String(f.page));
  return p.toString();
};

/** The filter form of the issue and pull request lists; submitting it loads the filtered page. */
export function filterForm(f: ListFilters, href: (query: string) => string): HTMLFormElement {
  const form = h(
    "form",
    { class: "filters", role: "search" },
    h("label", { for: "f-state" }, "State"),
    h(
      "select",
      { id: "f-state", name: "state" },
      ...(["open", "closed", "all"] as const).map((s) =>
        h("option", { value: s, selected: s === f.state }, s),
      ),
    ),
    h("label", { for: "f-labels" }, "Labels"),
    h("input", { id: "f-labels", name: "labels", value: f.labels, placeholder: "bug,ui", size: 14 }),
    h("label", { for: "f-author" }, "Author"),
    h("input", { id: "f-author", name: "author", value: f.author, size: 12 }),
    h("button", { type: "submit", class: "button-secondary" }, "Filter"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const d = new FormData(form);
    const next: ListFilters = {
      state: String(d.get("state")) as ListFilters["state"],
      labels: String(d.get("labels") ?? "").trim(),
      author: String(d.get("author") ?? "").trim(),
      page: 1,
    };
    location.assign(href(filterQuery(next)));
  });
  return form;
}

/** "Newer / Older" links of a paged list. */
export function pager(f: ListFilters, page: Page<unknown>, href: (query: string) => string): HTMLElement {
  return h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    f.page > 1 ? h("a", { href: href(filterQuery({ ...f, page: f.page - 1 })) }, "Previous page") : null,
    h("span", { class: "muted" }, `Page ${f.page} · ${page.total} in all`),
    page.next_page ? h("a", { href: href(filterQuery({ ...f, page: page.next_page })) }, "Next page") : null,
  );
}

export async function renderIssues(owner: string, name: string): Promise<void> {
  setTitle("Issues", `${owner}/${name}`);
  const repo = await repoOrNotFound(owner, name);
  if (!repo) return;
  const f = readFilters();
  const list = h("div", { class: "issue-list", "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  const href = (q: string) => urls.issues(owner, name, q);
  replace(
    main(),
    repoHeader(repo, "issues"),
    h(
      "div",
      { class: "list-toolbar" },
      h("h2", null, "Issues"),
      filterForm(f, href),
      h("span", { class: "spacer" }),
      repo.permission !== "read" && signedIn()
        ? h("a", { class: "button", href: urls.newIssue(owner, name) }, "New issue")
        : null,
    ),
    list,
  );
  try {
    const page = await apiJson<Page<IssueView>>(
      issueApi(owner, name).issues({
        state: f.state,
        labels: f.labels || undefined,
        author: f.author || undefined,
        page: f.page,
        per_page: PER_PAGE,
      }),
    );
    // Pull requests are issues too; GitHub's issue list leaves them out, and so does this one.
    const issues = itemsOf<IssueView>(page).filter((i) => !i.pull_request);
    replace(
      list,
      issues.length
        ? h("ul", { class: "issues" }, ...issues.map((i) => issueRow(repo, i)))
        : h("p", { class: "empty" }, "No issues match."),
      pager(f, page, href),
    );
  } catch (err) {
    replace(list, notice("error", `Could not load the issues: ${(err as Error).message}`));
  } finally {
    list.removeAttribute("aria-busy");
  }
}

function issueRow(repo: RepoView, i: IssueView): HTMLElement {
  return h(
    "li",
    { class: "issue-row", "data-number": i.number },
    stateBadge(i),
    h("a", { class: "issue-title", href: urls.issue(repo.owner, repo.name, i.number) }, i.title),
    ...i.labels.map(labelChip),
    h(
      "span",
      { class: "muted issue-meta" },
      `#${i.number} opened `,
      time(i.created_at),
      ` by ${userName(i.user)}`,
      i.comments ? ` · ${i.comments} comment${i.comments === 1 ? "" : "s"}` : "",
    ),
  );
}

// ---- a new issue -------------------------------------------------------------------------------

export async function renderNewIssue(owner: string, name: string): Promise<void> {
  setTitle("New issue", `${owner}/${name}`);
  const repo = await repoOrNotFound(owner, name);
  if (!repo) return;
  if (!signedIn()) {
    replace(
      main(),
      repoHeader(repo, "issues"),
      notice("info", h("a", { href: urls.login(location.pathname) }, "Sign in"), " to open an issue."),
    );
    return;
  }
  const status = statusLine();
  const form = h(
    "form",
    { class: "stack card issue-form" },
    h("h2", null, "New issue"),
    h("label", { for: "issue-title" }, "Title"),
    h("input", { id: "issue-title", name: "title", required: true, maxlength: 256, size: 60 }),
    h("label", { for: "issue-body" }, "Description (Markdown)"),
    h("textarea", { id: "issue-body", name: "body", rows: 10, cols: 80 }),
    h("button", { type: "submit" }, "Open issue"),
    status,
  );
  onSubmit(form, status, async (d) => {
    const created = await apiJson<IssueView>(issueApi(owner, name).issues(), {
      method: "POST",
      body: { title: String(d.get("title") ?? ""), body: String(d.get("body") ?? "") },
    });
    location.assign(urls.issue(owner, name, created.number));
  });
  replace(main(), repoHeader(repo, "issues"), form);
}

// ---- one issue ---------------------------------------------------------------------------------

export async function renderIssue(owner: string, name: string, n: number): Promise<void> {
  setTitle(`Issue #${n}`, `${owner}/${name}`);
  const repo = await repoOrNotFound(owner, name);
  if (!repo) return;
  const issuePage = new IssuePage(repo, n);
  await issuePage.load(true);
}

class IssuePage {
  private readonly root = h("div", { class: "issue-page" });
  private readonly ia: ReturnType<typeof issueApi>;

  constructor(
    private readonly repo: RepoView,
    private readonly n: number,
  ) {
    this.ia = issueApi(repo.owner, repo.name);
  }

  async load(first = false): Promise<void> {
    let issue: IssueView;
    let comments: CommentView[];
    let timeline: TimelineEventView[];
    try {
      [issue, comments, timeline] = await Promise.all([
        apiJson<IssueView>(this.ia.issue(this.n)),
        apiJson<unknown>(`${this.ia.comments(this.n)}?per_page=100`).then((a) => itemsOf<CommentView>(a)),
        apiJson<unknown>(`${this.ia.timeline(this.n)}?per_page=100`)
          .then((a) => itemsOf<TimelineEventView>(a))
          .catch(() => []),
      ]);
    } catch (err) {
      const missing = err instanceof ApiError && err.status === 404;
      replace(
        main(),
        repoHeader(this.repo, "issues"),
        notice(
          missing ? "warning" : "error",
          missing ? `There is no issue #${this.n}.` : (err as Error).message,
        ),
      );
      return;
    }
    if (issue.pull_request) {
      // The same number as a pull request: its own page.
      location.replace(urls.pull(this.repo.owner, this.repo.name, this.n));
      return;
    }
    this.render(issue, comments, timeline);
    if (first) replace(main(), repoHeader(this.repo, "issues"), this.root);
  }

  private render(issue: IssueView, comments: CommentView[], timeline: TimelineEventView[]): void {
    setTitle(`${issue.title} #${issue.number}`, `${this.repo.owner}/${this.repo.name}`);
    const writer = this.repo.permission !== "read" && signedIn();
    const reload = () => this.load();
    replace(
      this.root,
      h(
        "div",
        { class: "issue-header" },
        titleHeading(issue, writer ? this.ia.issue(this.n) : undefined, reload),
        h(
          "p",
          null,
          stateBadge(issue),
          " ",
          h("strong", null, userName(issue.user)),
          " opened this ",
          time(issue.created_at),
          ` · ${issue.comments} comment${issue.comments === 1 ? "" : "s"}`,
        ),
      ),
      h(
        "div",
        { class: "issue-layout" },
        h(
          "div",
          { class: "issue-main" },
          openingPost(issue, signedIn() ? this.ia.reactions(this.n) : undefined),
          conversation({ comments, timeline }),
          writer ? commentBox(this.ia, issue, reload) : signInToComment(),
        ),
        h(
          "aside",
          { class: "issue-sidebar", "aria-label": "Details" },
          labelsEditor(this.ia, issue, writer, reload),
          assigneesEditor(this.ia, issue, writer, reload),
        ),
      ),
    );
  }
}

export function signInToComment(): HTMLElement | null {
  if (signedIn()) return null;
  return h(
    "p",
    { class: "muted" },
    h("a", { href: urls.login(location.pathname) }, "Sign in"),
    " to join the conversation.",
  );
}
