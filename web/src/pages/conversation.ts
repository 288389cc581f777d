/**
 * What an issue page and a pull request page share: state badges, label chips (their colour from
 * the validated six-hex value), rendered Markdown bodies (sanitised by the server), the
 * conversation (comments, reviews and timeline events in time order), the comment box with
 * close/reopen, and the labels editor.
 */
import type {
  CommentView,
  IssueView,
  LabelView,
  PullView,
  ReactionCounts,
  ReactionResult,
  ReviewCommentView,
  ReviewView,
  TimelineEventView,
  UserRef,
} from "../../../app/wire/pulls";
import { apiJson, type issueApi, itemsOf } from "../api";
import { h, time, trustedHtml } from "../dom";
import { onSubmit, statusLine } from "../forms";

type IssueApi = ReturnType<typeof issueApi>;

export const userName = (u: UserRef | null | undefined) => u?.username ?? "a deleted user";

const HEX6 = /^[0-9a-f]{6}$/i;

/**
 * A label as a chip. The colour is set through the CSSOM (never a style string) and only when it
 * is exactly six hex digits; the text is dark or light by the background's luminance.
 */
export function labelChip(label: Pick<LabelView, "name" | "color"> & { description?: string }): HTMLElement {
  const chip = h("span", { class: "label", title: label.description || undefined }, label.name);
  const color = String(label.color ?? "");
  if (HEX6.test(color)) {
    const [r, g, b] = [0, 2, 4].map((i) => Number.parseInt(color.slice(i, i + 2), 16)) as [
      number,
      number,
      number,
    ];
    chip.style.backgroundColor = `#${color}`;
    chip.style.color = 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#1f2328" : "#ffffff";
  }
  return chip;
}

/** Open / Closed / Merged / Draft, in words (the colour only repeats them). */
export function stateBadge(item: IssueView | PullView): HTMLElement {
  const draft = "merged" in item ? item.draft : item.pull_request?.draft;
  const merged = "merged" in item ? item.merged : Boolean(item.pull_request?.merged_at);
  const state = merged ? "merged" : item.state === "closed" ? "closed" : draft ? "draft" : "open";
  const text = { open: "Open", closed: "Closed", merged: "Merged", draft: "Draft" }[state];
  return h("span", { class: `state state-${state}`, "data-state": state }, text);
}

/** A body as the server rendered it (sanitised HTML), or its text when there is no HTML. */
export function markdownBody(html: string | undefined, text: string, empty = ""): HTMLElement {
  if (html?.trim()) return h("div", { class: "markdown comment-body" }, trustedHtml(html));
  if (text.trim()) return h("div", { class: "comment-body plain" }, text);
  return h("div", { class: "comment-body muted" }, empty);
}

/** Something on the conversation, with when it happened (for ordering). */
interface Entry {
  at: string;
  node: HTMLElement;
}

const shortSha = (s: unknown) => (typeof s === "string" ? s.slice(0, 7) : "");
const str = (v: unknown) => (typeof v === "string" ? v : "");
const nameOf = (v: unknown) =>
  typeof v === "string"
    ? v
    : str((v as { name?: unknown; username?: unknown } | null)?.name) ||
      str((v as { username?: unknown } | null)?.username);

/** What one timeline event says, or null when another entry already shows it (a comment, a review). */
export function eventText(e: TimelineEventView): (Node | string)[] | null {
  const d = e.data ?? {};
  switch (e.kind) {
    case "opened":
    case "commented":
    case "reviewed":
      return null;
    case "edited": {
      const changes = (d.changes ?? {}) as { title?: { from?: unknown } };
      if (changes.title) return [`changed the title from “${str(changes.title.from)}”`];
      return ["edited the description"];
    }
    case "closed":
      if (d.pull) return [`closed this in #${Number(d.pull) || "?"}`];
      if (d.sha) return ["closed this in commit ", h("code", null, shortSha(d.sha))];
      return [d.state_reason === "not_planned" ? "closed this as not planned" : "closed this"];
    case "reopened":
      return ["reopened this"];
    case "labeled":
    case "unlabeled": {
      const label = d.label as LabelView | string | undefined;
      const chip =
        typeof label === "object" && label
          ? labelChip(label)
          : labelChip({ name: nameOf(label) || str(d.name), color: str(d.color) });
      return [e.kind === "labeled" ? "added the " : "removed the ", chip, " label"];
    }
    case "assigned":
      return [`assigned ${nameOf(d.assignee)}`];
    case "unassigned":
      return [`unassigned ${nameOf(d.assignee)}`];
    case "referenced":
      return ["referenced this in commit ", h("code", null, shortSha(d.sha))];
    case "cross-referenced":
      return [`mentioned this in #${Number(d.number) || "?"}`];
    case "head_pushed":
      return [
        "pushed ",
        d.before ? h("code", null, shortSha(d.before)) : "",
        d.before ? " → " : "",
        h("code", null, shortSha(d.after ?? d.sha)),
      ];
    case "base_changed":
      return [`changed the base branch from ${str(d.from ?? d.before)} to ${str(d.to ?? d.after)}`];
    case "ready_for_review":
      return ["marked this ready for review"];
    case "converted_to_draft":
      return ["converted this to a draft"];
    case "review_dismissed":
      return [`dismissed a review${d.reason ? ` (${str(d.reason)})` : ""}`];
    case "merged":
      return [
        "merged commit ",
        h("code", null, shortSha(d.sha ?? d.merge_commit_sha)),
        d.method ? ` (${str(d.method)})` : "",
      ];
    case "head_ref_deleted":
      return ["deleted the head branch"];
    default:
      return [String(e.kind)];
  }
}

