/**
 * The boxes of a pull request page: the checks of its head (each check's status in words, a link
 * to its run, `skipped: …` descriptions, a run's outputs), the merge box (method, title and
 * message, "Delete branch", what blocks it, a refusal's reasons in place) and the review form
 * (Approve / Request changes / Comment).
 */
import { ApiError } from "../../../app/client/api-error";
import type {
  CheckStatus,
  ChecksView,
  CheckView,
  MergeMethod,
  MergeResult,
  PullView,
  ReviewEvent,
} from "../../../app/wire/pulls";
import { apiJson, type issueApi } from "../api";
import { append, h, replace, time } from "../dom";
import { errorText, statusLine } from "../forms";
import { urls } from "../routes";
import { userName } from "./conversation";

type IssueApi = ReturnType<typeof issueApi>;

const CHECK_TEXT: Record<CheckStatus, string> = {
  queued: "Queued",
  running: "In progress",
  success: "Successful",
  failure: "Failed",
  cancelled: "Cancelled",
  error: "Errored",
  skipped: "Skipped",
};
/** A glyph beside the words (hidden from screen readers: the words say it). */
const CHECK_ICON: Record<CheckStatus, string> = {
  queued: "○",
  running: "◔",
  success: "✓",
  failure: "✗",
  cancelled: "⊘",
  error: "!",
  skipped: "↷",
};
const OVERALL = {
  pending: "Some checks haven't completed yet",
  success: "All checks have passed",
  failure: "Some checks were not successful",
};

