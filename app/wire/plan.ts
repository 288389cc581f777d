/**
 * The plan DAG: what evaluating a workflow file (`.plue/workflows/*.py`) produces, what the app stores in
 * `workflow_runs.plan`, and what the runner's plan executor runs. App and runner both import this module,
 * so the plan has exactly one schema.
 *
 * A plan is built for one concrete event, so everything known at plan time is plain JSON. What only a
 * running step can know is symbolic, in two forms the runner resolves with {@link resolveValue}:
 *
 * - `{"$ref": "<step>.<output>"}` — one output of an earlier step (`test.exit_code`, `review.approved`);
 *   `{"$ref": "<step>"}` is the step's primary output (see {@link stepOutputs}).
 * - `{"$concat": [value, …]}` — a string joined from parts, written as an f-string or `+` over a
 *   reference (`f"echo {build.stdout}"`). Parts are turned into text with {@link stringify}.
 *
 * Plain dict keys never start with `$`, so the two forms cannot be confused with data.
 *
 * Edges: a step's `needs` lists every step it directly depends on — the explicit `needs=`, every step its
 * values reference, and, for a `run` step written without `needs=`, the `run` step before it in source
 * order (they share one workspace). A step runs once all of its `needs` succeeded; otherwise it is skipped.
 * Checks the schema cannot express (known `needs`, existing outputs, no cycles, size) are in plan-check.ts.
 */
import { z } from "zod";

export const PLAN_VERSION = 1;

/** Bounds every plan must respect (checked by `validatePlan`, plan-check.ts). */
export const PLAN_LIMITS = {
  maxSteps: 256,
  maxTriggers: 20,
  maxTimeoutSeconds: 6 * 60 * 60,
  defaultWorkflowTimeoutSeconds: 60 * 60,
  defaultStepTimeoutSeconds: 30 * 60,
  maxRetries: 5,
  maxTurns: 200,
  defaultMaxTurns: 20,
  maxEnv: 100,
  maxOutputs: 100,
  maxPlanBytes: 1024 * 1024,
} as const;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const WORKFLOW_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** Step names: letters, digits, `_`, `-` (no dots, so `"<step>.<output>"` splits unambiguously). */
export const StepNameSchema = z.string().regex(NAME, "step names use letters, digits, _ and - (max 64)");
export const WorkflowNameSchema = z
  .string()
  .regex(WORKFLOW_NAME, "workflow names use letters, digits, _, . and - (max 64)");
/** Output, input and prompt field names are identifiers, since workflows read them as attributes. */
export const IdentifierSchema = z.string().regex(IDENTIFIER, "names are identifiers like `approved`");

/** A record whose keys must match `key` (zod's own record-key errors do not say why). */
function recordOf<V extends z.ZodType>(key: RegExp, what: string, value: V, max = Number.POSITIVE_INFINITY) {
  return z.record(z.string(), value).superRefine((o, ctx) => {
    const keys = Object.keys(o);
    for (const k of keys) {
      if (!key.test(k)) ctx.addIssue({ code: "custom", path: [k], message: `${what}, not "${k}"` });
    }
    if (keys.length > max) ctx.addIssue({ code: "custom", message: `at most ${max} entries` });
  });
}
const byIdentifier = <V extends z.ZodType>(value: V, max?: number) =>
  recordOf(IDENTIFIER, "names are identifiers like `approved`", value, max);

// ---------------------------------------------------------------------------------------------------
// Values

export type PlanRef = { $ref: string };
export type PlanConcat = { $concat: PlanValue[] };
export type PlanValue =
  | null
  | boolean
  | number
  | string
  | PlanValue[]
  | PlanRef
  | PlanConcat
  | { [key: string]: PlanValue };

const REF = /^([A-Za-z0-9][A-Za-z0-9_-]{0,63})(?:\.([A-Za-z][A-Za-z0-9_]{0,63}))?$/;

export const PlanRefSchema = z.strictObject({
  $ref: z.string().regex(REF, "a reference is <step>.<output>"),
});