function eventEntry(e: TimelineEventView): Entry | null {
  const text = eventText(e);
  if (!text) return null;
  return {
    at: e.created_at,
    node: h(
      "div",
      { class: `timeline-event event-${e.kind}`, "data-kind": e.kind },
      h("strong", null, userName(e.actor)),
      " ",
      ...text,
      " ",
      time(e.created_at),
    ),
  };
}

type CommentLike = Pick<CommentView, "id" | "user" | "body" | "body_html" | "created_at"> & {
  reactions?: ReactionCounts;
};

/** Every reaction GitHub has (REACTIONS in app/wire/pulls.ts; not imported: it would bundle zod). */
const EMOJI: Record<string, string> = {
  "+1": "👍",
  "-1": "👎",
  laugh: "😄",
  confused: "😕",
  heart: "❤️",
  hooray: "🎉",
  rocket: "🚀",
  eyes: "👀",
};

/**
 * The reactions given, with their counts (named for screen readers). With `toggleUrl` (a signed-in
 * reader) each is a button that toggles the reader's own, and "React" offers the others.
 */
export function reactionsLine(r: ReactionCounts | undefined, toggleUrl?: string): HTMLElement | null {
  const given = Object.entries(r ?? {}).filter(([, n]) => typeof n === "number" && n > 0);
  if (given.length === 0 && !toggleUrl) return null;
  const line = h("div", { class: "reactions" });
  const toggle = toggleUrl
    ? async (content: string) => {
        try {
          const result = await apiJson<ReactionResult>(toggleUrl, { method: "POST", body: { content } });
          line.replaceWith(reactionsLine(result.reactions, toggleUrl)!);
        } catch (err) {
          line.append(h("span", { class: "inline-error", role: "alert" }, (err as Error).message));
        }
      }
    : undefined;
  line.append(
    ...given.map(([k, n]) =>
      h(
        toggle ? "button" : "span",
        {
          type: toggle && "button",
          class: "reaction",
          title: k,
          "aria-label": `${k}: ${n}`,
          onclick: toggle && (() => toggle(k)),
        },
        `${EMOJI[k] ?? k} ${n}`,
      ),
    ),
  );
  if (toggle) {
    const picks = Object.entries(EMOJI).map(([k, emoji]) =>
      h(
        "button",
        { type: "button", class: "reaction-pick", "aria-label": `React with ${k}`, onclick: () => toggle(k) },
        emoji,
      ),
    );
    line.append(h("details", { class: "reaction-picker" }, h("summary", null, "React"), ...picks));
  }
  return line;
}

/** The opening post of an issue or a pull request: its author, when, its body and reactions. */
export function openingPost(
  item: Pick<IssueView, "user" | "created_at" | "body" | "body_html"> & { reactions?: ReactionCounts },
  reactUrl?: string,
): HTMLElement {
  return h(
    "article",
    { class: "comment comment-body-first" },
    h(
      "header",
      { class: "comment-header" },
      h("strong", null, userName(item.user)),
      " opened this ",
      time(item.created_at),
    ),
    markdownBody(item.body_html, item.body, "No description provided."),
    reactionsLine(item.reactions, reactUrl),
  );
}

export function commentNode(c: CommentLike, extra: string | null = null): HTMLElement {
  return h(
    "article",
    { class: "comment", "data-comment": c.id },
    h(
      "header",
      { class: "comment-header" },
      h("strong", null, userName(c.user)),
      " commented ",
      time(c.created_at),
      extra,
    ),
    markdownBody(c.body_html, c.body),
    reactionsLine(c.reactions),
  );
}

const REVIEW_TEXT = {
  approved: "approved these changes",
  changes_requested: "requested changes",
  commented: "reviewed",
};

