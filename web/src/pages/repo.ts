/**
 * The file browser: `/<owner>/<repo>`, `/<owner>/<repo>/tree/<ref>/<path>`, `.../blob/<ref>/<path>`.
 *
 * A ref is resolved to a commit once (`/refs/:ref`, cached 5 s); every tree and blob is then
 * fetched by that commit id, so its URL never changes meaning and the browser cache (and the
 * edge) answer repeat visits without the server. Moving around inside the repository does not
 * reload the page: links are real URLs, followed with history.pushState.
 */
import { ApiError } from "../../../app/client/api-error";
import type { MarkdownView, RefListing, RepoView, ResolvedRef, TreeEntry } from "../../../app/wire/api";
import { apiFetch, apiJson, serverConfig, signedIn } from "../api";
import { formatBytes, h, main, notice, replace, setTitle, trustedHtml } from "../dom";
import { api, type Route, urls } from "../routes";
import { newSessionButton } from "./home";

/** Text files up to this size are shown; larger ones are offered for download. */
export const MAX_TEXT_BYTES = 1024 * 1024;
/** As git does: a NUL byte in the first 8000 bytes means binary. */
const SNIFF_BYTES = 8000;
const README = /^readme(\.(md|markdown|txt|rst))?$/i;
const MARKDOWN = /\.(md|markdown)$/i;

type RepoRoute = Extract<Route, { page: "repo" }>;

class RefMissing extends Error {
  constructor(ref: string) {
    super(`There is no branch, tag or commit '${ref}' in this repository.`);
  }
}

interface Location {
  ref: string;
  path: string;
  view: "tree" | "blob";
}

class RepoBrowser {
  private readonly commits = new Map<string, Promise<string>>();
  private readonly content = h("div", { class: "repo-content", tabindex: "-1" });
  private readonly switcher = h("div", { class: "ref-switcher" });
  private readonly crumbs = h("nav", { class: "breadcrumbs", "aria-label": "Breadcrumb" });
  private loc!: Location;
  /** Incremented per render; a slower earlier render must not overwrite a newer one. */
  private generation = 0;

  constructor(
    private readonly repo: RepoView,
    private readonly refs: RefListing | undefined,
  ) {}

  /** Public content is read without the token, so shared caches and the fast path can serve it. */
  private get credentials(): boolean {
    return this.repo.visibility === "private";
  }

  mount(route: RepoRoute): void {
    const { owner, name } = this.repo;
    replace(
      main(),
      repoHeader(this.repo, "code"),
      h("div", { class: "toolbar" }, this.switcher, this.crumbs),
      branchList(this.repo, this.refs),
      this.content,
    );
    void deleteSection(this.repo).then((section) => section && main().append(section));
    main().addEventListener("click", (ev) => this.onClick(ev));
    window.addEventListener("popstate", () => {
      const r = parseRepoPath(location.pathname, owner, name);
      if (r) void this.show(this.locate(r), false);
    });
    void this.show(this.locate(route), false);
  }

  /** Splits `rest` into ref and path: the longest branch or tag name it starts with. */
  private locate(route: RepoRoute): Location {
    const rest = route.rest;
    if (rest.length === 0) return { ref: this.repo.default_branch, path: "", view: "tree" };
    const names = [...(this.refs?.branches ?? []), ...(this.refs?.tags ?? [])].map((r) => r.name);
    let take = 1;
    for (let i = rest.length; i > 1; i--) {
      if (names.includes(rest.slice(0, i).join("/"))) {
        take = i;
        break;
      }
    }
    return { ref: rest.slice(0, take).join("/"), path: rest.slice(take).join("/"), view: route.view };
  }

  private commit(ref: string): Promise<string> {
    let c = this.commits.get(ref);
    if (!c) {
      c = apiJson<ResolvedRef>(api.resolve(this.repo.owner, this.repo.name, ref), {
        credentials: this.credentials,
      }).then((r) => r.commit);
      c.catch(() => this.commits.delete(ref));
      this.commits.set(ref, c);
    }
    return c;
  }

