/**
 * Workflow runs: `/<owner>/<repo>/runs` (the list) and `/runs/<id>` (one run: status, trigger,
 * commit, the step DAG with each step's status and duration, live logs, cancel and re-run).
 * A live run streams its steps, logs and end over SSE (`GET /api/runs/:id/stream`, through the
 * client library's run stream: resuming after drops, every event once); the run is re-read when
 * its stream ends so the page shows what the server recorded. The transport is the `eventsource`
 * package, because a browser's own EventSource cannot send the Bearer token.
 */
import { EventSource } from "eventsource";
import { ApiError } from "../../../app/client/api-error";
import type { EventSourceConstructor } from "../../../app/client/event-stream";
import { type RunStream, streamRun } from "../../../app/client/runs";
import {
  type CreatedRun,
  LIVE_RUN_STATUSES,
  type RunCancel,
  type RunEventType,
  type RunList,
  type RunView,
} from "../../../app/wire/api";
import type { StreamEvent } from "../../../app/wire/protocol";
import { apiJson, auth, browserFetch, signedIn as isSignedIn } from "../api";
import { formatDuration, h, main, notice, replace, setTitle, time } from "../dom";
import { api, urls } from "../routes";
import { loadRepo, repoHeader, repoNotFound } from "./repo";

const LIVE: ReadonlySet<string> = new Set(LIVE_RUN_STATUSES);
const LIST_REFRESH_MS = 3000;
const STATUS_TEXT: Record<string, string> = {
  queued: "Queued",
  pending: "Pending",
  running: "Running",
  success: "Succeeded",
  failure: "Failed",
  cancelled: "Cancelled",
  skipped: "Skipped",
  error: "Error",
};

function statusBadge(status: string): HTMLElement {
  return h(
    "span",
    { class: `status status-${status}`, "data-status": status },
    STATUS_TEXT[status] ?? status,
  );
}

function shortSha(sha: string | null): string {
  return sha ? sha.slice(0, 10) : "—";
}

function runDuration(r: { started_at: string | null; ended_at: string | null }): string {
  if (!r.started_at) return "";
  const end = r.ended_at ? Date.parse(r.ended_at) : Date.now();
  return formatDuration(end - Date.parse(r.started_at));
}

/** A commit as a link into the file browser at that commit. */
function commitLink(repo: string, sha: string | null): HTMLElement {
  if (!sha) return h("span", null, "—");
  const [owner, name] = repo.split("/") as [string, string];
  return h("a", { href: urls.tree(owner, name, sha), title: sha }, h("code", null, shortSha(sha)));
}

// ---- the list ------------------------------------------------------------------------------

export async function renderRuns(owner: string, name: string): Promise<void> {
  setTitle("Runs", `${owner}/${name}`);
  let repo: Awaited<ReturnType<typeof loadRepo>>["repo"];
  try {
    repo = (await loadRepo(owner, name)).repo;
  } catch (err) {
    replace(main(), repoNotFound(owner, name, err));
    return;
  }
  const list = h("div", { class: "runs", "aria-busy": "true" }, h("p", { class: "muted" }, "Loading runs…"));
  replace(main(), repoHeader(repo, "runs"), h("h2", { class: "visually-hidden" }, "Workflow runs"), list);
  // While a run is queued or running, the list refreshes itself (a poll: it is one cheap query).
  const load = async (): Promise<void> => {
    try {
      const { runs } = await apiJson<RunList>(api.runs(owner, name));
      replace(list, runs.length ? runsTable(runs) : emptyRuns());
      if (runs.some((r) => LIVE.has(r.status))) setTimeout(() => void load(), LIST_REFRESH_MS);
    } catch (err) {
      replace(list, notice("error", `Could not load the runs: ${(err as Error).message}`));
    } finally {
      list.removeAttribute("aria-busy");
    }
  };
  await load();
}

function emptyRuns(): HTMLElement {
  return h(
    "div",
    { class: "empty" },
    h("p", null, "No workflow runs yet."),
    h(
      "p",
      { class: "muted" },
      "Add a workflow in .plue/workflows/ (for example ci.py with @workflow(triggers=[push()])) and push.",
    ),
  );
}

