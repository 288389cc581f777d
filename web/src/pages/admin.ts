/**
 * The administrators' pages: `/admin/users` (every account with its state; create a user, who
 * gets a one-time link to set a password; suspend, unsuspend, unlock after failed sign-ins) and
 * `/admin/invites` (single-use sign-up links: create one, shown once; list them).
 */
import type {
  AdminUserView,
  CreatedInvite,
  CreatedUser,
  CreateUserRequest,
  InviteView,
  LockoutView,
} from "../../../app/wire/accounts";
import { apiFetch, apiJson } from "../api";
import { h, time } from "../dom";
import { actionButton, field, onSubmit, page, requireAdmin, shownOnce, statusLine } from "../forms";
import { api, urls } from "../routes";
import { listOf } from "./settings";

/** The admin pages' own menu. */
export function adminNav(current: "users" | "invites" | "audit"): HTMLElement {
  const link = (id: typeof current, label: string, href: string) =>
    h("a", { href, class: "tab", "aria-current": id === current ? "page" : undefined }, label);
  return h(
    "nav",
    { class: "tabs admin-tabs", "aria-label": "Administration" },
    link("users", "Users", urls.adminUsers()),
    link("invites", "Invites", urls.adminInvites()),
    link("audit", "Audit log", urls.adminAudit()),
  );
}

/** A link the server made (maybe a path): as a full URL, to be pasted into a message. */
const absolute = (url: string) => new URL(url, location.origin).href;

export async function renderAdminUsers(): Promise<void> {
  if (!(await requireAdmin("Users"))) return;
  const list = h("div");
  const status = statusLine();
  const created = h("div");
  const refresh = async () => {
    const [users, locks] = await Promise.all([
      apiJson(api.adminUsers()).then((a) => listOf<AdminUserView>(a, "users")),
      // Lockouts come from the sign-in limiter; the page still works without them.
      apiJson(api.lockouts()).then(
        (a) => listOf<LockoutView>(a, "lockouts"),
        () => [] as LockoutView[],
      ),
    ]);
    const until = new Map(locks.map((l) => [l.username.toLowerCase(), l.until]));
    for (const u of users) u.locked_until ??= until.get(u.username.toLowerCase()) ?? null;
    list.replaceChildren(userTable(users, refresh, status));
  };
  page(
    "Users",
    adminNav("users"),
    created,
    h(
      "section",
      { class: "card", "aria-labelledby": "users-title" },
      h("h2", { id: "users-title" }, "Accounts"),
      list,
      status,
    ),
    createUserForm(created, refresh),
  );
  await refresh().catch((err) => {
    status.textContent = (err as Error).message;
  });
}

function userState(u: AdminUserView): HTMLElement {
  const badges: (HTMLElement | string)[] = [];
  if (u.suspended) badges.push(h("span", { class: "badge badge-danger" }, "suspended"));
  if (u.locked_until && Date.parse(u.locked_until) > Date.now())
    badges.push(h("span", { class: "badge badge-warning", title: `until ${u.locked_until}` }, "locked"));
  if (!u.has_password) badges.push(h("span", { class: "badge" }, "no password"));
  if (badges.length === 0) badges.push(h("span", { class: "badge badge-public" }, "active"));
  return h("span", { class: "badges" }, ...badges);
}

function userTable(users: AdminUserView[], refresh: () => Promise<void>, status: HTMLElement): HTMLElement {
  const act = (label: string, user: string, method: string, url: string, danger = false) =>
    actionButton(
      label,
      status,
      async () => {
        await apiFetch(url, { method });
        await refresh();
      },
      { class: danger ? "button-danger" : "button-secondary", "aria-label": `${label} ${user}` },
    );
  const rows = users.map((u) => {
    const locked = Boolean(u.locked_until && Date.parse(u.locked_until) > Date.now());
    return h(
      "tr",
      { "data-user": u.username },
      h(
        "td",
        null,
        h("a", { href: urls.owner(u.username) }, u.username),
        u.admin ? " " : null,
        u.admin ? h("span", { class: "badge" }, "admin") : null,
      ),
      h("td", null, u.full_name),
      h("td", null, u.email ?? ""),
      h("td", null, userState(u)),
      h("td", null, time(u.created_at)),
      h(
        "td",
        { class: "actions-cell" },
        u.suspended
          ? act("Unsuspend", u.username, "DELETE", api.suspend(u.username))
          : act("Suspend", u.username, "POST", api.suspend(u.username), true),
        locked ? act("Unlock", u.username, "DELETE", api.lockout(u.username)) : null,
      ),
    );
  });
  return h(
    "table",
    { class: "data users" },
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        ...["User", "Name", "Email", "State", "Created", ""].map((c) => h("th", { scope: "col" }, c)),
      ),
    ),
    h("tbody", null, ...rows),
  );
}

