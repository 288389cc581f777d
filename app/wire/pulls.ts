/**
 * The issues and pull requests API's contract (docs/pulls.md): issues, labels, comments and the
 * timeline; pull requests, their diff, commits, reviews and line comments, merging; checks and
 * commit statuses; branch protection. What the server answers, what it accepts (zod schemas, so
 * the server validates and the web UI and CLI type their requests from one place), and the words
 * both sides need. Nothing here imports the rest of the codebase.
 *
 * Words and shapes are GitHub's (and Gitea's, which follows them): `number`, `state` open|closed
 * with `state_reason`, `head`/`base` with `ref` and `sha`, `mergeable`, files with `filename`,
 * `status`, `additions`, `deletions`, `patch`; reviews APPROVE | REQUEST_CHANGES | COMMENT; line
 * comments on `path`, `line`, `side` LEFT | RIGHT; commit statuses with `context`, `state`,
 * `target_url`, `description`.
 */
import { z } from "zod";

// ---- people and labels -----------------------------------------------------------------------

/** Who wrote or did something (null when the account is gone). */
export interface UserRef {
  id: number;
  username: string;
}

export interface LabelView {
  id: number;
  name: string;
  /** Six lower-case hex digits, no `#`. */
  color: string;
  description: string;
}

const LabelName = z
  .string()
  .trim()
  .min(1)
  .max(50)
  .regex(/^[^,\s][^,]*$/, "no commas in a label name");
