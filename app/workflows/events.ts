/**
 * Events that start workflows, as the webhooks, the git push bus, the dispatch API and chat deliver
 * them, and the `ctx.event` view a workflow body reads. Extra fields are kept (and visible to workflows).
 */
import { z } from "zod";
import type { Trigger, TriggerKind } from "../wire/plan";
import { fromJson, PyRecord, type Value } from "./values";

const Sha = z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, "a full commit id");

export const PushEventSchema = z.looseObject({
  kind: z.literal("push"),
  /** Full ref name: `refs/heads/main`, `refs/tags/v1.2.0`. */
  ref: z.string().startsWith("refs/"),
  /** All zeros when the ref was created. */
  before: Sha,
  /** All zeros when the ref was deleted (such pushes match no trigger). */
  after: Sha,
  /** Paths changed between before and after; absent when unknown (then `paths` filters pass). */
  paths: z.array(z.string()).optional(),
});

export const PullRequestEventSchema = z.looseObject({
  kind: z.literal("pull_request"),
  /** opened, synchronize, reopened, closed, edited, labeled, … */
  action: z.string().min(1),
  number: z.number().int().positive().optional(),
  /** Target branch name (`main`; a `refs/heads/` prefix is accepted). */
  base: z.string().min(1),
  /** Source branch name. */
  head: z.string().min(1),
  base_sha: Sha.optional(),
  head_sha: Sha.optional(),
  title: z.string().optional(),
  paths: z.array(z.string()).optional(),
});

export const IssueEventSchema = z.looseObject({
  kind: z.literal("issue"),
  action: z.string().min(1),
  number: z.number().int().positive().optional(),
  title: z.string().optional(),
  labels: z.array(z.string()).default([]),
});

export const ManualEventSchema = z.looseObject({
  kind: z.literal("manual"),
  /** The workflow asked for (dispatch API); absent matches any workflow with a manual trigger. */
  workflow: z.string().optional(),
  ref: z.string().optional(),
  inputs: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
});

export const ChatEventSchema = z.looseObject({
  kind: z.literal("chat"),
  session_id: z.string().optional(),
  message: z.string().optional(),
});

export const MentionEventSchema = z.looseObject({
  kind: z.literal("mention"),
  /** Who was mentioned, with or without `@`. */
  handle: z.string().min(1),
  body: z.string().optional(),
  /** The chat session the mention was made in, if any: the run then belongs to it. */
  session_id: z.string().optional(),
});

export const WorkflowEventSchema = z.discriminatedUnion("kind", [
  PushEventSchema,
  PullRequestEventSchema,
  IssueEventSchema,
  ManualEventSchema,
  ChatEventSchema,
  MentionEventSchema,
]);
export type WorkflowEvent = z.infer<typeof WorkflowEventSchema>;
/** What callers may pass (defaults such as `labels: []` not yet applied). */
export type WorkflowEventInput = z.input<typeof WorkflowEventSchema>;
export type EventOf<K extends TriggerKind> = Extract<WorkflowEvent, { kind: K }>;

export const ZERO_SHA = "0".repeat(40);

/** `refs/heads/main` → `{branch: "main"}`, `refs/tags/v1` → `{tag: "v1"}`. */
export function splitRef(ref: string): { branch?: string; tag?: string } {
  if (ref.startsWith("refs/heads/")) return { branch: ref.slice("refs/heads/".length) };
  if (ref.startsWith("refs/tags/")) return { tag: ref.slice("refs/tags/".length) };
  return {};
}

export function branchName(name: string): string {
  return name.startsWith("refs/heads/") ? name.slice("refs/heads/".length) : name;
}

/**
 * `ctx.event`: the event's own fields, plus conveniences: `branch`/`tag`/`sha` for pushes,
 * `pull_request` (`.base`, `.head`, `.number`, …) and `issue` records, which are None for other kinds,
 * so `if ctx.event.pull_request:` works on every event.
 */
export function eventView(event: WorkflowEvent): PyRecord {
  const fields = new Map<string, Value>();
  for (const [k, v] of Object.entries(event)) fields.set(k, fromJson(v, k));
  fields.set("pull_request", null);
  fields.set("issue", null);
  switch (event.kind) {
    case "push": {
      const { branch, tag } = splitRef(event.ref);
      fields.set("branch", branch ?? null);
      fields.set("tag", tag ?? null);
      fields.set("sha", event.after);
      break;
    }
    case "pull_request":
      fields.set(
        "pull_request",
        fromJson(
          {
            number: event.number ?? null,
            action: event.action,
            base: branchName(event.base),
            head: branchName(event.head),
            base_sha: event.base_sha ?? null,
            head_sha: event.head_sha ?? null,
            title: event.title ?? null,
          },
          "pull_request",
        ),
      );
      fields.set("sha", event.head_sha ?? null);
      break;
    case "issue":
      fields.set(
        "issue",
        fromJson(
          {
            number: event.number ?? null,
            action: event.action,
            title: event.title ?? null,
            labels: event.labels,
          },
          "issue",
        ),
      );
      break;
    default:
      break;
  }
  return new PyRecord(`${event.kind} event`, fields);
}

const GLOB_CHARS = /[*?[\]!]/;

/** The first literal (glob-free, not negated) pattern, to make sample events match their trigger. */
function literal(patterns: string[] | undefined): string | undefined {
  return patterns?.find((p) => !GLOB_CHARS.test(p));
}

/**
 * A plausible event for a trigger, for `plue workflow check` and for validating a workflow body
 * before any real event arrives. It matches the trigger whenever the trigger's filters allow it.
 */
export function sampleEvent(trigger: Trigger): WorkflowEvent {
  const before = "1".repeat(40);
  const after = "2".repeat(40);
  switch (trigger.kind) {
    case "push": {
      const tag = !trigger.branches && trigger.tags ? (literal(trigger.tags) ?? "v1.0.0") : undefined;
      const ref = tag ? `refs/tags/${tag}` : `refs/heads/${literal(trigger.branches) ?? "main"}`;
      return { kind: "push", ref, before, after };
    }
    case "pull_request":
      return {
        kind: "pull_request",
        action: trigger.types?.[0] ?? "opened",
        number: 1,
        base: literal(trigger.branches) ?? "main",
        head: "feature",
        base_sha: before,
        head_sha: after,
        title: "Example pull request",
      };
    case "issue":
      return {
        kind: "issue",
        action: trigger.types?.[0] ?? "opened",
        number: 1,
        title: "Example issue",
        labels: trigger.labels ? [trigger.labels[0]!] : [],
      };
    case "manual": {
      const inputs: Record<string, string | number | boolean> = {};
      for (const [name, spec] of Object.entries(trigger.inputs)) {
        inputs[name] = spec.default ?? (spec.type === "number" ? 0 : spec.type === "boolean" ? false : "");
      }
      return { kind: "manual", inputs };
    }
    case "chat":
      return { kind: "chat", session_id: "sample", message: "Hello" };
    case "mention":
      return {
        kind: "mention",
        handle: trigger.handle ?? "plue",
        body: `@${trigger.handle ?? "plue"} hello`,
      };
  }
}

/** A sample event for a trigger kind alone (the CLI's `--event push`). */
export function sampleEventOfKind(kind: TriggerKind): WorkflowEvent {
  return sampleEvent(kind === "manual" ? { kind, inputs: {} } : ({ kind } as Trigger));
}