function runsTable(runs: RunView[]): HTMLElement {
  return h(
    "table",
    { class: "runs-table" },
    h("caption", { class: "visually-hidden" }, "Workflow runs, newest first"),
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        ...["Status", "Workflow", "Trigger", "Commit", "Created", "Duration"].map((c) =>
          h("th", { scope: "col" }, c),
        ),
      ),
    ),
    h(
      "tbody",
      null,
      ...runs.map((r) =>
        h(
          "tr",
          null,
          h("td", null, statusBadge(r.status)),
          h("td", null, h("a", { href: urls.run(r.id) }, r.workflow)),
          h(
            "td",
            null,
            r.event,
            r.ref ? h("span", { class: "muted" }, ` · ${r.ref.replace(/^refs\/(heads|tags)\//, "")}`) : null,
          ),
          h("td", null, commitLink(r.repo, r.commit)),
          h("td", null, time(r.created_at)),
          h("td", null, runDuration(r)),
        ),
      ),
    ),
  );
}

// ---- one run -------------------------------------------------------------------------------

/** Steps in columns by depth: a step sits one column right of the deepest step it needs. */
export function layers(steps: readonly { name: string; needs: string[] }[]): string[][] {
  const byName = new Map(steps.map((s) => [s.name, s]));
  const depth = new Map<string, number>();
  const visit = (name: string, seen: Set<string>): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    if (seen.has(name)) return 0; // a cycle cannot be in a valid plan; do not loop on one
    seen.add(name);
    const needs = byName.get(name)?.needs.filter((n) => byName.has(n)) ?? [];
    const d = needs.length ? Math.max(...needs.map((n) => visit(n, seen))) + 1 : 0;
    depth.set(name, d);
    return d;
  };
  const columns: string[][] = [];
  for (const s of steps) {
    const d = visit(s.name, new Set());
    const column = columns[d] ?? [];
    column.push(s.name);
    columns[d] = column;
  }
  return columns.filter(Boolean);
}

class RunPage {
  private run: RunView;
  private readonly header = h("div", { class: "run-header" });
  private readonly dag = h("section", { class: "dag-section", "aria-labelledby": "dag-title" });
  private readonly logs = h("section", { class: "logs-section", "aria-labelledby": "logs-title" });
  private readonly logBodies = new Map<string, HTMLPreElement>();
  private readonly actionError = h("div", { class: "action-error" });
  private stream?: RunStream;
  private ticker?: ReturnType<typeof setInterval>;
  /** However the stream ends (the run's last event, a run that had already ended, a refusal). */
  private readonly onStreamEnd = () => void this.refresh();

  constructor(run: RunView) {
    this.run = run;
  }

  mount(): void {
    replace(main(), this.header, this.actionError, this.dag, this.logs);
    // A step's name links to its log: following it opens the log too.
    this.dag.addEventListener("click", (ev) => {
      const link = (ev.target as Element).closest("a.step-name");
      const step = link?.closest("[data-step]")?.getAttribute("data-step");
      if (step) this.openLog(step);
    });
    this.render();
    this.renderLogSections();
    this.connect();
    this.ticker = setInterval(() => {
      if (LIVE.has(this.run.status)) this.renderDag();
    }, 1000);
    window.addEventListener("pagehide", () => this.close());
  }

  private close(): void {
    this.stream?.off("end", this.onStreamEnd);
    this.stream?.close();
    clearInterval(this.ticker);
  }

