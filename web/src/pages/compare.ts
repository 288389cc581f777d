/**
 * `/<owner>/<repo>/compare/<base>...<head>`: two branches compared (the commits of head not in
 * base, and the diff from their merge base, `GET /api/repos/:o/:r/compare/:base...:head`), and
 * the form that opens a pull request from them (title, body, draft), which then goes to its page.
 */
import type { RefListing, RepoView } from "../../../app/wire/api";
import type { CompareView, PullView } from "../../../app/wire/pulls";
import { apiJson, issueApi, itemsOf, signedIn } from "../api";
import { h, main, notice, replace, setTitle, time } from "../dom";
import { errorText, onSubmit, statusLine } from "../forms";
import { urls } from "../routes";
import { DiffView } from "./diff";
import { loadRepo, repoHeader, repoNotFound } from "./repo";

export async function renderCompare(
  owner: string,
  name: string,
  baseRef: string,
  head: string,
): Promise<void> {
  setTitle("Compare", `${owner}/${name}`);
  let repo: RepoView;
  let refs: RefListing | undefined;
  try {
    ({ repo, refs } = await loadRepo(owner, name));
  } catch (err) {
    replace(main(), repoNotFound(owner, name, err));
    return;
  }
  const base = baseRef || repo.default_branch;
  const content = h("div", { class: "compare-content" });
  replace(
    main(),
    repoHeader(repo, "pulls"),
    h("h2", null, "Compare changes"),
    chooser(repo, refs, base, head),
    content,
  );
  if (!head) {
    replace(
      content,
      h("p", { class: "muted" }, "Choose the branch with your changes to compare it with the base branch."),
    );
    return;
  }
  setTitle(`Compare ${base}...${head}`, `${owner}/${name}`);
  if (head === base) {
    replace(
      content,
      notice("info", "Choose two different branches: a branch compared with itself has no changes."),
    );
    return;
  }
  const ia = issueApi(owner, name);
  let first: CompareView;
  try {
    first = await apiJson<CompareView>(ia.compare(base, head));
  } catch (err) {
    replace(content, notice("error", `Could not compare ${base} with ${head}: ${errorText(err)}`));
    return;
  }
  const diff = new DiffView({
    load: async (page, perPage) =>
      page === 1 ? first.files : (await apiJson<CompareView>(ia.compare(base, head, page, perPage))).files,
  });
  const [, existing] = await Promise.all([diff.start(), openPull(repo, base, head)]);
  replace(
    content,
    existing
      ? notice(
          "info",
          "A pull request for these branches is already open: ",
          h("a", { href: urls.pull(owner, name, existing.number) }, `${existing.title} #${existing.number}`),
        )
      : repo.permission !== "read" && signedIn()
        ? pullForm(repo, base, head, first)
        : null,
    h("h3", null, `${first.commits.length} commit${first.commits.length === 1 ? "" : "s"}`),
    first.commits.length
      ? h(
          "ol",
          { class: "commits" },
          ...first.commits.map((c) =>
            h(
              "li",
              { class: "commit", "data-sha": c.sha },
              h("span", { class: "commit-title" }, c.title),
              h("span", { class: "muted" }, ` ${c.author.name} · `, time(c.author.date)),
              h("span", { class: "spacer" }),
              h("code", { title: c.sha }, c.sha.slice(0, 7)),
            ),
          ),
        )
      : h("p", { class: "muted" }, `${head} has no commits that ${base} does not have.`),
    diff.element,
  );
}

/** The open pull request from head into base, if there is one (GitHub allows only one). */
async function openPull(repo: RepoView, base: string, head: string): Promise<PullView | undefined> {
  try {
    const page = await apiJson<unknown>(
      issueApi(repo.owner, repo.name).pulls({ state: "open", per_page: 100 }),
    );
    return itemsOf<PullView>(page).find((p) => p.head.ref === head && p.base.ref === base);
  } catch {
    return undefined; // the form stays; the server refuses a duplicate in its own words
  }
}

/** Two branch selects; changing one loads that comparison. */
function chooser(repo: RepoView, refs: RefListing | undefined, base: string, head: string): HTMLElement {
  const names = (refs?.branches ?? []).map((b) => b.name);
  const select = (id: string, label: string, value: string, placeholder?: string) => {
    const s = h(
      "select",
      { id, name: id },
      placeholder ? h("option", { value: "", selected: !value }, placeholder) : null,
      ...names.map((n) => h("option", { value: n, selected: n === value }, n)),
    );
    if (value && !names.includes(value)) s.prepend(h("option", { value, selected: true }, value));
    return [h("label", { for: id }, label), s] as const;
  };
  const [baseLabel, baseSelect] = select("compare-base", "Base", base);
  const [headLabel, headSelect] = select("compare-head", "Compare", head, "choose a branch");
  const go = () => {
    if (headSelect.value)
      location.assign(urls.compare(repo.owner, repo.name, baseSelect.value, headSelect.value));
  };
  baseSelect.addEventListener("change", go);
  headSelect.addEventListener("change", go);
  return h(
    "div",
    { class: "compare-chooser toolbar" },
    baseLabel,
    baseSelect,
    h("span", { "aria-hidden": "true" }, "←"),
    headLabel,
    headSelect,
  );
}

function pullForm(repo: RepoView, base: string, head: string, cmp: CompareView): HTMLElement {
  const status = statusLine();
  const only = cmp.commits.length === 1 ? cmp.commits[0] : undefined;
  const title = only ? only.title : head.replace(/[-_/]+/g, " ");
  const body = only ? only.message.split("\n").slice(1).join("\n").trim() : "";
  const form = h(
    "form",
    { class: "stack card pull-form" },
    h("h3", null, "Open a pull request"),
    h("label", { for: "pull-title" }, "Title"),
    h("input", { id: "pull-title", name: "title", required: true, maxlength: 256, size: 60, value: title }),
    h("label", { for: "pull-body" }, "Description (Markdown)"),
    h("textarea", { id: "pull-body", name: "body", rows: 8, cols: 80 }, body),
    h(
      "label",
      { class: "check" },
      h("input", { type: "checkbox", name: "draft", id: "pull-draft" }),
      " Open as a draft",
    ),
    h("button", { type: "submit" }, "Create pull request"),
    status,
  );
  onSubmit(form, status, async (d) => {
    const created = await apiJson<PullView>(issueApi(repo.owner, repo.name).pulls(), {
      method: "POST",
      body: {
        title: String(d.get("title") ?? ""),
        body: String(d.get("body") ?? ""),
        head,
        base,
        draft: d.get("draft") === "on",
      },
    });
    location.assign(urls.pull(repo.owner, repo.name, created.number));
  });
  return form;
}