function reviewNode(r: ReviewView): HTMLElement {
  return h(
    "article",
    { class: `comment review review-${r.state}`, "data-review": r.id, "data-state": r.state },
    h(
      "header",
      { class: "comment-header" },
      h("strong", null, userName(r.user)),
      ` ${REVIEW_TEXT[r.state] ?? r.state} `,
      time(r.created_at),
      r.dismissed ? h("span", { class: "badge" }, "dismissed") : null,
      !r.dismissed && r.stale ? h("span", { class: "badge" }, "stale") : null,
    ),
    r.body || r.body_html ? markdownBody(r.body_html, r.body) : null,
  );
}

/** A line comment whose line is gone: shown in the conversation, marked outdated. */
function outdatedNode(c: ReviewCommentView): HTMLElement {
  return h(
    "article",
    { class: "comment line-comment outdated", "data-review-comment": c.id },
    h(
      "header",
      { class: "comment-header" },
      h("strong", null, userName(c.user)),
      " commented on ",
      h("code", null, `${c.path}:${c.original_line}`),
      " ",
      h("span", { class: "badge badge-warning" }, "outdated"),
      " ",
      time(c.created_at),
    ),
    markdownBody(c.body_html, c.body),
  );
}

/** Comments, reviews, outdated line comments and events, oldest first. */
export function conversation(parts: {
  comments: CommentView[];
  timeline: TimelineEventView[];
  reviews?: ReviewView[];
  outdated?: ReviewCommentView[];
}): HTMLElement {
  const entries: Entry[] = [
    ...parts.comments.map((c) => ({ at: c.created_at, node: commentNode(c) })),
    ...(parts.reviews ?? []).map((r) => ({ at: r.created_at, node: reviewNode(r) })),
    ...(parts.outdated ?? []).map((c) => ({ at: c.created_at, node: outdatedNode(c) })),
    ...parts.timeline.map(eventEntry).filter((e): e is Entry => e !== null),
  ];
  entries.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return h("div", { class: "conversation" }, ...entries.map((e) => e.node));
}

/**
 * The comment box: Comment, and Close / Reopen (with the comment, if one was written first).
 * Pull requests change state through their own endpoint (`pullUrl`).
 */
export function commentBox(
  ia: IssueApi,
  item: IssueView | PullView,
  reload: () => Promise<void>,
  pullUrl?: string,
): HTMLElement {
  const status = statusLine();
  const textarea = h("textarea", { id: "comment-body", name: "body", rows: 5, cols: 80 });
  const merged = "merged" in item && item.merged;
  const what = pullUrl ? "pull request" : "issue";
  const toggle = h(
    "button",
    { type: "button", class: "button-secondary", hidden: merged || undefined },
    item.state === "open" ? `Close ${what}` : `Reopen ${what}`,
  );
  const form = h(
    "form",
    { class: "stack comment-box card" },
    h("label", { for: "comment-body" }, "Add a comment (Markdown)"),
    textarea,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Comment"), toggle),
    status,
  );
  const comment = async () => {
    const body = textarea.value;
    if (!body.trim()) return;
    await apiJson<CommentView>(ia.comments(item.number), { method: "POST", body: { body } });
    textarea.value = "";
  };
  onSubmit(form, status, async () => {
    if (!textarea.value.trim()) {
      status.textContent = "Write a comment first.";
      return;
    }
    await comment();
    await reload();
  });
  toggle.addEventListener("click", async () => {
    toggle.disabled = true;
    status.textContent = "";
    try {
      await comment();
      const state = item.state === "open" ? "closed" : "open";
      await apiJson(pullUrl ?? ia.issue(item.number), { method: "PATCH", body: { state } });
      await reload();
    } catch (err) {
      status.textContent = (err as Error).message;
      toggle.disabled = false;
    }
  });
  return form;
}

