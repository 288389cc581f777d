/**
 * The diff view ("Files changed" of a pull request, and the compare view): a DiffPage read 100
 * files at a time ("Load more files"), each file with its header (status, rename, +/−), binary
 * and oversized files summarised, unified or split (the choice kept in localStorage), syntax
 * highlighting by highlight.js, line comments under their line and a "+" on each line that opens
 * a comment form.
 *
 * Speed (a 500-file diff must show page 1 fast): rows are built as plain text; a file is
 * highlighted only once it scrolls into view (IntersectionObserver), one file per idle slot. The
 * only HTML ever parsed is highlight.js's output, which escapes the code it is given.
 */
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import css from "highlight.js/lib/languages/css";
import go from "highlight.js/lib/languages/go";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import markdown from "highlight.js/lib/languages/markdown";
import python from "highlight.js/lib/languages/python";
import rust from "highlight.js/lib/languages/rust";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";
import type { DiffPage, FileDiffView, ReviewCommentView } from "../../../app/wire/pulls";
import { h, notice, replace } from "../dom";
import { errorText } from "../forms";
import { commentNode } from "./conversation";

for (const [name, lang] of Object.entries({
  bash,
  css,
  go,
  javascript,
  json,
  markdown,
  python,
  rust,
  typescript,
  xml,
  yaml,
}))
  hljs.registerLanguage(name, lang);

const BY_EXTENSION: Record<string, string> = {
  ts: "typescript",
  tsx: "typescript",
  mts: "typescript",
  cts: "typescript",
  js: "javascript",
  jsx: "javascript",
  mjs: "javascript",
  cjs: "javascript",
  json: "json",
  py: "python",
  go: "go",
  rs: "rust",
  css: "css",
  html: "xml",
  htm: "xml",
  xml: "xml",
  svg: "xml",
  sh: "bash",
  bash: "bash",
  md: "markdown",
  markdown: "markdown",
  yml: "yaml",
  yaml: "yaml",
};

export function languageOf(path: string): string | undefined {
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  return path.includes(".") ? BY_EXTENSION[ext] : undefined;
}

export type Side = "LEFT" | "RIGHT";
type Kind = "context" | "add" | "del" | "hunk" | "note";

/** One line of a patch, with its numbers on each side (null where it has none). */
export interface DiffLine {
  kind: Kind;
  text: string;
  old: number | null;
  new: number | null;
}

const HUNK = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/;

/** Splits a file's unified patch into lines numbered on both sides. */
export function parsePatch(patch: string): DiffLine[] {
  const out: DiffLine[] = [];
  let o = 0;
  let n = 0;
  for (const raw of patch.split("\n")) {
    const m = HUNK.exec(raw);
    if (m) {
      o = Number(m[1]);
      n = Number(m[2]);
      out.push({ kind: "hunk", text: raw, old: null, new: null });
    } else if (raw.startsWith("+")) out.push({ kind: "add", text: raw.slice(1), old: null, new: n++ });
    else if (raw.startsWith("-")) out.push({ kind: "del", text: raw.slice(1), old: o++, new: null });
    else if (raw.startsWith(" ")) out.push({ kind: "context", text: raw.slice(1), old: o++, new: n++ });
    else if (raw.startsWith("\\")) out.push({ kind: "note", text: raw, old: null, new: null });
  }
  return out;
}

const STORAGE_KEY = "plue.diff.view";
export type DiffMode = "unified" | "split";

function savedMode(): DiffMode {
  try {
    return localStorage.getItem(STORAGE_KEY) === "split" ? "split" : "unified";
  } catch {
    return "unified";
  }
}

export interface DiffViewOptions {
  /** Reads one page of the diff. */
  load(page: number, perPage: number): Promise<DiffPage>;
  /** Line comments on the current head (outdated ones are shown in the conversation instead). */
  comments?: ReviewCommentView[];
  /** Set when the reader may comment: posts one line comment. */
  comment?(path: string, line: number, side: Side, body: string): Promise<ReviewCommentView>;
}

const PER_PAGE = 100;
const key = (path: string, side: Side, line: number) => `${side}:${line}:${path}`;