  private onClick(ev: MouseEvent): void {
    const a = (ev.target as Element).closest("a[data-nav]") as HTMLAnchorElement | null;
    if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey)
      return;
    const r = parseRepoPath(new URL(a.href).pathname, this.repo.owner, this.repo.name);
    if (!r) return;
    ev.preventDefault();
    void this.show(this.locate(r), true);
  }

  private async show(loc: Location, push: boolean): Promise<void> {
    const gen = ++this.generation;
    this.loc = loc;
    const { owner, name } = this.repo;
    const url =
      loc.view === "tree"
        ? urls.tree(owner, name, loc.ref, loc.path)
        : urls.blob(owner, name, loc.ref, loc.path);
    if (push && url !== location.pathname) history.pushState(null, "", url);
    setTitle(...(loc.path ? [loc.path] : []), `${owner}/${name}`);
    this.renderSwitcher();
    this.renderCrumbs();
    this.content.setAttribute("aria-busy", "true");
    try {
      const commit = await this.commit(loc.ref).catch((err) => {
        throw err instanceof ApiError && err.status === 404 ? new RefMissing(loc.ref) : err;
      });
      const view = loc.view === "tree" ? await this.treeView(commit, loc) : await this.blobView(commit, loc);
      if (gen === this.generation) {
        replace(this.content, view);
        // The link that was followed is gone: keyboard and screen-reader users continue here.
        if (push) this.content.focus({ preventScroll: true });
      }
    } catch (err) {
      if (gen === this.generation) replace(this.content, errorView(err, loc, this.repo));
    } finally {
      if (gen === this.generation) this.content.removeAttribute("aria-busy");
    }
  }

  private renderSwitcher(): void {
    const select = h("select", { id: "ref-select", name: "ref" });
    const group = (label: string, refs: { name: string }[]) => {
      if (refs.length === 0) return;
      const g = h("optgroup", { label });
      for (const r of refs)
        g.append(h("option", { value: r.name, selected: r.name === this.loc.ref }, r.name));
      select.append(g);
    };
    group("Branches", this.refs?.branches ?? []);
    group("Tags", this.refs?.tags ?? []);
    const known = [...(this.refs?.branches ?? []), ...(this.refs?.tags ?? [])].some(
      (r) => r.name === this.loc.ref,
    );
    if (!known) {
      const label = /^[0-9a-f]{40,64}$/.test(this.loc.ref)
        ? `commit ${this.loc.ref.slice(0, 10)}`
        : this.loc.ref;
      select.prepend(h("option", { value: this.loc.ref, selected: true }, label));
    }
    select.addEventListener("change", () => {
      // The same place on the other ref; if it is not there, the page says so with a way back.
      void this.show({ ...this.loc, ref: select.value }, true);
    });
    replace(this.switcher, h("label", { for: "ref-select" }, "Branch or tag"), select);
  }

  private renderCrumbs(): void {
    const { owner, name } = this.repo;
    const parts = this.loc.path ? this.loc.path.split("/") : [];
    const list = h("ol");
    const item = (label: string, href: string | undefined) =>
      list.append(
        h(
          "li",
          null,
          href ? h("a", { href, "data-nav": true }, label) : h("span", { "aria-current": "page" }, label),
        ),
      );
    item(name, parts.length ? urls.tree(owner, name, this.loc.ref) : undefined);
    parts.forEach((p, i) => {
      const last = i === parts.length - 1;
      item(p, last ? undefined : urls.tree(owner, name, this.loc.ref, parts.slice(0, i + 1).join("/")));
    });
    replace(this.crumbs, list);
  }

  private async treeView(commit: string, loc: Location): Promise<Node> {
    const { owner, name } = this.repo;
    const entries = await apiJson<TreeEntry[]>(api.tree(owner, name, commit, loc.path), {
      credentials: this.credentials,
    });
    const sorted = [...entries].sort((a, b) =>
      a.type === "tree" && b.type !== "tree"
        ? -1
        : b.type === "tree" && a.type !== "tree"
          ? 1
          : a.name.localeCompare(b.name),
    );
    const rows = sorted.map((e) => {
      const path = loc.path ? `${loc.path}/${e.name}` : e.name;
      const href =
        e.type === "tree" ? urls.tree(owner, name, loc.ref, path) : urls.blob(owner, name, loc.ref, path);
      const link =
        e.type === "commit"
          ? h("span", { title: `submodule at ${e.sha}` }, `${e.name} @ ${e.sha.slice(0, 7)}`)
          : h("a", { href, "data-nav": true }, e.name);
      return h(
        "tr",
        null,
        h("td", { class: "name" }, h("span", { class: `icon icon-${e.type}`, "aria-hidden": "true" }), link),
        h("td", { class: "size" }, e.size !== undefined && e.type === "blob" ? formatBytes(e.size) : ""),
      );
    });
    if (loc.path) {
      const parent = loc.path.includes("/") ? loc.path.slice(0, loc.path.lastIndexOf("/")) : "";
      rows.unshift(
        h(
          "tr",
          null,
          h(
            "td",
            { class: "name" },
            h("span", { class: "icon icon-up", "aria-hidden": "true" }),
            h(
              "a",
              {
                href: urls.tree(owner, name, loc.ref, parent),
                "data-nav": true,
                "aria-label": "Parent directory",
              },
              "..",
            ),
          ),
          h("td", { class: "size" }),
        ),
      );
    }
    const table = h(
      "table",
      { class: "tree" },
      h("caption", { class: "visually-hidden" }, `Files in ${loc.path || name} at ${loc.ref}`),
      h(
        "thead",
        null,
        h("tr", null, h("th", { scope: "col" }, "Name"), h("th", { scope: "col", class: "size" }, "Size")),
      ),
      h("tbody", null, ...rows),
    );
    const wrapper = h(
      "div",
      null,
      h("p", { class: "commit-line muted" }, "Commit ", h("code", { title: commit }, commit.slice(0, 10))),
      table,
    );
    const readme = sorted
      .filter((e) => e.type === "blob" && README.test(e.name))
      .sort((a, b) => readmeRank(a) - readmeRank(b))[0];
    if (readme)
      wrapper.append(
        await this.readmeView(commit, loc.path ? `${loc.path}/${readme.name}` : readme.name, readme),
      );
    return wrapper;
  }

  private async readmeView(commit: string, path: string, entry: TreeEntry): Promise<Node> {
    const section = h(
      "section",
      { class: "readme", "aria-labelledby": "readme-title" },
      h("h2", { id: "readme-title", class: "readme-title" }, entry.name),
    );
    try {
      section.append(await this.renderFile(commit, path, entry, true));
    } catch (err) {
      section.append(notice("error", `Could not show ${entry.name}: ${(err as Error).message}`));
    }
    return section;
  }

  /** The content of a file: rendered Markdown, text with line numbers, or a download offer. */
  private async renderFile(
    commit: string,
    path: string,
    entry: TreeEntry,
    preferRendered: boolean,
  ): Promise<Node> {
    const { owner, name } = this.repo;
    const size = entry.size ?? 0;
    if (size > MAX_TEXT_BYTES)
      return downloadOffer(this.repo, commit, path, size, "This file is too large to show.");
    if (preferRendered && MARKDOWN.test(path)) {
      const { html } = await apiJson<MarkdownView>(api.markdown(owner, name, commit, path), {
        credentials: this.credentials,
      });
      return h("div", { class: "markdown" }, trustedHtml(html));
    }
    const res = await apiFetch(api.blob(owner, name, commit, path), { credentials: this.credentials });
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.subarray(0, SNIFF_BYTES).includes(0)) {
      return downloadOffer(this.repo, commit, path, bytes.length, "This is a binary file.");
    }
    return codeView(new TextDecoder().decode(bytes));
  }

  private async blobView(commit: string, loc: Location): Promise<Node> {
    const { owner, name } = this.repo;
    if (!loc.path) return this.treeView(commit, { ...loc, view: "tree" });
    // The parent directory says what the path is and how big (cached: same commit, same URL).
    const slash = loc.path.lastIndexOf("/");
    const dir = slash < 0 ? "" : loc.path.slice(0, slash);
    const base = loc.path.slice(slash + 1);
    const entries = await apiJson<TreeEntry[]>(api.tree(owner, name, commit, dir), {
      credentials: this.credentials,
    });
    const entry = entries.find((e) => e.name === base);
    if (!entry) throw new ApiError(404, "not_found", `path '${loc.path}' not found`);
    if (entry.type === "tree") {
      // A link to a directory written as /blob/ (READMEs do that): show it as a directory.
      history.replaceState(null, "", urls.tree(owner, name, loc.ref, loc.path));
      this.loc = { ...loc, view: "tree" };
      return this.treeView(commit, this.loc);
    }
    if (entry.type === "commit") {
      return notice("info", `${base} is a submodule at commit `, h("code", null, entry.sha));
    }
    const markdown = entry.type === "blob" && MARKDOWN.test(base);
    const body = h("div", { class: "file-body" }, await this.renderFile(commit, loc.path, entry, markdown));
    const header = h(
      "div",
      { class: "file-header" },
      h("h1", { class: "file-name" }, base),
      h("span", { class: "muted" }, entry.size !== undefined ? formatBytes(entry.size) : ""),
      entry.type === "symlink" ? h("span", { class: "badge" }, "symlink") : null,
      h("span", { class: "spacer" }),
      markdown ? this.sourceToggle(commit, loc.path, entry, body) : null,
      downloadLink(this.repo, commit, loc.path, "Raw"),
    );
    return h("article", { class: "file" }, header, body);
  }

  private sourceToggle(commit: string, path: string, entry: TreeEntry, body: HTMLElement): HTMLElement {
    let rendered = true;
    const button = h(
      "button",
      { type: "button", class: "button-secondary", "aria-pressed": "false" },
      "Source",
    );
    button.addEventListener("click", async () => {
      rendered = !rendered;
      button.setAttribute("aria-pressed", String(!rendered));
      try {
        replace(body, await this.renderFile(commit, path, entry, rendered));
      } catch (err) {
        replace(body, notice("error", (err as Error).message));
      }
    });
    return button;
  }
}

