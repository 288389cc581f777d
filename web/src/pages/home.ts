/** `/`: your repositories, a new repository, a new agent chat, recent chats; the demo when signed out. */
import type { UserView } from "../../../app/wire/accounts";
import type { RepoView, SessionList, SessionSummary, SessionView } from "../../../app/wire/api";
import { apiJson, serverConfig } from "../api";
import { h, main, notice, replace, setTitle, time } from "../dom";
import { api, urls } from "../routes";

/** How many recent chats the home page lists. */
const RECENT_CHATS = 10;

/** Creates a chat (about `repo`, if given) and opens it. */
export async function startSession(repo?: string, title?: string): Promise<void> {
  const s = await apiJson<SessionView>("/api/sessions", { method: "POST", body: { repo, title } });
  location.assign(urls.session(s.id));
}

/** A button that starts a chat about `repo`; errors appear next to it. */
export function newSessionButton(repo: string | undefined, label: string): HTMLElement {
  const status = h("span", { class: "inline-error", role: "alert" });
  const button = h("button", { type: "button" }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = "";
    try {
      await startSession(repo);
    } catch (err) {
      status.textContent = (err as Error).message;
      button.disabled = false;
    }
  });
  return h("span", { class: "new-session" }, button, status);
}

export async function renderHome(): Promise<void> {
  setTitle();
  const config = await serverConfig();
  if (!config.user) {
    replace(
      main(),
      h(
        "section",
        { class: "hero" },
        h("h1", null, "Plue"),
        h("p", { class: "lead" }, "Code hosting with AI agents and code-defined workflows."),
        h(
          "ul",
          { class: "actions" },
          h("li", null, h("a", { class: "button", href: urls.repo("demo", "hello") }, "Browse demo/hello")),
          h("li", null, h("a", { class: "button button-secondary", href: urls.login() }, "Sign in")),
        ),
        h(
          "p",
          { class: "muted" },
          "Public repositories can be browsed without signing in. `npm start` prints the admin's username, a link to set a password, and an admin token on first start.",
        ),
      ),
    );
    return;
  }
  const [repos, recent] = await Promise.all([
    apiJson<RepoView[]>(api.repos()).catch(() => [] as RepoView[]),
    apiJson<SessionList>(api.sessions(RECENT_CHATS)).then(
      (r) => r.sessions,
      () => [] as SessionSummary[],
    ),
  ]);
  replace(
    main(),
    h("h1", { class: "visually-hidden" }, "Home"),
    config.agents.configured
      ? null
      : notice("warning", config.agents.message ?? "Agents are not configured."),
    h("div", { class: "columns" }, reposSection(repos, config.user.username), chatSection(repos, recent)),
  );
}

function reposSection(repos: RepoView[], username: string): HTMLElement {
  const list = repos.length
    ? h(
        "ul",
        { class: "repo-list" },
        ...repos.map((r) =>
          h(
            "li",
            null,
            h("a", { href: urls.repo(r.owner, r.name) }, `${r.owner}/${r.name}`),
            " ",
            h("span", { class: `badge badge-${r.visibility}` }, r.visibility),
          ),
        ),
      )
    : h(
        "p",
        { class: "muted" },
        "You have no repositories yet. ",
        h("a", { href: urls.repo("demo", "hello") }, "Browse demo/hello"),
        ".",
      );
  return h(
    "section",
    { "aria-labelledby": "repos-title", class: "card" },
    h("h2", { id: "repos-title" }, "Your repositories"),
    list,
    newRepoForm(username),
  );
}

/** Who may own a new repository: you, or an organization you are in (shown only if there is one). */
function ownerPicker(username: string): HTMLElement {
  const select = h("select", { id: "repo-owner", name: "owner" }, h("option", { value: "" }, username));
  const wrap = h("div", { class: "stack", hidden: true }, h("label", { for: "repo-owner" }, "Owner"), select);
  void apiJson<UserView[]>(api.orgs())
    .then((orgs) => {
      for (const o of orgs) select.append(h("option", { value: o.username }, o.username));
      wrap.hidden = orgs.length === 0;
    })
    .catch(() => undefined); // no organizations to offer
  return wrap;
}

function newRepoForm(username: string): HTMLElement {
  const status = h("p", { class: "inline-error", role: "alert" });
  const form = h(
    "form",
    { class: "stack", "aria-labelledby": "new-repo-title" },
    h("h3", { id: "new-repo-title" }, "New repository"),
    ownerPicker(username),
    h("label", { for: "repo-name" }, "Name"),
    h("input", {
      id: "repo-name",
      name: "name",
      required: true,
      pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]*",
      autocomplete: "off",
    }),
    h(
      "fieldset",
      { class: "inline" },
      h("legend", null, "Visibility"),
      h(
        "label",
        null,
        h("input", { type: "radio", name: "visibility", value: "public", checked: true }),
        " Public",
      ),
      h("label", null, h("input", { type: "radio", name: "visibility", value: "private" }), " Private"),
    ),
    h("button", { type: "submit" }, "Create repository"),
    status,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    status.textContent = "";
    try {
      const repo = await apiJson<RepoView>(api.repos(), {
        method: "POST",
        body: {
          name: String(data.get("name")),
          visibility: String(data.get("visibility")),
          ...(data.get("owner") ? { owner: String(data.get("owner")) } : {}),
        },
      });
      location.assign(urls.repo(repo.owner, repo.name));
    } catch (err) {
      status.textContent = (err as Error).message;
    }
  });
  return form;
}

function chatSection(repos: RepoView[], recent: SessionSummary[]): HTMLElement {
  const status = h("p", { class: "inline-error", role: "alert" });
  const choices = ["demo/hello", ...repos.map((r) => `${r.owner}/${r.name}`)].filter(
    (v, i, a) => a.indexOf(v) === i,
  );
  const form = h(
    "form",
    { class: "stack" },
    h("label", { for: "chat-repo" }, "Repository"),
    h(
      "select",
      { id: "chat-repo", name: "repo" },
      h("option", { value: "" }, "None"),
      ...choices.map((c) => h("option", { value: c }, c)),
    ),
    h("label", { for: "chat-title" }, "Title (optional)"),
    h("input", { id: "chat-title", name: "title", maxlength: 200, autocomplete: "off" }),
    h("button", { type: "submit" }, "Start a chat"),
    status,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    status.textContent = "";
    try {
      await startSession(
        String(data.get("repo")) || undefined,
        String(data.get("title")).trim() || undefined,
      );
    } catch (err) {
      status.textContent = (err as Error).message;
    }
  });
  return h(
    "section",
    { "aria-labelledby": "chat-title-h", class: "card" },
    h("h2", { id: "chat-title-h" }, "Agent chat"),
    form,
    recent.length
      ? h(
          "div",
          null,
          h("h3", null, "Recent chats"),
          h(
            "ul",
            { class: "recent" },
            ...recent.map((s) =>
              h(
                "li",
                null,
                h("a", { href: urls.session(s.id) }, s.title || (s.repo ? `Chat about ${s.repo}` : "Chat")),
                " ",
                time(s.updated_at),
              ),
            ),
          ),
        )
      : null,
  );
}