export const PlanValueSchema: z.ZodType<PlanValue> = z.lazy(() =>
  z.union([
    z.null(),
    z.boolean(),
    z.number().refine(Number.isFinite, "numbers must be finite"),
    z.string(),
    z.array(PlanValueSchema),
    PlanRefSchema,
    z.strictObject({ $concat: z.array(PlanValueSchema) }),
    z
      .record(z.string(), PlanValueSchema)
      .refine(
        (o) => Object.keys(o).every((k) => !k.startsWith("$")),
        "dict keys starting with $ are reserved",
      ),
  ]),
);

/** Splits a reference string (`"review.approved"` → `{step: "review", output: "approved"}`). */
export function parseRef(ref: string): { step: string; output?: string } {
  const m = REF.exec(ref);
  if (!m) throw new Error(`invalid reference "${ref}"`);
  return m[2] === undefined ? { step: m[1]! } : { step: m[1]!, output: m[2] };
}

export function isRef(v: unknown): v is PlanRef {
  return typeof v === "object" && v !== null && !Array.isArray(v) && typeof (v as PlanRef).$ref === "string";
}

export function isConcat(v: unknown): v is PlanConcat {
  return typeof v === "object" && v !== null && Array.isArray((v as PlanConcat).$concat);
}

/** Every reference inside a value, in order. */
export function collectRefs(value: PlanValue, out: string[] = []): string[] {
  if (isRef(value)) out.push(value.$ref);
  else if (isConcat(value)) for (const p of value.$concat) collectRefs(p, out);
  else if (Array.isArray(value)) for (const p of value) collectRefs(p, out);
  else if (value !== null && typeof value === "object")
    for (const p of Object.values(value)) collectRefs(p, out);
  return out;
}

/**
 * Replaces references with the outputs `lookup` returns (runner side, once the steps ran) and joins
 * `$concat` parts into strings. A reference to an output that does not exist (skipped step) is `null`.
 */
export function resolveValue(value: PlanValue, lookup: (step: string, output?: string) => unknown): unknown {
  if (isRef(value)) {
    const { step, output } = parseRef(value.$ref);
    return lookup(step, output) ?? null;
  }
  if (isConcat(value)) return value.$concat.map((p) => stringify(resolveValue(p, lookup))).join("");
  if (Array.isArray(value)) return value.map((v) => resolveValue(v, lookup));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveValue(v, lookup)]));
  }
  return value;
}

/**
 * Text of a JSON value as Python's `str()` would print it, because workflow authors write Python:
 * `f"{review.approved}"` is `True`, not `true`. Integral numbers print without a fraction.
 */
export function stringify(value: unknown): string {
  if (typeof value === "string") return value;
  return pythonRepr(value);
}

function pythonRepr(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return pythonStringRepr(value);
  if (Array.isArray(value)) return `[${value.map(pythonRepr).join(", ")}]`;
  if (typeof value === "object") {
    return `{${Object.entries(value)
      .map(([k, v]) => `${pythonStringRepr(k)}: ${pythonRepr(v)}`)
      .join(", ")}}`;
  }
  return String(value);
}