const readmeRank = (e: TreeEntry) => (MARKDOWN.test(e.name) ? 0 : /\.txt$/i.test(e.name) ? 2 : 1);

function parseRepoPath(pathname: string, owner: string, repo: string): RepoRoute | undefined {
  const segments = pathname.split("/").slice(1).map(decodeURIComponent);
  if (segments[0] !== owner || segments[1] !== repo) return undefined;
  if (segments.length === 2) return { page: "repo", owner, repo, view: "tree", rest: [] };
  const view = segments[2];
  if (view !== "tree" && view !== "blob") return undefined;
  return { page: "repo", owner, repo, view, rest: segments.slice(3).filter(Boolean) };
}

/** Text with line numbers: a gutter and the code side by side, so copying takes only the code. */
export function codeView(text: string): HTMLElement {
  const lines = text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
  const numbers = lines.map((_, i) => i + 1).join("\n");
  return h(
    "div",
    { class: "code", role: "region", "aria-label": `File content, ${lines.length} lines`, tabindex: "0" },
    h("pre", { class: "gutter", "aria-hidden": "true" }, numbers),
    h("pre", { class: "lines" }, h("code", null, lines.join("\n"))),
  );
}

function downloadOffer(repo: RepoView, commit: string, path: string, size: number, why: string): HTMLElement {
  return h(
    "div",
    { class: "download-offer" },
    h("p", null, `${why} (${formatBytes(size)})`),
    downloadLink(repo, commit, path, "Download"),
  );
}