const Color = z
  .string()
  .regex(/^#?[0-9a-fA-F]{6}$/, "six hex digits, e.g. d73a4a")
  .transform((c) => c.replace(/^#/, "").toLowerCase());

export const CreateLabel = z.strictObject({
  name: LabelName,
  color: Color,
  description: z.string().max(200).default(""),
});
export const UpdateLabel = z.strictObject({
  name: LabelName.optional(),
  color: Color.optional(),
  description: z.string().max(200).optional(),
});

// ---- issues ----------------------------------------------------------------------------------

export const ISSUE_STATES = ["open", "closed"] as const;
export type IssueState = (typeof ISSUE_STATES)[number];
/** Why an issue is closed (or that it was reopened). */
export const STATE_REASONS = ["completed", "not_planned", "merged", "reopened"] as const;
export type StateReason = (typeof STATE_REASONS)[number];

export const REACTIONS = ["+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"] as const;
export type Reaction = (typeof REACTIONS)[number];

/** Counts per reaction, only those given. */
export type ReactionCounts = Partial<Record<Reaction, number>>;

export interface IssueView {
  number: number;
  title: string;
  body: string;
  /** The body as sanitized HTML (the Markdown renderer's), on single reads; absent in lists. */
  body_html?: string;
  state: IssueState;
  state_reason: StateReason | null;
  user: UserRef | null;
  labels: LabelView[];
  assignees: UserRef[];
  comments: number;
  reactions: ReactionCounts;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  closed_by: UserRef | null;
  /** Set when this issue is a pull request (GET …/pulls/:number has the rest). */
  pull_request?: { merged_at: string | null; draft: boolean };
}

/** A page of a listing; `total` counts every match, `next_page` is null on the last page. */
export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  per_page: number;
  next_page: number | null;
}

const Title = z.string().trim().min(1, "a title is required").max(256);
const Body = z.string().max(65536, "at most 64 KiB");
const Username = z.string().min(1).max(39);

export const CreateIssue = z.strictObject({
  title: Title,
  body: Body.default(""),
  labels: z.array(LabelName).max(20).default([]),
  assignees: z.array(Username).max(10).default([]),
});

export const UpdateIssue = z.strictObject({
  title: Title.optional(),
  body: Body.optional(),
  state: z.enum(ISSUE_STATES).optional(),
  state_reason: z.enum(["completed", "not_planned"]).optional(),
  /** Replaces the issue's labels. */
  labels: z.array(LabelName).max(20).optional(),
  /** Replaces the issue's assignees. */
  assignees: z.array(Username).max(10).optional(),
});

/** `GET …/issues` and `GET …/pulls` query: paged and filtered. */
export const ListQuery = z.object({
  state: z.enum(["open", "closed", "all"]).default("open"),
  /** Comma-separated label names: every one must be on the issue. */
  labels: z.string().max(500).optional(),
  /** The author's username. */
  author: Username.optional(),
  assignee: Username.optional(),
  page: z.coerce.number().int().min(1).max(100000).default(1),
  per_page: z.coerce.number().int().min(1).max(100).default(30),
});

export interface CommentView {
  id: number;
  user: UserRef | null;
  body: string;
  body_html?: string;
  reactions: ReactionCounts;
  created_at: string;
  updated_at: string;
}

export const CreateComment = z.strictObject({ body: Body.min(1, "a comment needs a body") });
export const UpdateComment = CreateComment;
export const CreateReaction = z.strictObject({ content: z.enum(REACTIONS) });

/** `POST …/reactions` (a toggle: 201 added, 200 taken back) and `DELETE …/reactions/:content`. */
export interface ReactionResult {
  content: Reaction;
  /** Whether the caller has the reaction now. */
  reacted: boolean;
  /** The counts after the change. */
  reactions: ReactionCounts;
}

/** What the timeline records (issue_events.kind). */
export const TIMELINE_KINDS = [
  "opened",
  "edited",
  "closed",
  "reopened",
  "labeled",
  "unlabeled",
  "assigned",
  "unassigned",
  "commented",
  /** A commit mentioned `#N` (data: sha, ref) or closed it (closed, data: sha). */
  "referenced",
  /** Another issue or pull request mentioned `#N` (data: number). */
  "cross-referenced",
  // pull requests
  "head_pushed",
  "base_changed",
  "ready_for_review",
  "converted_to_draft",
  "reviewed",
  "review_dismissed",
  "merged",
  "head_ref_deleted",
] as const;
export type TimelineKind = (typeof TIMELINE_KINDS)[number];

export interface TimelineEventView {
  id: number;
  kind: TimelineKind;
  actor: UserRef | null;
  /** Kind-specific: {label}, {assignee}, {sha, ref}, {number}, {before, after}, {review_id}, {comment_id}, … */
  data: Record<string, unknown>;
  created_at: string;
}

// ---- pull requests ---------------------------------------------------------------------------

export interface BranchRef {
  /** Branch name, without `refs/heads/`. */
  ref: string;
  sha: string;
  /** owner/name of the repository the branch is in (forks later). */
  repo: string;
}

export const MERGE_METHODS = ["merge", "squash", "rebase", "fast-forward"] as const;
export type MergeMethod = (typeof MERGE_METHODS)[number];

/**
 * How a pull request stands: `clean` (may merge now), `conflict` (git cannot merge it),
 * `blocked` (a branch rule is unmet: `blockers` says which), `unknown` (not yet computed), `draft`.
 */
export type MergeableState = "clean" | "conflict" | "blocked" | "unknown" | "draft";

export interface PullView {
  number: number;
  title: string;
  body: string;
  body_html?: string;
  /** open | closed; a merged pull request is closed with `merged: true`. */
  state: IssueState;
  merged: boolean;
  draft: boolean;
  user: UserRef | null;
  labels: LabelView[];
  assignees: UserRef[];
  head: BranchRef;
  base: BranchRef;
  merge_base: string | null;
  /** null while unknown. */
  mergeable: boolean | null;
  mergeable_state: MergeableState;
  /** Files git could not merge (when mergeable is false). */
  conflicts: string[];
  /** What keeps it from merging now (unmet rules, conflicts, draft), on single reads. */
  blockers?: string[];
  comments: number;
  review_comments: number;
  /** Reactions to the pull request itself (given through `…/issues/:n/reactions`). */
  reactions: ReactionCounts;
  commits: number;
  additions: number;
  deletions: number;
  changed_files: number;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  merged_at: string | null;
  merged_by: UserRef | null;
  merge_commit_sha: string | null;
}

export const CreatePull = z.strictObject({
  title: Title,
  body: Body.default(""),
  /** The branch with the changes. */
  head: z.string().min(1).max(255),
  /** The branch they go into; default: the repository's default branch. */
  base: z.string().min(1).max(255).optional(),
  draft: z.boolean().default(false),
});

export const UpdatePull = z.strictObject({
  title: Title.optional(),
  body: Body.optional(),
  state: z.enum(ISSUE_STATES).optional(),
  base: z.string().min(1).max(255).optional(),
  draft: z.boolean().optional(),
});

export const FILE_STATUSES = ["added", "removed", "modified", "renamed", "copied"] as const;
export type FileStatus = (typeof FILE_STATUSES)[number];

/** One file of a diff (`GET …/pulls/:n/files`, paged). */
export interface FileDiffView {
  filename: string;
  /** For renames and copies: where it came from. */
  previous_filename?: string;
  status: FileStatus;
  additions: number;
  deletions: number;
  changes: number;
  binary: boolean;
  /** The unified diff hunks of this file (from `@@`); absent for binary files and when too large. */
  patch?: string;
  /** Set when the patch was left out or cut: why (`binary`, `too large: 1.2 MiB`, …). */
  summary?: string;
  /** Blob ids before and after (null for the side that does not exist). */
  old_sha: string | null;
  new_sha: string | null;
}

export interface DiffPage extends Page<FileDiffView> {
  /** Over the whole diff, not this page. */
  additions: number;
  deletions: number;
  /** The commits the diff is between: the merge base and the head. */
  base_sha: string;
  head_sha: string;
}

/**
 * `GET /api/repos/:o/:r/compare/:base...:head`: two branches compared without a pull request
 * (the web UI's "New pull request"): the commits of head not in base and the diff from their
 * merge base, paged as a pull request's files.
 */
export interface CompareView {
  base_sha: string;
  head_sha: string;
  merge_base: string;
  commits: CommitView[];
  files: DiffPage;
}

export const DiffQuery = z.object({
  page: z.coerce.number().int().min(1).max(100000).default(1),
  per_page: z.coerce.number().int().min(1).max(300).default(100),
});

export interface CommitView {
  sha: string;
  /** The whole message; `title` is its first line. */
  message: string;
  title: string;
  author: { name: string; email: string; date: string };
  committer: { name: string; email: string; date: string };
  parents: string[];
}

export const REVIEW_EVENTS = ["APPROVE", "REQUEST_CHANGES", "COMMENT"] as const;
export type ReviewEvent = (typeof REVIEW_EVENTS)[number];
export const REVIEW_STATES = ["approved", "changes_requested", "commented"] as const;
export type ReviewState = (typeof REVIEW_STATES)[number];

export interface ReviewView {
  id: number;
  user: UserRef | null;
  state: ReviewState;
  body: string;
  body_html?: string;
  /** The head it was given on. */
  commit_sha: string;
  /** Set when a later push (a branch rule) or an admin dismissed it. */
  dismissed: boolean;
  /** An approval given on an older head than the current one. */
  stale: boolean;
  created_at: string;
}

export const Side = z.enum(["LEFT", "RIGHT"]);

/** A line comment; a review may carry several. */
export const LineComment = z.strictObject({
  path: z.string().min(1).max(4096),
  /** The line number in the file on that side (head side for RIGHT, base side for LEFT). */
  line: z.number().int().min(1),
  side: Side.default("RIGHT"),
  body: Body.min(1),
});

export const CreateReview = z.strictObject({
  event: z.enum(REVIEW_EVENTS),
  body: Body.default(""),
  /** The head being reviewed; a different current head is 409 (the diff moved under you). */
  commit_id: z
    .string()
    .regex(/^[0-9a-f]{40}$/)
    .optional(),
  comments: z.array(LineComment).max(100).default([]),
});

export const CreateReviewComment = z.union([
  LineComment.extend({
    commit_id: z
      .string()
      .regex(/^[0-9a-f]{40}$/)
      .optional(),
  }),
  z.strictObject({ in_reply_to: z.number().int().positive(), body: Body.min(1) }),
]);

export interface ReviewCommentView {
  id: number;
  review_id: number | null;
  in_reply_to_id: number | null;
  user: UserRef | null;
  body: string;
  body_html?: string;
  path: string;
  side: "LEFT" | "RIGHT";
  /** Where it sits on the current head; null once its line is gone (then `outdated`). */
  line: number | null;
  commit_id: string;
  original_line: number;
  original_commit_id: string;
  outdated: boolean;
  created_at: string;
  updated_at: string;
}

export const MergePull = z.strictObject({
  method: z.enum(MERGE_METHODS).default("merge"),
  /** The head the caller saw; a different current head is 409 and nothing is merged. */
  sha: z
    .string()
    .regex(/^[0-9a-f]{40}$/)
    .optional(),
  /** Merge and squash commits: the first line and the rest of the message. */
  title: z.string().max(256).optional(),
  message: z.string().max(65536).optional(),
  delete_branch: z.boolean().default(false),
});

export interface MergeResult {
  merged: true;
  sha: string;
  method: MergeMethod;
  message: string;
}

/** 409 of a merge that is not allowed: `{"error":{"code":"not_mergeable","message",…,"reasons":[…]}}`. */
export interface MergeRefusal {
  reasons: string[];
}

// ---- checks and commit statuses ---------------------------------------------------------------

export const CHECK_STATUSES = [
  "queued",
  "running",
  "success",
  "failure",
  "cancelled",
  "error",
  "skipped",
] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

export const COMMIT_STATES = ["pending", "success", "failure", "error"] as const;
export type CommitState = (typeof COMMIT_STATES)[number];

/**
 * One check of a commit: a workflow run at it (`source: workflow`, the run's status), a commit
 * status an outside system posted (`source: status`; pending is `running`), or a workflow whose
 * triggers did not match the change (`source: skipped`, `description` says why).
 */
export interface CheckView {
  /** The workflow name, or the status's context. */
  name: string;
  source: "workflow" | "status" | "skipped";
  status: CheckStatus;
  description: string;
  /** The run page for workflow runs; the status's target_url. */
  target_url: string | null;
  run_id: string | null;
  /** A run's outputs once it succeeded (`{approved: true}`). */
  outputs: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
}

export interface ChecksView {
  sha: string;
  /** The worst of the checks: failure > running/queued > success (skipped counts as success); success when none. */
  state: "pending" | "success" | "failure";
  checks: CheckView[];
}

export const CreateStatus = z.strictObject({
  context: z.string().trim().min(1).max(255).default("default"),
  state: z.enum(COMMIT_STATES),
  target_url: z
    .string()
    .max(2048)
    .url()
    .refine((u) => /^https?:\/\//i.test(u), "an http(s) URL")
    .nullish(),
  description: z.string().max(1024).default(""),
});

export interface CommitStatusView {
  id: number;
  context: string;
  state: CommitState;
  target_url: string | null;
  description: string;
  creator: UserRef | null;
  created_at: string;
  updated_at: string;
}

// ---- branch protection -------------------------------------------------------------------------

export const BranchProtectionInput = z.strictObject({
  /** A branch name or glob (`main`, `release/*`). */
  pattern: z.string().trim().min(1).max(255),
  required_checks: z.array(z.string().trim().min(1).max(255)).max(50).default([]),
  required_approvals: z.number().int().min(0).max(20).default(0),
  dismiss_stale_approvals: z.boolean().default(false),
  block_force_push: z.boolean().default(true),
  block_deletion: z.boolean().default(true),
  /** null: anyone with write may push directly; a list: only these usernames and `org/team`s. */
  push_allowlist: z.array(z.string().min(1).max(100)).max(100).nullable().default(null),
});
export const UpdateBranchProtection = BranchProtectionInput.partial();

export interface BranchProtectionView {
  id: number;
  pattern: string;
  required_checks: string[];
  required_approvals: number;
  dismiss_stale_approvals: boolean;
  block_force_push: boolean;
  block_deletion: boolean;
  push_allowlist: string[] | null;
  created_at: string;
  updated_at: string;
}

// ---- live updates ------------------------------------------------------------------------------

/**
 * `GET …/pulls/:n/events` (SSE): one `changed` frame whenever the pull request, its reviews,
 * comments or its head's checks change; the page reads the views again. Data: `{what}`.
 */
export const PULL_STREAM_EVENTS = ["changed"] as const;
export type PullChange = "pull" | "checks" | "comments" | "reviews";