  private render(): void {
    const r = this.run;
    setTitle(`${r.workflow} ${STATUS_TEXT[r.status] ?? r.status}`, r.repo);
    const [owner, name] = r.repo.split("/") as [string, string];
    const signedIn = isSignedIn();
    const cancel = h(
      "button",
      { type: "button", class: "button-danger", disabled: !signedIn || !LIVE.has(r.status) },
      "Cancel run",
    );
    const rerun = h(
      "button",
      { type: "button", class: "button-secondary", disabled: !signedIn || LIVE.has(r.status) },
      "Re-run",
    );
    cancel.addEventListener("click", () => void this.act("cancel", cancel));
    rerun.addEventListener("click", () => void this.act("rerun", rerun));
    replace(
      this.header,
      h(
        "nav",
        { class: "breadcrumbs", "aria-label": "Breadcrumb" },
        h(
          "ol",
          null,
          h("li", null, h("a", { href: urls.repo(owner, name) }, r.repo)),
          h("li", null, h("a", { href: urls.runs(owner, name) }, "Runs")),
          h("li", null, h("span", { "aria-current": "page" }, r.workflow)),
        ),
      ),
      h(
        "div",
        { class: "run-title" },
        h("h1", null, r.workflow),
        statusBadge(r.status),
        h("span", { class: "spacer" }),
        cancel,
        rerun,
      ),
      signedIn
        ? null
        : h(
            "p",
            { class: "muted" },
            h("a", { href: urls.login(location.pathname) }, "Sign in"),
            " to cancel or re-run.",
          ),
      h(
        "dl",
        { class: "run-facts" },
        fact("Trigger", r.event + (r.ref ? ` · ${r.ref.replace(/^refs\/(heads|tags)\//, "")}` : "")),
        fact("Commit", commitLink(r.repo, r.commit)),
        fact(
          "Mode",
          r.mode === "agent" && r.session_id
            ? h("a", { href: urls.session(r.session_id) }, "agent session")
            : r.mode,
        ),
        fact("Created", time(r.created_at)),
        fact("Duration", runDuration(r) || "—"),
        r.path ? fact("File", r.path) : null,
        r.rerun_of ? fact("Re-run of", h("a", { href: urls.run(r.rerun_of) }, r.rerun_of.slice(0, 8))) : null,
      ),
      r.error ? notice("error", r.error) : null,
    );
    this.renderDag();
  }

  private renderDag(): void {
    const steps = this.run.steps ?? [];
    const byName = new Map(steps.map((s) => [s.name, s]));
    const columns = layers(steps).map((col, i) =>
      h(
        "li",
        { class: "dag-column", "aria-label": `Stage ${i + 1}` },
        h(
          "ol",
          null,
          ...col.map((name) => {
            const s = byName.get(name)!;
            const duration =
              s.duration_ms ??
              (s.started_at && s.status === "running" ? Date.now() - Date.parse(s.started_at) : null);
            return h(
              "li",
              { class: `step step-${s.status}`, "data-step": s.name, "data-status": s.status },
              h("a", { href: `#log-${s.name}`, class: "step-name" }, s.name),
              h("span", { class: "step-kind muted" }, s.kind),
              h(
                "span",
                { class: "step-meta" },
                statusBadge(s.status),
                duration !== null ? h("span", { class: "step-duration" }, formatDuration(duration)) : null,
                s.exit_code !== null && s.exit_code !== 0
                  ? h("span", { class: "muted" }, `exit ${s.exit_code}`)
                  : null,
              ),
              s.needs.length ? h("span", { class: "step-needs muted" }, `needs ${s.needs.join(", ")}`) : null,
              s.error ? h("span", { class: "step-error" }, s.error) : null,
            );
          }),
        ),
      ),
    );
    replace(
      this.dag,
      h("h2", { id: "dag-title" }, "Steps"),
      steps.length
        ? h("ol", { class: "dag" }, ...columns)
        : h("p", { class: "muted" }, "This run has no steps."),
    );
  }

  private renderLogSections(): void {
    const steps = this.run.steps ?? [];
    const sections = steps.map((s) => {
      const pre = h("pre", { class: "log-body" });
      this.logBodies.set(s.name, pre);
      return h(
        "details",
        {
          class: "step-log",
          id: `log-${s.name}`,
          open: steps.length <= 3 || s.status === "failure" || s.status === "running" || undefined,
        },
        h("summary", null, s.name),
        pre,
      );
    });
    const general = h("pre", { class: "log-body" });
    this.logBodies.set("", general);
    replace(
      this.logs,
      h("h2", { id: "logs-title" }, "Logs"),
      ...sections,
      h("details", { class: "step-log", id: "log-run" }, h("summary", null, "Other output"), general),
    );
  }