/**
 * A link to the file's bytes. A public file is a plain link (anyone, any cache). A private one
 * needs the token, which a link cannot carry: it is fetched and handed over as an object URL.
 */
function downloadLink(repo: RepoView, commit: string, path: string, label: string): HTMLElement {
  const url = api.blob(repo.owner, repo.name, commit, path);
  const file = path.slice(path.lastIndexOf("/") + 1);
  const a = h("a", { class: "button button-secondary", href: url, download: file }, label);
  if (repo.visibility === "private") {
    a.addEventListener("click", async (ev) => {
      ev.preventDefault();
      const blob = await (await apiFetch(url)).blob();
      const objectUrl = URL.createObjectURL(blob);
      const tmp = h("a", { href: objectUrl, download: file });
      tmp.click();
      setTimeout(() => URL.revokeObjectURL(objectUrl), 10_000);
    });
  }
  return a;
}

function errorView(err: unknown, loc: Location, repo: RepoView): HTMLElement {
  if (err instanceof RefMissing || (err instanceof ApiError && err.status === 404)) {
    return notice(
      "warning",
      h("p", null, err instanceof RefMissing ? err.message : `Not found at ${loc.ref}: ${err.message}.`),
      h(
        "p",
        null,
        h(
          "a",
          { href: urls.tree(repo.owner, repo.name, repo.default_branch), "data-nav": true },
          `Go to the root of ${repo.default_branch}`,
        ),
      ),
    );
  }
  return notice("error", `Could not load this page: ${(err as Error).message}`);
}