function checkLink(c: CheckView): HTMLElement | null {
  if (c.run_id) return h("a", { href: urls.run(c.run_id) }, "Details");
  // An outside system's link: only http(s), and it leaves the site in a new context.
  if (c.target_url && /^https?:\/\//i.test(c.target_url))
    return h("a", { href: c.target_url, rel: "noopener noreferrer nofollow", target: "_blank" }, "Details");
  return null;
}

function outputsText(o: Record<string, unknown> | null): string {
  if (!o) return "";
  const parts = Object.entries(o).map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
  const text = parts.join(", ");
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export function checksBox(view: ChecksView | undefined, error?: string): HTMLElement {
  const box = h("section", {
    class: "card checks-box",
    "aria-labelledby": "checks-title",
    "aria-live": "polite",
  });
  if (!view) {
    replace(
      box,
      h("h2", { id: "checks-title" }, "Checks"),
      h("p", { class: "muted" }, error ?? "Loading checks…"),
    );
    return box;
  }
  replace(
    box,
    h("h2", { id: "checks-title" }, "Checks"),
    h(
      "p",
      { class: `checks-overall status-${view.state}`, "data-state": view.state },
      view.checks.length ? OVERALL[view.state] : "No checks on this commit.",
    ),
    view.checks.length
      ? h(
          "ul",
          { class: "checks" },
          ...view.checks.map((c) =>
            h(
              "li",
              { class: `check check-${c.status}`, "data-check": c.name, "data-status": c.status },
              h(
                "span",
                { class: `check-icon status-${c.status}`, "aria-hidden": "true" },
                CHECK_ICON[c.status],
              ),
              h("strong", { class: "check-name" }, c.name),
              h("span", { class: `check-status status-${c.status}` }, CHECK_TEXT[c.status] ?? c.status),
              c.description ? h("span", { class: "check-description muted" }, c.description) : null,
              c.outputs ? h("span", { class: "check-outputs" }, outputsText(c.outputs)) : null,
              h("span", { class: "spacer" }),
              checkLink(c),
            ),
          ),
        )
      : null,
  );
  return box;
}

const MERGE_METHODS: readonly { value: MergeMethod; label: string }[] = [
  { value: "merge", label: "Create a merge commit" },
  { value: "squash", label: "Squash and merge" },
  { value: "rebase", label: "Rebase and merge" },
  { value: "fast-forward", label: "Fast-forward" },
];

const STATE_TEXT = {
  clean: "This branch has no conflicts with the base branch and can be merged.",
  conflict: "This branch has conflicts that must be resolved.",
  blocked: "Merging is blocked.",
  unknown: "Checking whether this can be merged…",
  draft: "This pull request is still a draft.",
};

function defaultTitle(pull: PullView, method: MergeMethod): string {
  return method === "squash"
    ? `${pull.title} (#${pull.number})`
    : `Merge pull request #${pull.number} from ${pull.head.ref}`;
}

/**
 * The merge box (a draft offers "Ready for review" instead); `merged` is called after a merge or
 * that change (the page reads everything again).
 */
export function mergeBox(
  ia: IssueApi,
  pull: PullView,
  writer: boolean,
  merged: () => Promise<void>,
): HTMLElement {
  const box = h("section", { class: "card merge-box", "aria-labelledby": "merge-title" });
  if (pull.merged) {
    replace(
      box,
      h("h2", { id: "merge-title" }, "Merged"),
      h(
        "p",
        null,
        h("strong", null, userName(pull.merged_by)),
        ` merged commit `,
        h("code", null, (pull.merge_commit_sha ?? "").slice(0, 10)),
        ` into ${pull.base.ref} `,
        pull.merged_at ? time(pull.merged_at) : "",
      ),
    );
    return box;
  }
  if (pull.state === "closed") {
    replace(
      box,
      h("h2", { id: "merge-title" }, "Closed"),
      h("p", { class: "muted" }, "This pull request was closed without merging."),
    );
    return box;
  }
  const blockers = pull.blockers ?? [];
  const reasons = h(
    "ul",
    { class: "blockers", "aria-label": "What blocks merging" },
    ...blockers.map((b) => h("li", null, b)),
  );
  const status = statusLine();
  append(
    box,
    h("h2", { id: "merge-title" }, "Merge"),
    h(
      "p",
      { class: `merge-state merge-${pull.mergeable_state}`, "data-state": pull.mergeable_state },
      STATE_TEXT[pull.mergeable_state] ?? pull.mergeable_state,
    ),
    pull.conflicts.length
      ? h("p", null, "Conflicting files: ", h("code", null, pull.conflicts.join(", ")))
      : null,
    reasons,
  );
  if (!writer) {
    box.append(h("p", { class: "muted" }, "Only people with write access can merge."));
    return box;
  }
  if (pull.draft) {
    const ready = h("button", { type: "button", class: "button-secondary" }, "Ready for review");
    ready.addEventListener("click", async () => {
      ready.disabled = true;
      try {
        await apiJson(ia.pull(pull.number), { method: "PATCH", body: { draft: false } });
        await merged();
      } catch (err) {
        status.textContent = errorText(err);
        ready.disabled = false;
      }
    });
    box.append(ready, status);
    return box;
  }
  const method = h(
    "select",
    { id: "merge-method", name: "method" },
    ...MERGE_METHODS.map((m) => h("option", { value: m.value }, m.label)),
  );
  const title = h("input", {
    id: "merge-title-input",
    name: "title",
    size: 60,
    value: defaultTitle(pull, "merge"),
  });
  const message = h("textarea", { id: "merge-message", name: "message", rows: 3, cols: 60 });
  const deleteBranch = h("input", { id: "merge-delete-branch", type: "checkbox", name: "delete_branch" });
  const commitFields = h(
    "div",
    { class: "stack" },
    h("label", { for: "merge-title-input" }, "Commit title"),
    title,
    h("label", { for: "merge-message" }, "Commit message"),
    message,
  );
  let edited = false;
  title.addEventListener("input", () => (edited = true));
  method.addEventListener("change", () => {
    const m = method.value as MergeMethod;
    if (!edited) title.value = defaultTitle(pull, m);
    // Rebase and fast-forward keep the branch's own commits: no message to write.
    commitFields.hidden = m === "rebase" || m === "fast-forward";
  });
  const button = h("button", { type: "submit", class: "merge-button" }, "Merge pull request");
  const form = h(
    "form",
    { class: "stack merge-form" },
    h("label", { for: "merge-method" }, "Merge method"),
    method,
    commitFields,
    h("label", { class: "check" }, deleteBranch, ` Delete the branch ${pull.head.ref} after merging`),
    button,
    status,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    status.textContent = "";
    const m = method.value as MergeMethod;
    try {
      await apiJson<MergeResult>(ia.merge(pull.number), {
        method: "PUT",
        body: {
          method: m,
          sha: pull.head.sha,
          ...(m === "merge" || m === "squash" ? { title: title.value, message: message.value } : {}),
          delete_branch: deleteBranch.checked,
        },
      });
      await merged();
    } catch (err) {
      // A refusal lists its reasons: shown where the blockers are.
      const list = err instanceof ApiError ? err.details.reasons : undefined;
      if (Array.isArray(list) && list.length) replace(reasons, ...list.map((r) => h("li", null, String(r))));
      status.textContent = errorText(err);
      button.disabled = false;
    }
  });
  box.append(form);
  return box;
}

const REVIEW_CHOICES: readonly { value: ReviewEvent; label: string }[] = [
  { value: "COMMENT", label: "Comment" },
  { value: "APPROVE", label: "Approve" },
  { value: "REQUEST_CHANGES", label: "Request changes" },
];

/** Submit a review of the head the reader saw. */
export function reviewForm(ia: IssueApi, pull: PullView, reviewed: () => Promise<void>): HTMLElement {
  const status = statusLine();
  const body = h("textarea", { id: "review-body", name: "body", rows: 3, cols: 60 });
  const form = h(
    "form",
    { class: "stack review-form" },
    h("label", { for: "review-body" }, "Review summary (Markdown)"),
    body,
    h(
      "fieldset",
      { class: "inline" },
      h("legend", null, "Your review"),
      ...REVIEW_CHOICES.map((c, i) =>
        h(
          "label",
          null,
          h("input", { type: "radio", name: "event", value: c.value, checked: i === 0 }),
          ` ${c.label}`,
        ),
      ),
    ),
    h("button", { type: "submit" }, "Submit review"),
    status,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const event = String(new FormData(form).get("event")) as ReviewEvent;
    status.textContent = "";
    try {
      await apiJson(ia.reviews(pull.number), {
        method: "POST",
        body: { event, body: body.value, commit_id: pull.head.sha },
      });
      body.value = "";
      status.textContent = "";
      await reviewed();
    } catch (err) {
      status.textContent = errorText(err);
    }
  });
  return h("details", { class: "card review-box" }, h("summary", null, "Review changes"), form);
}