  /** Opens a step's log (never closes one: that is the reader's choice). */
  private openLog(step: string): void {
    const details = this.logBodies.get(step)?.parentElement;
    if (details instanceof HTMLDetailsElement) details.open = true;
  }

  private appendLog(step: string | undefined, text: string, stream: string): void {
    const pre = this.logBodies.get(step ?? "") ?? this.logBodies.get("")!;
    const line = h("span", { class: `log-${stream}` }, text.endsWith("\n") ? text : `${text}\n`);
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(line);
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  /** Streams the run's events (replayed from the start, then live) until it ends. */
  private connect(): void {
    const ES = EventSource as unknown as EventSourceConstructor;
    this.stream = streamRun(
      { baseUrl: location.origin, token: auth.token(), fetch: browserFetch, EventSource: ES },
      this.run.id,
    );
    this.stream.on("event", (e) => this.onEvent(e));
    this.stream.on("end", this.onStreamEnd);
  }

  private onEvent(e: StreamEvent<RunEventType>): void {
    const step = (name: string) => this.run.steps?.find((s) => s.name === name);
    switch (e.type) {
      case "step_start": {
        const d = (e as StreamEvent<"step_start">).data;
        const s = step(d.step);
        if (s && s.status !== "running") {
          Object.assign(s, { status: "running", started_at: new Date().toISOString() });
          if (this.run.status === "queued") this.run.status = "running";
          this.run.started_at ??= s.started_at;
          this.openLog(s.name);
          this.render();
        }
        break;
      }
      case "step_end": {
        const d = (e as StreamEvent<"step_end">).data;
        const s = step(d.step);
        if (s) {
          Object.assign(s, {
            status: d.status,
            exit_code: d.exit_code ?? null,
            error: d.error ?? null,
            duration_ms: d.duration_ms ?? s.duration_ms,
          });
          if (d.status === "failure") this.openLog(s.name);
          this.render();
        }
        break;
      }
      case "log": {
        const d = (e as StreamEvent<"log">).data;
        this.appendLog(d.step, d.text, d.stream);
        break;
      }
      case "error":
        this.appendLog(undefined, (e as StreamEvent<"error">).data.message, "stderr");
        break;
      default:
        break; // `done`: the stream ends, and its end re-reads the run
    }
  }

  /** Re-reads the run (its recorded status, steps and durations). */
  private async refresh(): Promise<void> {
    try {
      const fresh = await apiJson<RunView>(api.run(this.run.id));
      this.run = fresh;
      this.render();
      if (!LIVE.has(fresh.status)) clearInterval(this.ticker);
    } catch (err) {
      this.actionError.replaceChildren(
        notice("error", `Could not refresh the run: ${(err as Error).message}`),
      );
    }
  }

  private async act(action: "cancel" | "rerun", button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    this.actionError.replaceChildren();
    try {
      const answer = await apiJson<CreatedRun | RunCancel>(`${api.run(this.run.id)}/${action}`, {
        method: "POST",
      });
      if (action === "rerun") {
        location.assign(urls.run(answer.id));
        return;
      }
      await this.refresh();
    } catch (err) {
      button.disabled = false;
      this.actionError.replaceChildren(
        notice("error", `Could not ${action === "cancel" ? "cancel" : "re-run"}: ${(err as Error).message}`),
      );
    }
  }
}

function fact(label: string, value: Node | string): HTMLElement {
  return h("div", null, h("dt", null, label), h("dd", null, value));
}

export async function renderRun(id: string): Promise<void> {
  let run: RunView;
  try {
    run = await apiJson<RunView>(api.run(id));
  } catch (err) {
    setTitle("Run not found");
    const missing = err instanceof ApiError && err.status === 404;
    replace(
      main(),
      h(
        "div",
        { class: "page-narrow" },
        h("h1", null, missing ? "Run not found" : "Workflow run"),
        notice(
          missing ? "warning" : "error",
          missing ? "There is no such run, or you may not see it. " : (err as Error).message,
          missing && !isSignedIn() ? h("a", { href: urls.login(location.pathname) }, "Sign in") : null,
        ),
      ),
    );
    return;
  }
  new RunPage(run).mount();
}
