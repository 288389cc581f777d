/**
 * Organizations: `/orgs/new` (create one; you become its owner) and `/<name>`, the page of a user
 * or an organization. An organization's page lists its members; its owners (and admins) add
 * members, change their role and remove them (`PUT/DELETE /api/orgs/:org/members/:user`).
 */
import { ApiError } from "../../../app/client/api-error";
import { ORG_ROLES, type OrgMemberView, type OrgRole, type UserView } from "../../../app/wire/accounts";
import type { RepoView } from "../../../app/wire/api";
import { apiFetch, apiJson, serverConfig } from "../api";
import { h, main, notice, replace, setTitle, time } from "../dom";
import { actionButton, field, onSubmit, page, requireUser, select, statusLine } from "../forms";
import { api, urls } from "../routes";
import { teamsSection } from "./org-teams";
import { listOf } from "./settings";

/** `/orgs/new`. */
export async function renderNewOrg(): Promise<void> {
  if (!(await requireUser("New organization"))) return;
  const status = statusLine();
  const form = h(
    "form",
    { class: "stack card" },
    ...field("org-name", "Name", { required: true, maxlength: 40, pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]*" }),
    h(
      "p",
      { class: "hint muted" },
      "Letters, digits, '.', '_' and '-'; it is the first part of its repositories' URLs.",
    ),
    ...field("org-full-name", "Display name (optional)", { maxlength: 100 }),
    h("button", { type: "submit" }, "Create organization"),
    status,
  );
  onSubmit(form, status, async (data) => {
    const name = String(data.get("org-name")).trim();
    const fullName = String(data.get("org-full-name")).trim();
    await apiJson(api.orgs(), {
      method: "POST",
      body: { name, ...(fullName ? { full_name: fullName } : {}) },
    });
    location.assign(urls.owner(name));
  });
  page("New organization", form);
}

/** `/<name>`: a user or an organization. */
export async function renderOwner(name: string): Promise<void> {
  let owner: UserView;
  try {
    owner = await apiJson<UserView>(api.user(name));
  } catch (err) {
    setTitle("Not found");
    replace(
      main(),
      h(
        "div",
        { class: "page-narrow" },
        h("h1", null, "Not found"),
        err instanceof ApiError && err.status === 404
          ? notice("warning", `There is no user or organization ${name}.`)
          : notice("error", (err as Error).message),
      ),
    );
    return;
  }
  if (owner.kind === "org") return renderOrg(owner);
  page(
    owner.full_name ? `${owner.full_name} (${owner.username})` : owner.username,
    h("p", { class: "muted" }, owner.admin ? "Administrator · " : "", "Joined ", time(owner.created_at)),
  );
}

async function renderOrg(org: UserView): Promise<void> {
  const { user } = await serverConfig();
  const title = org.full_name ? `${org.full_name} (${org.username})` : org.username;
  const about = h("p", { class: "muted" }, "Organization · created ", time(org.created_at));
  if (!user) {
    page(
      title,
      about,
      notice(
        "info",
        h("a", { href: urls.login(location.pathname) }, "Sign in"),
        " to see its members and repositories.",
      ),
    );
    return;
  }
  const list = h("div");
  const repos = h("div");
  const status = statusLine();
  const manage = addMemberForm(org.username, () => refresh());
  const newRepo = newRepoForm(org.username);
  manage.hidden = true;
  newRepo.hidden = true;
  const teams = h("section", { class: "card", "aria-labelledby": "teams-title", hidden: true });
  let teamsShown = false;
  const refresh = async () => {
    const members = listOf<OrgMemberView>(await apiJson(api.orgMembers(org.username)), "members");
    const mine = members.find((m) => m.username === user.username);
    const canManage = user.admin || mine?.role === "owner";
    list.replaceChildren(memberTable(org.username, members, canManage, refresh, status));
    manage.hidden = !canManage;
    newRepo.hidden = !(mine || user.admin);
    // Teams are for members to see (the API refuses others): loaded once, when that is known.
    if ((mine || user.admin) && !teamsShown) {
      teamsShown = true;
      teams.hidden = false;
      void teamsSection(teams, org.username, canManage);
    }
  };
  page(
    title,
    about,
    h(
      "section",
      { class: "card", "aria-labelledby": "org-repos-title" },
      h("h2", { id: "org-repos-title" }, "Repositories"),
      repos,
      newRepo,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "members-title" },
      h("h2", { id: "members-title" }, "Members"),
      list,
      status,
    ),
    manage,
    teams,
  );
  await Promise.all([
    refresh().catch((err) => {
      status.textContent =
        err instanceof ApiError && err.status === 404
          ? "Only members of this organization see its members."
          : (err as Error).message;
    }),
    repoList(org.username).then((el) => repos.replaceChildren(el)),
  ]);
}