// ---- keeping what was typed across a live re-render ----------------------------------------------

type Field = HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;

/** The values of the form fields under `root`, by id. */
export function fieldValues(root: Element): Map<string, string | boolean> {
  const kept = new Map<string, string | boolean>();
  for (const f of root.querySelectorAll<Field>("input[id], textarea[id], select[id]")) {
    kept.set(f.id, f instanceof HTMLInputElement && f.type === "checkbox" ? f.checked : f.value);
  }
  return kept;
}

/**
 * Puts kept values back into the re-rendered fields: selects first (their change handlers fill
 * defaults, such as the merge title), then the rest over those defaults.
 */
export function restoreFields(root: Element, kept: Map<string, string | boolean>): void {
  const fields = [...root.querySelectorAll<Field>("input[id], textarea[id], select[id]")];
  const order = [
    ...fields.filter((f) => f instanceof HTMLSelectElement),
    ...fields.filter((f) => !(f instanceof HTMLSelectElement)),
  ];
  for (const f of order) {
    const v = kept.get(f.id);
    if (v === undefined) continue;
    if (typeof v === "boolean") {
      if (f instanceof HTMLInputElement) f.checked = v;
    } else if (f.value !== v) {
      f.value = v;
      if (f instanceof HTMLSelectElement) f.dispatchEvent(new Event("change"));
    }
  }
}