/** The labels in the sidebar; writers get a list of the repository's labels to tick. */
export function labelsEditor(
  ia: IssueApi,
  item: IssueView | PullView,
  writer: boolean,
  reload: () => Promise<void>,
): HTMLElement {
  const section = h(
    "section",
    { class: "labels-section" },
    h("h3", null, "Labels"),
    item.labels.length
      ? h("p", { class: "labels" }, ...item.labels.map(labelChip))
      : h("p", { class: "muted" }, "None yet"),
  );
  if (!writer) return section;
  const status = statusLine();
  const boxes = h("div", { class: "label-choices" }, h("p", { class: "muted" }, "Loading labels…"));
  const form = h("form", { class: "stack" }, boxes, h("button", { type: "submit" }, "Apply labels"), status);
  const details = h("details", { class: "labels-editor" }, h("summary", null, "Edit labels"), form);
  const loadChoices = async () => {
    try {
      const all = itemsOf<LabelView>(await apiJson<unknown>(`${ia.labels()}?per_page=100`));
      const on = new Set(item.labels.map((l) => l.name));
      boxes.replaceChildren(
        ...(all.length
          ? all.map((l) =>
              h(
                "label",
                { class: "check" },
                h("input", { type: "checkbox", name: "label", value: l.name, checked: on.has(l.name) }),
                " ",
                labelChip(l),
              ),
            )
          : [h("p", { class: "muted" }, "This repository has no labels yet.")]),
      );
    } catch (err) {
      boxes.replaceChildren(h("p", { class: "inline-error" }, (err as Error).message));
    }
  };
  details.addEventListener("toggle", () => {
    if (details.open) void loadChoices();
  });
  onSubmit(form, status, async (d) => {
    const labels = d.getAll("label").map(String);
    await apiJson(ia.issue(item.number), { method: "PATCH", body: { labels } });
    await reload();
  });
  section.append(
    details,
    newLabelForm(ia, async () => {
      details.open = true;
      await loadChoices();
    }),
  );
  return section;
}

/** Who the issue or pull request is assigned to; writers change it (usernames, comma-separated). */
export function assigneesEditor(
  ia: IssueApi,
  item: IssueView | PullView,
  writer: boolean,
  reload: () => Promise<void>,
): HTMLElement {
  const names = item.assignees.map((a) => a.username);
  const section = h(
    "section",
    { class: "assignees-section" },
    h("h3", null, "Assignees"),
    names.length ? h("p", null, names.join(", ")) : h("p", { class: "muted" }, "No one"),
  );
  if (!writer) return section;
  const status = statusLine();
  const form = h(
    "form",
    { class: "stack" },
    h(
      "label",
      null,
      "Usernames, comma-separated",
      h("input", { name: "assignees", value: names.join(", "), autocomplete: "off" }),
    ),
    h("button", { type: "submit" }, "Apply assignees"),
    status,
  );
  onSubmit(form, status, async (d) => {
    const assignees = String(d.get("assignees") ?? "")
      .split(/[\s,]+/)
      .filter(Boolean);
    await apiJson(ia.issue(item.number), { method: "PATCH", body: { assignees } });
    await reload();
  });
  section.append(h("details", { class: "assignees-editor" }, h("summary", null, "Edit assignees"), form));
  return section;
}

/** A small form for a new repository label (name and colour). */
function newLabelForm(ia: IssueApi, created: () => Promise<void>): HTMLElement {
  const status = statusLine();
  const form = h(
    "form",
    { class: "stack" },
    h("label", { for: "label-name" }, "Name"),
    h("input", { id: "label-name", name: "name", required: true, maxlength: 50, size: 16 }),
    h("label", { for: "label-color" }, "Colour"),
    h("input", { id: "label-color", name: "color", type: "color", value: "#d73a4a" }),
    h("button", { type: "submit", class: "button-secondary" }, "Create label"),
    status,
  );
  onSubmit(form, status, async (d) => {
    await apiJson<LabelView>(ia.labels(), {
      method: "POST",
      body: { name: String(d.get("name") ?? ""), color: String(d.get("color") ?? "") },
    });
    form.reset();
    await created(); // the choices, read again, now include it
    status.textContent = "Label created; tick it under Edit labels.";
  });
  return h("details", { class: "new-label" }, h("summary", null, "New label"), form);
}

/** The title as the page's heading; with `url` (writers), an "Edit title" that PATCHes it. */
export function titleHeading(
  item: IssueView | PullView,
  url: string | undefined,
  reload: () => Promise<void>,
): HTMLElement {
  const heading = h("h1", null, item.title, " ", h("span", { class: "muted" }, `#${item.number}`));
  const row = h("div", { class: "title-row" }, heading);
  if (!url) return row;
  const edit = h("button", { type: "button", class: "button-secondary" }, "Edit title");
  row.append(edit);
  edit.addEventListener("click", () => {
    const status = statusLine();
    const input = h("input", {
      id: "edit-title",
      name: "title",
      value: item.title,
      maxlength: 256,
      size: 60,
      required: true,
    });
    const cancel = h("button", { type: "button", class: "button-secondary" }, "Cancel");
    const form = h(
      "form",
      { class: "title-form" },
      h("label", { for: "edit-title", class: "visually-hidden" }, "Title"),
      input,
      h("button", { type: "submit" }, "Save"),
      cancel,
      status,
    );
    cancel.addEventListener("click", () => form.replaceWith(row));
    onSubmit(form, status, async () => {
      await apiJson(url, { method: "PATCH", body: { title: input.value } });
      await reload();
    });
    row.replaceWith(form);
    input.focus();
  });
  return row;
}