export class DiffView {
  readonly element = h("section", { class: "diff", "aria-label": "Files changed" });
  private readonly files = h("div", { class: "diff-files" });
  private readonly footer = h("div", { class: "diff-footer" });
  private readonly summary = h("p", { class: "diff-summary muted" });
  private mode = savedMode();
  private readonly loaded: FileDiffView[] = [];
  private readonly byLine = new Map<string, ReviewCommentView[]>();
  private readonly pending: HTMLElement[] = [];
  private idle = false;
  private readonly observer = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      this.observer.unobserve(e.target);
      this.pending.push(e.target as HTMLElement);
    }
    this.drain();
  });

  constructor(private readonly opts: DiffViewOptions) {
    for (const c of opts.comments ?? []) {
      if (c.outdated || c.line === null) continue;
      const k = key(c.path, c.side, c.line);
      this.byLine.set(k, [...(this.byLine.get(k) ?? []), c]);
    }
    const toggle = h("div", { class: "diff-mode", role: "group", "aria-label": "Diff view" });
    const button = (m: DiffMode, label: string) => {
      const b = h(
        "button",
        { type: "button", class: "button-secondary", "aria-pressed": String(this.mode === m) },
        label,
      );
      b.addEventListener("click", () => this.setMode(m, toggle));
      return b;
    };
    toggle.append(button("unified", "Unified"), button("split", "Split"));
    this.element.append(
      h("div", { class: "diff-toolbar" }, this.summary, h("span", { class: "spacer" }), toggle),
      this.files,
      this.footer,
    );
    this.files.addEventListener("click", (ev) => this.onClick(ev));
  }

  /** Loads the first page; resolves once it is on the page. */
  async start(): Promise<void> {
    await this.loadPage(1);
  }

  private async loadPage(page: number): Promise<void> {
    replace(this.footer, h("p", { class: "muted" }, "Loading files…"));
    let diff: DiffPage;
    try {
      diff = await this.opts.load(page, PER_PAGE);
    } catch (err) {
      replace(this.footer, notice("error", `Could not load the diff: ${errorText(err)}`));
      return;
    }
    this.summary.textContent = `${diff.total} file${diff.total === 1 ? "" : "s"} changed, +${diff.additions} −${diff.deletions}`;
    this.loaded.push(...diff.items);
    const frag = document.createDocumentFragment();
    for (const f of diff.items) frag.append(this.fileNode(f));
    this.files.append(frag);
    if (diff.total === 0) replace(this.footer, h("p", { class: "empty" }, "No changes."));
    else if (diff.next_page) {
      const more = h(
        "button",
        { type: "button", class: "button-secondary" },
        `Load more files (${this.loaded.length} of ${diff.total} shown)`,
      );
      more.addEventListener("click", () => void this.loadPage(diff.next_page!));
      replace(this.footer, more);
    } else replace(this.footer);
  }

  private setMode(m: DiffMode, toggle: HTMLElement): void {
    if (m === this.mode) return;
    this.mode = m;
    try {
      localStorage.setItem(STORAGE_KEY, m);
    } catch {
      // storage disabled: the choice lasts for this page
    }
    for (const b of toggle.querySelectorAll("button"))
      b.setAttribute("aria-pressed", String(b.textContent?.toLowerCase() === m));
    this.observer.disconnect();
    this.pending.length = 0;
    replace(this.files, ...this.loaded.map((f) => this.fileNode(f)));
  }

  private fileNode(f: FileDiffView): HTMLElement {
    const name =
      f.previous_filename && f.previous_filename !== f.filename
        ? [h("span", { class: "old-name" }, f.previous_filename), " → ", f.filename]
        : [f.filename];
    const header = h(
      "header",
      { class: "diff-file-header" },
      h("span", { class: `file-status file-${f.status}` }, f.status),
      h("h3", { class: "diff-file-name" }, ...name),
      h("span", { class: "spacer" }),
      h("span", { class: "additions", "aria-label": `${f.additions} additions` }, `+${f.additions}`),
      h("span", { class: "deletions", "aria-label": `${f.deletions} deletions` }, `−${f.deletions}`),
    );
    const file = h("article", { class: "diff-file", "data-path": f.filename }, header);
    if (!f.patch) {
      file.append(h("p", { class: "diff-summary-note muted" }, noPatchText(f)));
      return file;
    }
    const lines = parsePatch(f.patch);
    const table = h("table", {
      class: `diff-table diff-${this.mode}`,
      "data-lang": languageOf(f.filename) ?? "",
    });
    // Fixed layout takes its widths from the columns, not from the first row (a hunk header).
    const cols = this.mode === "unified" ? ["num", "num", "code"] : ["num", "code", "num", "code"];
    table.append(h("colgroup", null, ...cols.map((c) => h("col", { class: `col-${c}` }))));
    const body = h("tbody");
    if (this.mode === "unified") this.unifiedRows(f.filename, lines, body);
    else this.splitRows(f.filename, lines, body);
    table.append(body);
    if (f.summary) file.append(h("p", { class: "muted" }, f.summary));
    file.append(table);
    if (table.dataset.lang) this.observer.observe(table);
    return file;
  }

  private numCell(path: string, line: number | null, side: Side): HTMLElement {
    const td = h("td", { class: "num" });
    if (line === null) return td;
    td.append(String(line));
    if (this.opts.comment)
      td.append(
        h(
          "button",
          {
            type: "button",
            class: "add-comment",
            "data-side": side,
            "data-line": line,
            "aria-label": `Comment on line ${line} (${side === "LEFT" ? "old" : "new"})`,
          },
          "+",
        ),
      );
    td.dataset.path = path;
    return td;
  }

  private codeCell(l: DiffLine | undefined): HTMLElement {
    if (!l) return h("td", { class: "code empty" });
    const sign = l.kind === "add" ? "+" : l.kind === "del" ? "-" : " ";
    return h("td", { class: `code line-${l.kind}`, "data-sign": sign }, h("span", { class: "text" }, l.text));
  }

  private unifiedRows(path: string, lines: DiffLine[], body: HTMLElement): void {
    for (const l of lines) {
      if (l.kind === "hunk" || l.kind === "note") {
        body.append(h("tr", { class: `row-${l.kind}` }, h("td", { colspan: 3, class: "hunk" }, l.text)));
        continue;
      }
      body.append(
        h(
          "tr",
          { class: `row-${l.kind}` },
          this.numCell(path, l.old, "LEFT"),
          this.numCell(path, l.new, "RIGHT"),
          this.codeCell(l),
        ),
      );
      this.commentRows(path, l, body, 3);
    }
  }

  /** Split: deletions on the left beside the additions that replace them. */
  private splitRows(path: string, lines: DiffLine[], body: HTMLElement): void {
    let i = 0;
    while (i < lines.length) {
      const l = lines[i]!;
      if (l.kind === "hunk" || l.kind === "note" || l.kind === "context") {
        if (l.kind === "context")
          body.append(
            h(
              "tr",
              { class: "row-context" },
              this.numCell(path, l.old, "LEFT"),
              this.codeCell(l),
              this.numCell(path, l.new, "RIGHT"),
              this.codeCell(l),
            ),
          );
        else body.append(h("tr", { class: `row-${l.kind}` }, h("td", { colspan: 4, class: "hunk" }, l.text)));
        this.commentRows(path, l, body, 4);
        i++;
        continue;
      }
      const dels: DiffLine[] = [];
      const adds: DiffLine[] = [];
      while (lines[i]?.kind === "del") dels.push(lines[i++]!);
      while (lines[i]?.kind === "add") adds.push(lines[i++]!);
      for (let j = 0; j < Math.max(dels.length, adds.length); j++) {
        const d = dels[j];
        const a = adds[j];
        body.append(
          h(
            "tr",
            { class: "row-change" },
            this.numCell(path, d?.old ?? null, "LEFT"),
            this.codeCell(d),
            this.numCell(path, a?.new ?? null, "RIGHT"),
            this.codeCell(a),
          ),
        );
        if (d) this.commentRows(path, d, body, 4);
        if (a) this.commentRows(path, a, body, 4);
      }
    }
  }

  /** The line comments on this line, in a row below it. */
  private commentRows(path: string, l: DiffLine, body: HTMLElement, span: number): void {
    const found = [
      ...(l.old !== null && l.kind !== "context" ? (this.byLine.get(key(path, "LEFT", l.old)) ?? []) : []),
      ...(l.new !== null ? (this.byLine.get(key(path, "RIGHT", l.new)) ?? []) : []),
      ...(l.kind === "context" && l.old !== null ? (this.byLine.get(key(path, "LEFT", l.old)) ?? []) : []),
    ];
    if (found.length === 0) return;
    body.append(
      h("tr", { class: "row-comments" }, h("td", { colspan: span }, ...found.map((c) => commentNode(c)))),
    );
  }

  private onClick(ev: MouseEvent): void {
    const button = (ev.target as Element).closest("button.add-comment") as HTMLButtonElement | null;
    if (!button || !this.opts.comment) return;
    const row = button.closest("tr")!;
    const path = (button.parentElement as HTMLElement).dataset.path!;
    const side = button.dataset.side as Side;
    const line = Number(button.dataset.line);
    if (row.nextElementSibling?.classList.contains("row-form")) return; // one form per line
    const span = row.children.length;
    const id = `lc-${side}-${line}-${Math.random().toString(36).slice(2, 7)}`;
    const textarea = h("textarea", { id, rows: 3, cols: 60 });
    const status = h("p", { class: "inline-error", role: "alert" });
    const submit = h("button", { type: "submit" }, "Add comment");
    const cancel = h("button", { type: "button", class: "button-secondary" }, "Cancel");
    const form = h(
      "form",
      { class: "stack line-comment-form" },
      h("label", { for: id }, `Comment on ${path} line ${line}`),
      textarea,
      h("div", { class: "actions" }, submit, cancel),
      status,
    );
    const formRow = h("tr", { class: "row-form" }, h("td", { colspan: span }, form));
    cancel.addEventListener("click", () => formRow.remove());
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!textarea.value.trim()) return;
      submit.disabled = true;
      status.textContent = "";
      try {
        const shown = await this.opts.comment!(path, line, side, textarea.value);
        formRow.replaceWith(
          h("tr", { class: "row-comments" }, h("td", { colspan: span }, commentNode(shown))),
        );
      } catch (err) {
        status.textContent = errorText(err);
        submit.disabled = false;
      }
    });
    row.after(formRow);
    textarea.focus();
  }

  /** Highlights the files that came into view, one per idle slot, so scrolling stays smooth. */
  private drain(): void {
    if (this.idle || this.pending.length === 0) return;
    this.idle = true;
    const run = () => {
      this.idle = false;
      const table = this.pending.shift();
      if (table) highlightTable(table);
      this.drain();
    };
    if ("requestIdleCallback" in window) requestIdleCallback(run, { timeout: 200 });
    else setTimeout(run, 0);
  }
}

/** What a file without a patch says: the server's summary (binary, too large), or why there is none. */
function noPatchText(f: FileDiffView): string {
  const summary = f.summary ? f.summary[0]!.toUpperCase() + f.summary.slice(1) : "";
  if (f.binary) return /binary/i.test(summary) ? summary : `Binary file${summary ? ` (${summary})` : ""}`;
  if (summary) return summary;
  return f.status === "renamed" ? "Renamed without changes." : "No textual changes.";
}

/** Highlights each line of a file's table by its language (per line: a hunk is not a whole file). */
export function highlightTable(table: HTMLElement): void {
  const language = table.dataset.lang;
  if (!language || !hljs.getLanguage(language)) return;
  for (const span of table.querySelectorAll<HTMLElement>("td.code > span.text")) {
    const text = span.textContent ?? "";
    if (!text.trim()) continue;
    // highlight.js escapes the text it is given: its output is the only HTML set here.
    span.innerHTML = hljs.highlight(text, { language, ignoreIllegals: true }).value;
  }
  table.dataset.highlighted = "true";
}
