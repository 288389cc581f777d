/**
 * An organization's teams, on its page: each team gives its members one permission (`read`,
 * `write`, `admin`) on a set of the organization's repositories. Members see them; owners create
 * teams and add or remove a team's members and repositories (`/api/orgs/:org/teams…`).
 */
import { ROLES, type Role, type TeamView } from "../../../app/wire/accounts";
import { apiFetch, apiJson } from "../api";
import { h, replace } from "../dom";
import { actionButton, field, onSubmit, select, statusLine } from "../forms";
import { api, urls } from "../routes";
import { listOf } from "./settings";

const teamsUrl = api.teams;
const teamPart = api.teamPart;

/** Fills `section` with the teams of `org`; `canManage`: the caller owns it (or is an admin). */
export async function teamsSection(section: HTMLElement, org: string, canManage: boolean): Promise<void> {
  const list = h("div");
  const status = statusLine();
  const refresh = async () => {
    const teams = listOf<TeamView>(await apiJson(teamsUrl(org)), "teams");
    list.replaceChildren(
      teams.length
        ? h("ul", { class: "teams" }, ...teams.map((t) => teamItem(org, t, canManage, refresh, status)))
        : h("p", { class: "muted" }, "No teams yet."),
    );
  };
  replace(
    section,
    h("h2", { id: "teams-title" }, "Teams"),
    h(
      "p",
      { class: "muted" },
      "A team gives its members one permission on a set of this organization's repositories.",
    ),
    list,
    status,
    canManage ? createTeamForm(org, refresh) : null,
  );
  await refresh().catch((err) => {
    status.textContent = (err as Error).message;
  });
}

function teamItem(
  org: string,
  t: TeamView,
  canManage: boolean,
  refresh: () => Promise<void>,
  status: HTMLElement,
): HTMLElement {
  const part = (kind: "members" | "repos", name: string) => {
    const href = kind === "members" ? urls.owner(name) : urls.repo(org, name);
    const remove = canManage
      ? actionButton(
          "×",
          status,
          async () => {
            await apiFetch(teamPart(org, t.name, kind, name), { method: "DELETE" });
            await refresh();
          },
          { class: "link-button", "aria-label": `Remove ${name} from ${t.name}` },
        )
      : null;
    return h("li", null, h("a", { href }, name), remove ? " " : null, remove);
  };
  const adder = (kind: "members" | "repos", label: string) => {
    const id = `team-${t.id}-${kind}`;
    const s = statusLine();
    const form = h(
      "form",
      { class: "inline-form" },
      ...field(id, label, { required: true, maxlength: 100 }),
      h("button", { type: "submit", class: "button-secondary" }, "Add"),
      s,
    );
    onSubmit(form, s, async (data) => {
      await apiFetch(teamPart(org, t.name, kind, String(data.get(id)).trim()), { method: "PUT" });
      await refresh();
    });
    return form;
  };
  return h(
    "li",
    { class: "team", "data-team": t.name },
    h("h3", null, t.name, " ", h("span", { class: "badge" }, t.permission)),
    h(
      "div",
      { class: "team-part" },
      "Members: ",
      h("ul", { class: "inline-list" }, ...t.members.map((m) => part("members", m))),
    ),
    h(
      "div",
      { class: "team-part" },
      "Repositories: ",
      h("ul", { class: "inline-list" }, ...t.repos.map((r) => part("repos", r))),
    ),
    canManage
      ? h(
          "div",
          { class: "team-adders" },
          adder("members", `Add a member to ${t.name}`),
          adder("repos", `Add a repository to ${t.name}`),
        )
      : null,
  );
}

function createTeamForm(org: string, refresh: () => Promise<void>): HTMLFormElement {
  const status = statusLine();
  const form = h(
    "form",
    { class: "stack", "aria-labelledby": "new-team-title" },
    h("h3", { id: "new-team-title" }, "New team"),
    ...field("team-name", "Team name", { required: true, maxlength: 64 }),
    ...select("team-permission", "Team permission", ROLES, "read"),
    h("button", { type: "submit" }, "Create team"),
    status,
  );
  onSubmit(form, status, async (data) => {
    await apiJson(teamsUrl(org), {
      method: "POST",
      body: {
        name: String(data.get("team-name")).trim(),
        permission: String(data.get("team-permission")) as Role,
      },
    });
    form.reset();
    await refresh();
  });
  return form;
}