function createUserForm(created: HTMLElement, refresh: () => Promise<void>): HTMLFormElement {
  const status = statusLine();
  const form = h(
    "form",
    { class: "stack card", "aria-labelledby": "new-user-title" },
    h("h2", { id: "new-user-title" }, "New user"),
    ...field("new-username", "Username", { required: true, maxlength: 40 }),
    ...field("new-full-name", "Full name (optional)", { maxlength: 100 }),
    ...field("new-email", "Email (optional)", { type: "email", maxlength: 254 }),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "new-admin" }), " Administrator"),
    h("p", { class: "hint muted" }, "The new user gets a one-time link to set a password; send it to them."),
    h("button", { type: "submit" }, "Create user"),
    status,
  );
  onSubmit(form, status, async (data) => {
    const text = (k: string) => String(data.get(k) ?? "").trim();
    const body: CreateUserRequest = { username: text("new-username") };
    if (text("new-full-name")) body.full_name = text("new-full-name");
    if (text("new-email")) body.email = text("new-email");
    if (data.get("new-admin")) body.admin = true;
    const res = await apiJson<CreatedUser>(api.adminUsers(), { method: "POST", body });
    created.replaceChildren(
      res.password_url
        ? shownOnce(
            `Password link for ${res.user.username}`,
            absolute(res.password_url),
            "Send this link to them: it sets their password once, expires, and is shown only now.",
          )
        : h("p", { role: "status" }, `Created ${res.user.username}.`),
    );
    form.reset();
    await refresh();
  });
  return form;
}

export async function renderAdminInvites(): Promise<void> {
  if (!(await requireAdmin("Invites"))) return;
  const list = h("div");
  const status = statusLine();
  const created = h("div");
  const refresh = async () => {
    const invites = listOf<InviteView>(await apiJson(api.invites()), "invites");
    list.replaceChildren(inviteTable(invites));
  };
  const create = actionButton("Create an invite link", status, async () => {
    const inv = await apiJson<CreatedInvite>(api.invites(), { method: "POST", body: {} });
    created.replaceChildren(
      shownOnce(
        "Invite link",
        absolute(inv.url),
        "Anyone with this link can create one account, once, until it expires. It is shown only now.",
      ),
    );
    await refresh();
  });
  page(
    "Invites",
    adminNav("invites"),
    h("p", null, create),
    status,
    created,
    h(
      "section",
      { class: "card", "aria-labelledby": "invites-title" },
      h("h2", { id: "invites-title" }, "Invite links"),
      list,
    ),
  );
  await refresh().catch((err) => {
    status.textContent = (err as Error).message;
  });
}

function inviteTable(invites: InviteView[]): HTMLElement {
  if (invites.length === 0) return h("p", { class: "muted" }, "No invites yet.");
  const state = (i: InviteView) =>
    i.used_at ? "used" : Date.parse(i.expires_at) <= Date.now() ? "expired" : "open";
  return h(
    "table",
    { class: "data invites" },
    h(
      "thead",
      null,
      h("tr", null, ...["#", "Created", "Expires", "State"].map((c) => h("th", { scope: "col" }, c))),
    ),
    h(
      "tbody",
      null,
      ...invites.map((i) =>
        h(
          "tr",
          null,
          h("td", null, String(i.id)),
          h("td", null, time(i.created_at)),
          h("td", null, time(i.expires_at)),
          h("td", null, i.used_at ? h("span", null, "used ", time(i.used_at)) : state(i)),
        ),
      ),
    ),
  );
}