/**
 * For the repository's owner (or an admin), folded away below the files: delete it, once its full
 * name is typed, since it cannot be undone.
 */
async function deleteSection(repo: RepoView): Promise<HTMLElement | null> {
  const { user } = await serverConfig().catch(() => ({ user: null }));
  if (!user || (!user.admin && user.username !== repo.owner)) return null;
  const full = `${repo.owner}/${repo.name}`;
  const input = h("input", { id: "delete-confirm", autocomplete: "off", spellcheck: "false" });
  const status = h("p", { class: "inline-error", role: "alert" });
  const button = h("button", { type: "submit", class: "button-danger" }, "Delete this repository");
  const form = h(
    "form",
    { class: "stack" },
    h(
      "p",
      { class: "muted" },
      `This deletes ${full} with its history and workflow runs. It cannot be undone.`,
    ),
    h("label", { for: "delete-confirm" }, `Type ${full} to confirm`),
    input,
    button,
    status,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    status.textContent = "";
    if (input.value.trim() !== full) {
      status.textContent = `Type ${full} exactly to delete it.`;
      return;
    }
    button.disabled = true;
    try {
      await apiFetch(api.repo(repo.owner, repo.name), { method: "DELETE" });
      location.assign(urls.home());
    } catch (err) {
      status.textContent = (err as Error).message;
      button.disabled = false;
    }
  });
  return h("details", { class: "card delete-repo" }, h("summary", null, "Delete this repository"), form);
}

/**
 * The branches other than the default one, folded, each with "New pull request" (the compare view
 * of it against the default branch). Offered to those who may open one (write).
 */
function branchList(repo: RepoView, refs: RefListing | undefined): HTMLElement | null {
  const others = (refs?.branches ?? []).filter((b) => b.name !== repo.default_branch);
  if (others.length === 0 || repo.permission === "read") return null;
  return h(
    "details",
    { class: "card branch-list" },
    h("summary", null, `Branches (${others.length + 1})`),
    h(
      "ul",
      null,
      ...others.map((b) =>
        h(
          "li",
          { "data-branch": b.name },
          h("a", { href: urls.tree(repo.owner, repo.name, b.name) }, b.name),
          h("code", { class: "muted", title: b.commit }, b.commit.slice(0, 7)),
          h(
            "a",
            {
              class: "button button-secondary",
              href: urls.compare(repo.owner, repo.name, repo.default_branch, b.name),
            },
            "New pull request",
          ),
        ),
      ),
    ),
  );
}

