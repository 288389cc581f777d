/**
 * `/<owner>/<repo>/settings`, for those with `admin` on the repository: visibility, default
 * branch and description (`PATCH /api/repos/:owner/:repo`, only what changed), and collaborators
 * with their permission (`GET/PUT/DELETE /api/repos/:owner/:repo/collaborators[/:user]`).
 */
import { ApiError } from "../../../app/client/api-error";
import {
  type CollaboratorView,
  type RepoSettingsRequest,
  ROLES,
  type Role,
} from "../../../app/wire/accounts";
import type { RefListing, RepoView } from "../../../app/wire/api";
import { apiFetch, apiJson } from "../api";
import { h, main, notice, replace, setTitle } from "../dom";
import { actionButton, field, onSubmit, requireUser, select, statusLine } from "../forms";
import { api, urls } from "../routes";
import { loadRepo, repoHeader, repoNotFound } from "./repo";
import { listOf } from "./settings";

type Repo = RepoView & { description?: string | null };

export async function renderRepoSettings(owner: string, name: string): Promise<void> {
  if (!(await requireUser("Repository settings"))) return;
  let loaded: { repo: Repo; refs?: RefListing };
  try {
    loaded = await loadRepo(owner, name);
  } catch (err) {
    replace(main(), repoNotFound(owner, name, err));
    return;
  }
  const { repo, refs } = loaded;
  setTitle("Settings", `${repo.owner}/${repo.name}`);
  const collaborators = h("section", { class: "card", "aria-labelledby": "collab-title" });
  replace(
    main(),
    repoHeader(repo, "settings"),
    h("h1", { class: "visually-hidden" }, "Settings"),
    settingsForm(repo, refs),
    collaborators,
  );
  await collaboratorSection(repo, collaborators);
}

function settingsForm(repo: Repo, refs: RefListing | undefined): HTMLFormElement {
  const status = statusLine();
  const saved = h("p", { class: "muted", role: "status" });
  const branches = refs?.branches.map((b) => b.name) ?? [];
  if (!branches.includes(repo.default_branch)) branches.unshift(repo.default_branch);
  const radio = (v: "public" | "private", text: string) =>
    h(
      "label",
      null,
      h("input", { type: "radio", name: "visibility", value: v, checked: repo.visibility === v }),
      ` ${text}`,
    );
  const form = h(
    "form",
    { class: "stack card", "aria-labelledby": "general-title" },
    h("h2", { id: "general-title" }, "General"),
    h(
      "fieldset",
      { class: "inline" },
      h("legend", null, "Visibility"),
      radio("public", "Public: anyone can read it"),
      radio("private", "Private: only people with access see it"),
    ),
    ...select("default-branch", "Default branch", branches, repo.default_branch),
    h("label", { for: "description" }, "Description"),
    h(
      "textarea",
      { id: "description", name: "description", rows: 2, maxlength: 500 },
      repo.description ?? "",
    ),
    h("button", { type: "submit" }, "Save settings"),
    status,
    saved,
  );
  onSubmit(form, status, async (data) => {
    saved.textContent = "";
    const body: RepoSettingsRequest = {};
    const visibility = String(data.get("visibility")) as "public" | "private";
    if (visibility !== repo.visibility) body.visibility = visibility;
    const branch = String(data.get("default-branch"));
    if (branch !== repo.default_branch) body.default_branch = branch;
    const description = String(data.get("description") ?? "");
    if (description !== (repo.description ?? "")) body.description = description;
    if (Object.keys(body).length === 0) {
      saved.textContent = "Nothing changed.";
      return;
    }
    const updated = await apiJson<Repo>(api.repo(repo.owner, repo.name), { method: "PATCH", body });
    Object.assign(repo, body, updated ?? {});
    main().querySelector(".repo-header")?.replaceWith(repoHeader(repo, "settings"));
    saved.textContent = "Saved.";
  });
  return form;
}

async function collaboratorSection(repo: Repo, section: HTMLElement): Promise<void> {
  const list = h("div");
  const status = statusLine();
  const refresh = async () => {
    const items = listOf<CollaboratorView>(
      await apiJson(api.collaborators(repo.owner, repo.name)),
      "collaborators",
    );
    list.replaceChildren(collaboratorTable(repo, items, refresh, status));
  };
  replace(
    section,
    h("h2", { id: "collab-title" }, "Collaborators"),
    h(
      "p",
      { class: "muted" },
      "read: see and clone · write: push and run workflows · admin: these settings. The owner (and an organization's owners) always have admin.",
    ),
    list,
    status,
    addCollaboratorForm(repo, refresh),
  );
  try {
    await refresh();
  } catch (err) {
    const forbidden = err instanceof ApiError && (err.status === 403 || err.status === 404);
    replace(
      section,
      h("h2", { id: "collab-title" }, "Collaborators"),
      notice(
        forbidden ? "warning" : "error",
        forbidden
          ? `You need admin on ${repo.owner}/${repo.name} to manage its access.`
          : (err as Error).message,
      ),
    );
  }
}

const setPermission = (repo: Repo, user: string, permission: Role) =>
  apiFetch(api.collaborator(repo.owner, repo.name, user), { method: "PUT", body: { permission } });

function collaboratorTable(
  repo: Repo,
  items: CollaboratorView[],
  refresh: () => Promise<void>,
  status: HTMLElement,
): HTMLElement {
  if (items.length === 0) return h("p", { class: "muted" }, "No collaborators yet.");
  const rows = items.map((c) => {
    const perm = h(
      "select",
      { "aria-label": `Permission of ${c.username}` },
      ...ROLES.map((r) => h("option", { value: r, selected: r === c.permission }, r)),
    );
    perm.addEventListener("change", async () => {
      status.textContent = "";
      try {
        await setPermission(repo, c.username, perm.value as Role);
        await refresh();
      } catch (err) {
        status.textContent = (err as Error).message;
        perm.value = c.permission;
      }
    });
    return h(
      "tr",
      null,
      h("td", null, h("a", { href: urls.owner(c.username) }, c.username)),
      h("td", null, perm),
      h(
        "td",
        null,
        actionButton(
          "Remove",
          status,
          async () => {
            await apiFetch(api.collaborator(repo.owner, repo.name, c.username), { method: "DELETE" });
            await refresh();
          },
          { class: "button-danger", "aria-label": `Remove ${c.username}` },
        ),
      ),
    );
  });
  return h(
    "table",
    { class: "data collaborators" },
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        h("th", { scope: "col" }, "User"),
        h("th", { scope: "col" }, "Permission"),
        h("th", null),
      ),
    ),
    h("tbody", null, ...rows),
  );
}

function addCollaboratorForm(repo: Repo, refresh: () => Promise<void>): HTMLFormElement {
  const status = statusLine();
  const form = h(
    "form",
    { class: "stack", "aria-labelledby": "add-collab-title" },
    h("h3", { id: "add-collab-title" }, "Add a collaborator"),
    ...field("collab-name", "Username", { required: true, maxlength: 40 }),
    ...select("collab-permission", "Permission", ROLES, "read"),
    h("button", { type: "submit" }, "Add collaborator"),
    status,
  );
  onSubmit(form, status, async (data) => {
    await setPermission(
      repo,
      String(data.get("collab-name")).trim(),
      String(data.get("collab-permission")) as Role,
    );
    form.reset();
    await refresh();
  });
  return form;
}