/** Python's repr of a str: single quotes unless the text contains `'` and no `"`. */
export function pythonStringRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (ch === "\\") out += "\\\\";
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch < " " || ch === "\x7f") out += `\\x${ch.charCodeAt(0).toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return out + quote;
}

// ---------------------------------------------------------------------------------------------------
// Prompt templates and output schemas

/** `{{name}}` slots in a prompt body (spaces inside the braces allowed). */
export const TEMPLATE_SLOT = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Fills `{{name}}` slots; strings go in as they are, anything else through {@link stringify}. */
export function renderTemplate(template: string, inputs: Record<string, unknown>): string {
  return template.replace(TEMPLATE_SLOT, (_, name: string) =>
    Object.hasOwn(inputs, name) ? stringify(inputs[name]) : "",
  );
}

/** The JSON-Schema subset prompts use to declare inputs and outputs. */
export type JsonSchema = {
  type: "string" | "number" | "integer" | "boolean" | "null" | "array" | "object";
  description?: string;
  enum?: (string | number | boolean)[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
};

export const JsonSchemaSchema: z.ZodType<JsonSchema> = z.lazy(() =>
  z
    .strictObject({
      type: z.enum(["string", "number", "integer", "boolean", "null", "array", "object"]),
      description: z.string().optional(),
      enum: z
        .array(z.union([z.string(), z.number(), z.boolean()]))
        .min(1)
        .optional(),
      items: JsonSchemaSchema.optional(),
      properties: byIdentifier(JsonSchemaSchema).optional(),
      required: z.array(z.string()).optional(),
    })
    .superRefine((s, ctx) => {
      if (s.items && s.type !== "array")
        ctx.addIssue({ code: "custom", message: "`items` needs type array" });
      if ((s.properties || s.required) && s.type !== "object") {
        ctx.addIssue({ code: "custom", message: "`properties`/`required` need type object" });
      }
      for (const r of s.required ?? []) {
        if (!s.properties?.[r])
          ctx.addIssue({ code: "custom", message: `required "${r}" is not a property` });
      }
    }),
);

// ---------------------------------------------------------------------------------------------------
// Triggers

export const PULL_REQUEST_ACTIONS = [
  "opened",
  "synchronize",
  "reopened",
  "closed",
  "edited",
  "labeled",
  "unlabeled",
  "ready_for_review",
  "converted_to_draft",
] as const;
/** What `pull_request()` without `types=` reacts to (as on GitHub). */
export const DEFAULT_PULL_REQUEST_TYPES = ["opened", "synchronize", "reopened"] as const;
export const ISSUE_ACTIONS = [
  "opened",
  "edited",
  "closed",
  "reopened",
  "labeled",
  "unlabeled",
  "commented",
] as const;

/** Glob lists; a leading `!` excludes. Semantics in app/workflows/glob.ts. */
const Patterns = z.array(z.string().min(1).max(256)).min(1).max(100);
const ManualInputSchema = z.strictObject({
  type: z.enum(["string", "number", "boolean"]),
  /** Absent means the input is required. */
  default: z.union([z.string(), z.number(), z.boolean()]).optional(),
});

export const TriggerSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("push"),
    branches: Patterns.optional(),
    tags: Patterns.optional(),
    paths: Patterns.optional(),
  }),
  z.strictObject({
    kind: z.literal("pull_request"),
    types: z.array(z.enum(PULL_REQUEST_ACTIONS)).min(1).optional(),
    branches: Patterns.optional(),
    paths: Patterns.optional(),
  }),
  z.strictObject({
    kind: z.literal("issue"),
    types: z.array(z.enum(ISSUE_ACTIONS)).min(1).optional(),
    labels: z.array(z.string().min(1)).min(1).optional(),
  }),
  z.strictObject({ kind: z.literal("manual"), inputs: byIdentifier(ManualInputSchema) }),
  z.strictObject({ kind: z.literal("chat") }),
  z.strictObject({ kind: z.literal("mention"), handle: z.string().min(1).optional() }),
]);
export type Trigger = z.infer<typeof TriggerSchema>;
export type TriggerKind = Trigger["kind"];
export type ManualInput = z.infer<typeof ManualInputSchema>;

// ---------------------------------------------------------------------------------------------------
// Steps and plans

const Timeout = z.number().int().min(1).max(PLAN_LIMITS.maxTimeoutSeconds);
const SourcePos = z.strictObject({ line: z.number().int().min(1), col: z.number().int().min(1) });

const stepBase = {
  name: StepNameSchema,
  needs: z.array(StepNameSchema).max(PLAN_LIMITS.maxSteps),
  timeout_seconds: Timeout,
  retries: z.number().int().min(0).max(PLAN_LIMITS.maxRetries),
  /** Where the step was created in the workflow file (for UIs and errors). */
  source: SourcePos.optional(),
};

export const RunStepSchema = z.strictObject({
  kind: z.literal("run"),
  ...stepBase,
  /** Shell command (`sh -c`), run in the workspace at the run's commit. */
  cmd: PlanValueSchema,
  env: recordOf(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    "env names are like NODE_ENV",
    PlanValueSchema,
    PLAN_LIMITS.maxEnv,
  ),
});

export const GitDiffStepSchema = z.strictObject({
  kind: z.literal("git_diff"),
  ...stepBase,
  /** Commit-ish to diff from (`git diff base...head`). */
  base: PlanValueSchema,
  /** Commit-ish to diff to; null means the run's commit. */
  head: PlanValueSchema.nullable(),
});

export const PromptSchema = z.strictObject({
  name: z.string().min(1),
  /** null: the platform's default model. */
  model: z.string().min(1).nullable(),
  tools: z.array(z.string().min(1)).max(100),
  max_turns: z.number().int().min(1).max(PLAN_LIMITS.maxTurns),
  /** The prompt body with `{{input}}` slots, rendered by {@link renderTemplate}. */
  template: z.string(),
  /** The agent must finish with output valid against this (type object). */
  output_schema: JsonSchemaSchema,
});
export type Prompt = z.infer<typeof PromptSchema>;

export const AgentStepSchema = z.strictObject({
  kind: z.literal("agent"),
  ...stepBase,
  prompt: PromptSchema,
  inputs: byIdentifier(PlanValueSchema),
});

export const StepSchema = z.discriminatedUnion("kind", [RunStepSchema, GitDiffStepSchema, AgentStepSchema]);
export type Step = z.infer<typeof StepSchema>;
export type RunStep = z.infer<typeof RunStepSchema>;
export type GitDiffStep = z.infer<typeof GitDiffStepSchema>;
export type AgentStep = z.infer<typeof AgentStepSchema>;

export const ConcurrencySchema = z.strictObject({
  group: z.string().min(1).max(256),
  /** true: a new run cancels older runs of the group; false: it waits for them. */
  cancel_in_progress: z.boolean(),
});

export const PlanResultSchema = z.strictObject({
  status: z.enum(["success", "failure"]),
  /** Why the workflow fails (failure only). */
  message: PlanValueSchema.nullable(),
  outputs: byIdentifier(PlanValueSchema, PLAN_LIMITS.maxOutputs),
});

export const PlanSchema = z.strictObject({
  version: z.literal(PLAN_VERSION),
  name: WorkflowNameSchema,
  /** The workflow file and the position of its `def`. */
  source: z.strictObject({ path: z.string(), line: z.number().int(), col: z.number().int() }).optional(),
  triggers: z.array(TriggerSchema).min(1).max(PLAN_LIMITS.maxTriggers),
  timeout_seconds: Timeout,
  concurrency: ConcurrencySchema.nullable(),
  steps: z.array(StepSchema).max(PLAN_LIMITS.maxSteps),
  /** What the workflow returned; its references are resolved after all steps ended. */
  result: PlanResultSchema,
});
export type Plan = z.infer<typeof PlanSchema>;
export type PlanResult = z.infer<typeof PlanResultSchema>;
export type Concurrency = z.infer<typeof ConcurrencySchema>;

const RUN_OUTPUTS = ["stdout", "stderr", "exit_code"];
const GIT_DIFF_OUTPUTS = ["diff"];

/**
 * The outputs a step can be referenced by: run → stdout, stderr, exit_code; git_diff → diff;
 * agent → the properties of its prompt's output schema. The primary output (`{"$ref": "<step>"}`)
 * is stdout, the diff, or an agent's whole output object.
 */
export function stepOutputs(step: Step): string[] {
  switch (step.kind) {
    case "run":
      return RUN_OUTPUTS;
    case "git_diff":
      return GIT_DIFF_OUTPUTS;
    case "agent":
      return Object.keys(step.prompt.output_schema.properties ?? {});
  }
}