/** The header shared by a repository's pages: name, visibility, tabs, clone URL. */
export type RepoTab = "code" | "issues" | "pulls" | "runs" | "settings";

export function repoHeader(repo: RepoView, tab: RepoTab): HTMLElement {
  const tabLink = (id: RepoTab, label: string, href: string) =>
    h("a", { href, class: "tab", "aria-current": tab === id ? "page" : undefined }, label);
  const cloneId = "clone-url";
  return h(
    "header",
    { class: "repo-header" },
    h(
      "div",
      { class: "repo-title" },
      h(
        "h1",
        null,
        h("span", { class: "owner" }, repo.owner),
        h("span", { class: "sep", "aria-hidden": "true" }, " / "),
        h("a", { href: urls.repo(repo.owner, repo.name) }, repo.name),
      ),
      h("span", { class: `badge badge-${repo.visibility}` }, repo.visibility),
      h("span", { class: "spacer" }),
      signedIn()
        ? newSessionButton(`${repo.owner}/${repo.name}`, "Chat with an agent about this repository")
        : null,
    ),
    h(
      "div",
      { class: "repo-meta" },
      h(
        "nav",
        { class: "tabs", "aria-label": "Repository" },
        tabLink("code", "Code", urls.repo(repo.owner, repo.name)),
        tabLink("issues", "Issues", urls.issues(repo.owner, repo.name)),
        tabLink("pulls", "Pull requests", urls.pulls(repo.owner, repo.name)),
        tabLink("runs", "Runs", urls.runs(repo.owner, repo.name)),
        signedIn() ? tabLink("settings", "Settings", urls.repoSettings(repo.owner, repo.name)) : null,
      ),
      h(
        "div",
        { class: "clone" },
        h("label", { for: cloneId }, "Clone"),
        h("input", {
          id: cloneId,
          readonly: true,
          value: repo.clone_url,
          size: 40,
          onfocus: (e: Event) => (e.target as HTMLInputElement).select(),
        }),
      ),
    ),
  );
}

/** Loads the repository (404 if it does not exist or is not visible) and its refs. */
export async function loadRepo(owner: string, name: string): Promise<{ repo: RepoView; refs?: RefListing }> {
  const [repo, refs] = await Promise.all([
    apiJson<RepoView>(api.repo(owner, name)),
    apiJson<RefListing>(api.refs(owner, name)).catch(() => undefined),
  ]);
  return { repo, refs };
}

export function repoNotFound(owner: string, name: string, err: unknown): HTMLElement {
  setTitle("Not found");
  if (err instanceof ApiError && err.status === 404) {
    return h(
      "div",
      { class: "page-narrow" },
      h("h1", null, "Repository not found"),
      notice(
        "warning",
        h("p", null, `There is no repository ${owner}/${name}, or you may not see it.`),
        signedIn()
          ? null
          : h(
              "p",
              null,
              h("a", { href: urls.login(location.pathname) }, "Sign in"),
              " to see private repositories.",
            ),
      ),
    );
  }
  return notice("error", `Could not load ${owner}/${name}: ${(err as Error).message}`);
}

export async function renderRepo(route: RepoRoute): Promise<void> {
  let loaded: Awaited<ReturnType<typeof loadRepo>>;
  try {
    loaded = await loadRepo(route.owner, route.repo);
  } catch (err) {
    replace(main(), repoNotFound(route.owner, route.repo, err));
    return;
  }
  new RepoBrowser(loaded.repo, loaded.refs).mount(route);
}
