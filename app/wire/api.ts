/**
 * The HTTP API's contract: the JSON every endpoint answers with, as the server builds it and the
 * web UI, the agent client and the CLI read it. Types only (nothing here is parsed with a schema:
 * the server builds these values itself), plus the few constants both sides need, so the browser
 * bundle gets no zod from it. Runner-facing messages and the stream events are in ./protocol.
 */
import type { ChatPart, EventType } from "./protocol";

// ---- errors --------------------------------------------------------------------------------

/** Every non-2xx answer: a machine-readable code, a message for people, and code-specific details. */
export interface ErrorEnvelope {
  error: { code: string; message: string; [detail: string]: unknown };
}

// ---- repositories and files ----------------------------------------------------------------

/** `GET /api/repos/:owner/:repo`, an item of `GET /api/repos`, the answer of `POST /api/repos`. */
export interface RepoView {
  id: number;
  owner: string;
  name: string;
  visibility: "public" | "private";
  default_branch: string;
  description: string;
  clone_url: string;
  created_at: string;
  /**
   * The caller's role on it (docs/accounts.md, "Repository permissions"), so a UI offers only what
   * it may do: settings, collaborators and delete need admin; push, runs and posting to a session
   * write. An anonymous caller (who sees only public repositories) has read. Token scopes can
   * narrow what a request may do below this role.
   */
  permission: "read" | "write" | "admin";
}

/** A branch or tag and the commit it points at (annotated tags peeled). */
export interface NamedRef {
  name: string;
  commit: string;
}

/** `GET /api/repos/:owner/:repo/refs`. */
export interface RefListing {
  default_branch: string;
  branches: NamedRef[];
  tags: NamedRef[];
  /** More refs exist than were listed. */
  truncated: boolean;
}

/** `GET /api/:owner/:repo/refs/:ref`: the commit a ref names now. */
export interface ResolvedRef {
  commit: string;
}

export type EntryType = "tree" | "blob" | "symlink" | "commit";

/** An item of `GET /api/:owner/:repo/tree/:commit/:path`. */
export interface TreeEntry {
  name: string;
  type: EntryType;
  /** Git's file mode, six octal digits: 100644, 100755, 120000, 040000, 160000. */
  mode: string;
  sha: string;
  /** Bytes, for blobs and symlinks. */
  size?: number;
}

/** `GET /api/repos/:owner/:repo/markdown/:commit/:path`: the file rendered to sanitised HTML. */
export interface MarkdownView {
  html: string;
}

/** `GET /api/config`: who is signed in and whether agent chat can work on this server. */
export interface ConfigView {
  user: { username: string; admin: boolean } | null;
  agents: { configured: boolean; message?: string };
}

// ---- workflow runs -------------------------------------------------------------------------

export const RUN_STATUSES = ["queued", "running", "success", "failure", "cancelled", "error"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** The statuses of a run that has not ended. */
export const LIVE_RUN_STATUSES: readonly RunStatus[] = ["queued", "running"];

export type StepStatus = "pending" | "running" | "success" | "failure" | "skipped" | "cancelled";

export interface StepView {
  name: string;
  kind: string;
  needs: string[];
  status: StepStatus;
  exit_code: number | null;
  outputs: Record<string, unknown> | null;
  error: string | null;
  attempts: number;
  started_at: string | null;
  ended_at: string | null;
  duration_ms: number | null;
}

/** `GET /api/runs/:id` (with `steps`), an item of `GET /api/repos/:owner/:repo/runs` (without). */
export interface RunView {
  id: string;
  repo: string;
  workflow: string;
  path: string | null;
  status: RunStatus;
  event: string;
  trigger_context: Record<string, unknown>;
  commit: string | null;
  ref: string | null;
  mode: "scripted" | "agent";
  session_id: string | null;
  /** Why the run could not run as planned (`path:line:col: message` for a broken workflow file). */
  error: string | null;
  outputs: Record<string, unknown> | null;
  concurrency_group: string | null;
  rerun_of: string | null;
  /** The workload running it; null while it waits for its concurrency group (or never ran). */
  workload_id: string | null;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  steps?: StepView[];
}

/** `GET /api/repos/:owner/:repo/runs`, newest first. */
export interface RunList {
  runs: RunView[];
}

/** A run just started: the answer of dispatch and rerun, and the `runs` a chat message started. */
export interface CreatedRun {
  id: string;
  workflow: string;
  path: string | null;
  status: RunStatus;
  error: string | null;
}

/** `POST /api/runs/:id/cancel`. */
export interface RunCancel {
  id: string;
  status: "cancelled" | "cancelling";
}

/**
 * The events a run's clients follow on `GET /api/runs/:id/stream` (the run page, `plue run
 * --follow`): its steps, their logs and its end. Other events of its workload are not shown.
 */
export const RUN_STREAM_EVENTS = [
  "step_start",
  "step_end",
  "log",
  "done",
  "error",
] as const satisfies readonly EventType[];
export type RunEventType = (typeof RUN_STREAM_EVENTS)[number];

// ---- agent sessions ------------------------------------------------------------------------

export type SessionStatus = "idle" | "running" | "aborting" | "aborted" | "failed";
/**
 * A workload's statuses, written once (app/dispatch/status.ts builds its queries from this list):
 * pending → running (first events) → aborting (abort requested) → succeeded | failed | aborted.
 */
export const LIVE_WORKLOAD_STATUSES = ["pending", "running", "aborting"] as const;
/** How a workload ended. */
export type EndStatus = "succeeded" | "failed" | "aborted";
export type WorkloadStatus = (typeof LIVE_WORKLOAD_STATUSES)[number] | EndStatus;

/** `GET /api/sessions/:id`, the answer of `POST /api/sessions`. */
export interface SessionView {
  id: string;
  title: string | null;
  repo: string | null;
  status: SessionStatus;
  /** The latest run, if any. */
  run: { workload_id: string; status: WorkloadStatus; created_at: string } | null;
  created_at: string;
  updated_at: string;
}

/** A session in a list: what a list of chats shows. */
export type SessionSummary = Omit<SessionView, "run">;

/** `GET /api/sessions`: most recently active first; `next` is the `before` of the next page. */
export interface SessionList {
  sessions: SessionSummary[];
  next: string | null;
}

export interface MessageView {
  id: number;
  role: "user" | "assistant";
  workload_id: string | null;
  parts: ChatPart[];
  created_at: string;
}

/** `GET /api/sessions/:id/messages`. */
export interface MessageList {
  messages: MessageView[];
}

/** `POST /api/sessions/:id/run`: the agent's workload, and the workflow runs the message started. */
export interface SessionRunStarted {
  workload_id: string;
  runs: CreatedRun[];
}

/** `POST /api/sessions/:id/abort`. */
export interface SessionAbort {
  workload_id: string;
  status: "aborting";
}
