/**
 * Trigger matching: does an event start a workflow? Only the workflow's triggers are needed (known after
 * the module-level pass, before any body runs), so matching is cheap and never evaluates user code.
 */
import { DEFAULT_PULL_REQUEST_TYPES, type Plan, type Trigger } from "../wire/plan";
import {
  branchName,
  splitRef,
  type WorkflowEvent,
  type WorkflowEventInput,
  WorkflowEventSchema,
  ZERO_SHA,
} from "./events";
import { matchAnyPath, matchPatterns } from "./glob";

export type TriggerMatch =
  /** `event` is normalised: defaults applied (manual inputs get their declared defaults). */
  { matched: true; trigger: Trigger; event: WorkflowEvent } | { matched: false; reason: string };

type Outcome = { ok: true; event: WorkflowEvent } | { ok: false; reason: string };

/**
 * Matches an event against a workflow's triggers (a plan, or the header from `loadWorkflows`). The first
 * trigger that matches wins; otherwise `reason` says why the last candidate did not. Throws on a malformed
 * event, which is a bug in the caller rather than in the workflow.
 */
export function matchTriggers(
  workflow: Pick<Plan, "name" | "triggers">,
  input: WorkflowEventInput,
): TriggerMatch {
  const parsed = WorkflowEventSchema.safeParse(input);
  if (!parsed.success) {
    throw new Error(
      `invalid event: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  const event = parsed.data;
  let reason = `the workflow has no ${event.kind} trigger`;
  for (const trigger of workflow.triggers) {
    if (trigger.kind !== event.kind) continue;
    const outcome = matchOne(trigger, event, workflow.name);
    if (outcome.ok) return { matched: true, trigger, event: outcome.event };
    reason = outcome.reason;
  }
  return { matched: false, reason };
}

function matchOne(t: Trigger, e: WorkflowEvent, workflow: string): Outcome {
  const yes: Outcome = { ok: true, event: e };
  switch (t.kind) {
    case "push": {
      if (e.kind !== "push") break;
      if (e.after === ZERO_SHA) return { ok: false, reason: `the push deleted ${e.ref}` };
      const { branch, tag } = splitRef(e.ref);
      if (branch === undefined && tag === undefined)
        return { ok: false, reason: `${e.ref} is neither a branch nor a tag` };
      if (t.branches || t.tags) {
        if (branch !== undefined && !(t.branches && matchPatterns(t.branches, branch))) {
          return {
            ok: false,
            reason: t.branches
              ? `branch ${branch} does not match ${t.branches.join(", ")}`
              : "the trigger is for tags",
          };
        }
        if (tag !== undefined && !(t.tags && matchPatterns(t.tags, tag))) {
          return {
            ok: false,
            reason: t.tags ? `tag ${tag} does not match ${t.tags.join(", ")}` : "the trigger is for branches",
          };
        }
      }
      // Tag pushes have no meaningful change set, so path filters apply to branches only.
      if (branch !== undefined && t.paths && e.paths && !matchAnyPath(t.paths, e.paths)) {
        return { ok: false, reason: `no changed path matches ${t.paths.join(", ")}` };
      }
      return yes;
    }
    case "pull_request": {
      if (e.kind !== "pull_request") break;
      const types: readonly string[] = t.types ?? DEFAULT_PULL_REQUEST_TYPES;
      if (!types.includes(e.action))
        return { ok: false, reason: `action ${e.action} is not one of ${types.join(", ")}` };
      const base = branchName(e.base);
      if (t.branches && !matchPatterns(t.branches, base)) {
        return { ok: false, reason: `base branch ${base} does not match ${t.branches.join(", ")}` };
      }
      if (t.paths && e.paths && !matchAnyPath(t.paths, e.paths)) {
        return { ok: false, reason: `no changed path matches ${t.paths.join(", ")}` };
      }
      return yes;
    }
    case "issue": {
      if (e.kind !== "issue") break;
      if (t.types && !(t.types as readonly string[]).includes(e.action)) {
        return { ok: false, reason: `action ${e.action} is not one of ${t.types.join(", ")}` };
      }
      if (t.labels && !t.labels.some((l) => e.labels.includes(l))) {
        return { ok: false, reason: `the issue has none of the labels ${t.labels.join(", ")}` };
      }
      return yes;
    }
    case "manual":
      if (e.kind !== "manual") break;
      if (e.workflow !== undefined && e.workflow !== workflow) {
        return { ok: false, reason: `the dispatch is for workflow ${e.workflow}` };
      }
      return manualInputs(t, e);
    case "chat":
      return e.kind === "chat" ? yes : { ok: false, reason: "not a chat event" };
    case "mention": {
      if (e.kind !== "mention") break;
      const norm = (h: string) => h.replace(/^@/, "").toLowerCase();
      if (t.handle && norm(t.handle) !== norm(e.handle)) {
        return { ok: false, reason: `the mention is for @${norm(e.handle)}, not @${norm(t.handle)}` };
      }
      return yes;
    }
  }
  return { ok: false, reason: `not a ${t.kind} event` };
}

/** Checks dispatch inputs against the declared ones, converting form-style strings and adding defaults. */
function manualInputs(
  t: Extract<Trigger, { kind: "manual" }>,
  e: Extract<WorkflowEvent, { kind: "manual" }>,
): Outcome {
  const inputs: Record<string, string | number | boolean> = {};
  for (const name of Object.keys(e.inputs)) {
    if (!Object.hasOwn(t.inputs, name)) {
      const known = Object.keys(t.inputs);
      return { ok: false, reason: `unknown input ${name} (inputs: ${known.join(", ") || "none"})` };
    }
  }
  for (const [name, spec] of Object.entries(t.inputs)) {
    const given = e.inputs[name];
    if (given === undefined) {
      if (spec.default === undefined) return { ok: false, reason: `input ${name} is required` };
      inputs[name] = spec.default;
      continue;
    }
    const value = coerce(given, spec.type);
    if (value === undefined) return { ok: false, reason: `input ${name} must be a ${spec.type}` };
    inputs[name] = value;
  }
  return { ok: true, event: { ...e, inputs } };
}

function coerce(
  v: string | number | boolean,
  type: "string" | "number" | "boolean",
): string | number | boolean | undefined {
  if (typeof v === type) return v;
  if (typeof v !== "string") return undefined;
  if (type === "number") return v.trim() !== "" && Number.isFinite(Number(v)) ? Number(v) : undefined;
  if (type === "boolean") return v === "true" ? true : v === "false" ? false : undefined;
  return undefined;
}
