/**
 * `/settings/tokens`: your personal access tokens. Create one with a name, its scopes and an
 * optional expiry; it is shown once (the server keeps only its hash); revoke any of them.
 */
import { type CreatedToken, SCOPES, type Scope, type TokenView } from "../../../app/wire/accounts";
import { apiFetch, apiJson } from "../api";
import { h, time } from "../dom";
import { actionButton, field, onSubmit, page, requireUser, shownOnce, statusLine } from "../forms";
import { api } from "../routes";

/** What each scope allows, in the words of docs/accounts.md. */
const SCOPE_TEXT: Record<Scope, string> = {
  "repo:read": "read repositories: clone, files, runs",
  "repo:write": "push, dispatch and cancel runs (includes repo:read)",
  "repo:admin": "repository settings, collaborators, delete (includes repo:write)",
  user: "your account: tokens, profile",
  admin: "administer the server: users, invites, audit log",
};

/** A list answer: a bare array, or an object holding one under `key`. */
export function listOf<T>(answer: unknown, key: string): T[] {
  if (Array.isArray(answer)) return answer as T[];
  const inner = (answer as Record<string, unknown> | null)?.[key];
  return Array.isArray(inner) ? (inner as T[]) : [];
}

export async function renderTokens(): Promise<void> {
  const user = await requireUser("Access tokens");
  if (!user) return;
  const list = h("div", { "aria-live": "polite" });
  const created = h("div");
  const refresh = async () => {
    const tokens = listOf<TokenView>(await apiJson(api.tokens()), "tokens");
    list.replaceChildren(tokenTable(tokens, refresh));
  };
  page(
    "Access tokens",
    h(
      "p",
      { class: "muted" },
      "Tokens let scripts and git clients act as you (git: your username and the token as password). Give each one only the scopes it needs.",
    ),
    created,
    h(
      "section",
      { class: "card", "aria-labelledby": "tokens-title" },
      h("h2", { id: "tokens-title" }, "Your tokens"),
      list,
    ),
    createForm(created, refresh),
  );
  await refresh().catch((err) => list.replaceChildren(statusWith(err)));
}

function statusWith(err: unknown): HTMLElement {
  const s = statusLine();
  s.textContent = (err as Error).message;
  return s;
}

function tokenTable(tokens: TokenView[], refresh: () => Promise<void>): HTMLElement {
  if (tokens.length === 0) return h("p", { class: "muted" }, "You have no tokens.");
  const status = statusLine();
  const rows = tokens.map((t) =>
    h(
      "tr",
      null,
      h("td", null, t.name),
      h("td", null, t.scopes ? t.scopes.join(", ") : "every scope"),
      h("td", null, time(t.created_at)),
      h("td", null, t.last_used_at ? time(t.last_used_at) : "never"),
      h("td", null, t.expires_at ? time(t.expires_at) : "never"),
      h(
        "td",
        null,
        actionButton(
          "Revoke",
          status,
          async () => {
            await apiFetch(api.token(t.id), { method: "DELETE" });
            await refresh();
          },
          { class: "button-danger", "aria-label": `Revoke ${t.name}` },
        ),
      ),
    ),
  );
  return h(
    "div",
    null,
    h(
      "table",
      { class: "data tokens" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ...["Name", "Scopes", "Created", "Last used", "Expires", ""].map((c) =>
            h("th", { scope: "col" }, c),
          ),
        ),
      ),
      h("tbody", null, ...rows),
    ),
    status,
  );
}

/** The expiry date input's value as the end of that day, in the browser's time zone. */
function expiry(value: string): string | undefined {
  if (!value) return undefined;
  const end = new Date(`${value}T23:59:59`);
  if (Number.isNaN(end.getTime())) throw new Error("The expiry date is not a date.");
  if (end.getTime() <= Date.now()) throw new Error("The expiry date must be in the future.");
  return end.toISOString();
}

function createForm(created: HTMLElement, refresh: () => Promise<void>): HTMLElement {
  const status = statusLine();
  const tomorrow = new Date(Date.now() + 86400_000).toISOString().slice(0, 10);
  const form = h(
    "form",
    { class: "stack card", "aria-labelledby": "new-token-title" },
    h("h2", { id: "new-token-title" }, "New token"),
    ...field("token-name", "Name", { required: true, maxlength: 100, placeholder: "laptop git" }),
    h(
      "fieldset",
      null,
      h("legend", null, "Scopes"),
      ...SCOPES.map((s) =>
        h(
          "label",
          { class: "check" },
          h("input", { type: "checkbox", name: "scopes", value: s, checked: s === "repo:read" }),
          " ",
          h("code", null, s),
          " ",
          h("span", { class: "muted" }, SCOPE_TEXT[s]),
        ),
      ),
    ),
    ...field("token-expiry", "Expires on (optional)", { type: "date", min: tomorrow }),
    h("button", { type: "submit" }, "Create token"),
    status,
  );
  onSubmit(form, status, async (data) => {
    const scopes = data.getAll("scopes").map(String) as Scope[];
    if (scopes.length === 0) throw new Error("Choose at least one scope.");
    const expires_at = expiry(String(data.get("token-expiry") ?? ""));
    const t = await apiJson<CreatedToken>(api.tokens(), {
      method: "POST",
      body: { name: String(data.get("token-name")).trim(), scopes, ...(expires_at ? { expires_at } : {}) },
    });
    created.replaceChildren(
      shownOnce(
        `New token ${t.name}`,
        t.token,
        "Copy it now: it is shown only this once. Plue keeps only a hash of it.",
      ),
    );
    form.reset();
    await refresh();
  });
  return form;
}
