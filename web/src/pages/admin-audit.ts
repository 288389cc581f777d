/**
 * `/admin/audit`: who did what, when, from where, newest first (`GET /api/admin/audit`). Filter
 * by action (kept in the URL as `?action=`); "Older entries" appends the next page (`before`).
 */
import { AUDIT_ACTIONS, type AuditEntryView, type AuditPage } from "../../../app/wire/accounts";
import { apiJson } from "../api";
import { h } from "../dom";
import { actionButton, page, queryParam, requireAdmin, statusLine } from "../forms";
import { api } from "../routes";
import { adminNav } from "./admin";

export async function renderAudit(): Promise<void> {
  if (!(await requireAdmin("Audit log"))) return;
  const initial = (AUDIT_ACTIONS as readonly string[]).includes(queryParam("action"))
    ? queryParam("action")
    : "";
  const filter = h(
    "select",
    { id: "audit-action", name: "action" },
    h("option", { value: "" }, "All actions"),
    ...AUDIT_ACTIONS.map((a) => h("option", { value: a, selected: a === initial }, a)),
  );
  const body = h("tbody");
  const status = statusLine();
  const empty = h("p", { class: "muted", hidden: true }, "No entries.");
  let next: number | null = null;
  let generation = 0;
  const older = actionButton("Older entries", status, () => load(false), { class: "button-secondary" });
  older.hidden = true;

  /** Loads the first page (fresh) or the next one; a slower earlier answer is dropped. */
  const load = async (fresh: boolean) => {
    const gen = fresh ? ++generation : generation;
    const result = await apiJson<AuditPage>(
      api.audit({ before: fresh ? null : next, action: filter.value || undefined }),
    );
    if (gen !== generation) return;
    if (fresh) body.replaceChildren();
    body.append(...result.entries.map(row));
    next = result.next;
    older.hidden = next === null;
    empty.hidden = body.children.length > 0;
  };

  filter.addEventListener("change", () => {
    const url = new URL(location.href);
    if (filter.value) url.searchParams.set("action", filter.value);
    else url.searchParams.delete("action");
    history.replaceState(null, "", url.pathname + url.search);
    status.textContent = "";
    load(true).catch((err) => {
      status.textContent = (err as Error).message;
    });
  });

  page(
    "Audit log",
    adminNav("audit"),
    h("div", { class: "toolbar" }, h("label", { for: "audit-action" }, "Action"), filter),
    h(
      "table",
      { class: "data audit" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ...["When", "Actor", "Action", "Target", "From", "Details"].map((c) =>
            h("th", { scope: "col" }, c),
          ),
        ),
      ),
      body,
    ),
    empty,
    h("p", null, older),
    status,
  );
  await load(true).catch((err) => {
    status.textContent = (err as Error).message;
  });
}

/** One entry; every field is text (actors, targets and details come from users). */
function row(e: AuditEntryView): HTMLTableRowElement {
  const details = Object.keys(e.details ?? {}).length ? JSON.stringify(e.details) : "";
  return h(
    "tr",
    { "data-id": e.id },
    h("td", { class: "when" }, h("time", { datetime: e.at, title: e.at }, new Date(e.at).toLocaleString())),
    h(
      "td",
      null,
      e.actor ?? h("span", { class: "muted", title: "no signed-in user (anonymous, or the server)" }, "—"),
    ),
    h("td", null, h("code", null, e.action)),
    h("td", null, e.target ?? ""),
    h("td", null, e.ip ?? ""),
    h("td", { class: "details" }, details),
  );
}