/** The organization's repositories that the caller can see (`GET /api/repos`: theirs and their orgs'). */
async function repoList(org: string): Promise<HTMLElement> {
  const all = await apiJson<RepoView[]>(api.repos()).catch(() => [] as RepoView[]);
  const mine = all.filter((r) => r.owner.toLowerCase() === org.toLowerCase());
  if (mine.length === 0) return h("p", { class: "muted" }, "No repositories you can see.");
  return h(
    "ul",
    { class: "repo-list" },
    ...mine.map((r) =>
      h(
        "li",
        null,
        h("a", { href: urls.repo(r.owner, r.name) }, `${r.owner}/${r.name}`),
        " ",
        h("span", { class: `badge badge-${r.visibility}` }, r.visibility),
      ),
    ),
  );
}

/** For members: a repository owned by the organization. */
function newRepoForm(org: string): HTMLFormElement {
  const status = statusLine();
  const form = h(
    "form",
    { class: "stack", "aria-labelledby": "org-new-repo-title" },
    h("h3", { id: "org-new-repo-title" }, `New repository in ${org}`),
    ...field("org-repo-name", "Repository name", { required: true, maxlength: 100 }),
    h(
      "fieldset",
      { class: "inline" },
      h("legend", null, "Visibility"),
      h(
        "label",
        null,
        h("input", { type: "radio", name: "visibility", value: "private", checked: true }),
        " Private",
      ),
      h("label", null, h("input", { type: "radio", name: "visibility", value: "public" }), " Public"),
    ),
    h("button", { type: "submit" }, "Create repository"),
    status,
  );
  onSubmit(form, status, async (data) => {
    const repo = await apiJson<RepoView>(api.repos(), {
      method: "POST",
      body: {
        name: String(data.get("org-repo-name")).trim(),
        visibility: String(data.get("visibility")),
        owner: org,
      },
    });
    location.assign(urls.repo(repo.owner, repo.name));
  });
  return form;
}

function memberTable(
  org: string,
  members: OrgMemberView[],
  canManage: boolean,
  refresh: () => Promise<void>,
  status: HTMLElement,
): HTMLElement {
  if (members.length === 0) return h("p", { class: "muted" }, "No members.");
  const rows = members.map((m) => {
    const role = canManage ? roleSelect(org, m, refresh, status) : m.role;
    const remove = canManage
      ? actionButton(
          "Remove",
          status,
          async () => {
            await apiFetch(api.orgMember(org, m.username), { method: "DELETE" });
            await refresh();
          },
          { class: "button-danger", "aria-label": `Remove ${m.username}` },
        )
      : null;
    return h(
      "tr",
      null,
      h("td", null, h("a", { href: urls.owner(m.username) }, m.username)),
      h("td", null, role),
      canManage ? h("td", null, remove) : null,
    );
  });
  return h(
    "table",
    { class: "data members" },
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        h("th", { scope: "col" }, "User"),
        h("th", { scope: "col" }, "Role"),
        canManage ? h("th", null) : null,
      ),
    ),
    h("tbody", null, ...rows),
  );
}

function roleSelect(
  org: string,
  m: OrgMemberView,
  refresh: () => Promise<void>,
  status: HTMLElement,
): HTMLElement {
  const s = h(
    "select",
    { "aria-label": `Role of ${m.username}` },
    ...ORG_ROLES.map((r) => h("option", { value: r, selected: r === m.role }, r)),
  );
  s.addEventListener("change", async () => {
    status.textContent = "";
    s.disabled = true;
    try {
      await setRole(org, m.username, s.value as OrgRole);
      await refresh();
    } catch (err) {
      status.textContent = (err as Error).message;
      s.value = m.role;
    } finally {
      s.disabled = false;
    }
  });
  return s;
}

const setRole = (org: string, user: string, role: OrgRole) =>
  apiFetch(api.orgMember(org, user), { method: "PUT", body: { role } });

function addMemberForm(org: string, refresh: () => Promise<void>): HTMLFormElement {
  const status = statusLine();
  const form = h(
    "form",
    { class: "stack card", "aria-labelledby": "add-member-title" },
    h("h2", { id: "add-member-title" }, "Add a member"),
    ...field("member-name", "Username", { required: true, maxlength: 40 }),
    ...select("member-role", "Role", ORG_ROLES, "member"),
    h("button", { type: "submit" }, "Add member"),
    status,
  );
  onSubmit(form, status, async (data) => {
    await setRole(org, String(data.get("member-name")).trim(), String(data.get("member-role")) as OrgRole);
    form.reset();
    await refresh();
  });
  return form;
}
