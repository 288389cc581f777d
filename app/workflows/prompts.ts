/**
 * Prompt files (`.plue/prompts/<Name>.md`): YAML front matter declaring inputs, the output schema, the
 * model, tools and limits, then the prompt body with `{{input}}` slots. Importing one
 * (`from plue.prompts import CodeReview`) makes a function whose calls become agent steps.
 */
import { posix } from "node:path";
import { isMap, isSeq, parseDocument } from "yaml";
import { z } from "zod";
import {
  IdentifierSchema,
  type JsonSchema,
  JsonSchemaSchema,
  PLAN_LIMITS,
  TEMPLATE_SLOT,
} from "../wire/plan";
import { LineIndex, type WorkflowError } from "./errors";

/** Keyword arguments of a prompt call that configure the step rather than fill an input. */
export const STEP_OPTIONS = ["name", "needs", "timeout", "retries"] as const;

export type PromptInput = { schema?: JsonSchema; required: boolean; default?: unknown; description?: string };

export type PromptDefinition = {
  name: string;
  path: string;
  description?: string;
  model: string | null;
  tools: string[];
  max_turns: number;
  timeout_seconds?: number;
  inputs: Map<string, PromptInput>;
  /** Always type object: its properties are what `review.approved` may reference. */
  output: JsonSchema;
  template: string;
};

const InputSpecSchema = z
  .strictObject({
    type: z.enum(["string", "number", "integer", "boolean", "array", "object"]).optional(),
    description: z.string().optional(),
    enum: z.array(z.union([z.string(), z.number(), z.boolean()])).optional(),
    items: JsonSchemaSchema.optional(),
    default: z.unknown().optional(),
    required: z.boolean().optional(),
  })
  .nullable();

const FrontMatterSchema = z.strictObject({
  description: z.string().optional(),
  model: z.string().min(1).optional(),
  tools: z.array(z.string().min(1)).max(100).optional(),
  max_turns: z.number().int().min(1).max(PLAN_LIMITS.maxTurns).optional(),
  /** Seconds, or a duration such as `10m`. */
  timeout: z.union([z.number().int().min(1).max(PLAN_LIMITS.maxTimeoutSeconds), z.string()]).optional(),
  inputs: z.union([z.array(IdentifierSchema), z.record(IdentifierSchema, InputSpecSchema)]).optional(),
  output: JsonSchemaSchema.optional(),
});

/** Where a workflow file's prompts live: `.plue/workflows/ci.py` → `.plue/prompts/<name>.md`. */
export function promptPath(workflowPath: string, name: string): string {
  const dir = posix.dirname(workflowPath.replace(/\\/g, "/"));
  const base = posix.basename(dir) === "workflows" ? posix.dirname(dir) : dir;
  return posix.join(base, "prompts", `${name}.md`);
}

/** `30`, `"45s"`, `"10m"`, `"1h30m"` → seconds; undefined if malformed. */
export function parseDuration(text: string): number | undefined {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text.trim());
  if (!m || text.trim() === "") return undefined;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

export type PromptResult = { ok: true; prompt: PromptDefinition } | { ok: false; errors: WorkflowError[] };

export function parsePrompt(name: string, text: string, path: string): PromptResult {
  const lines = new LineIndex(text);
  const fail = (offset: number, message: string): PromptResult => ({
    ok: false,
    errors: [lines.error(path, offset, message)],
  });
  const open = /^\uFEFF?---[ \t]*\r?\n/.exec(text);
  if (!open) return fail(0, "a prompt starts with front matter (--- … ---) declaring its inputs and output");
  const close = /^(?:---|\.\.\.)[ \t]*(?:\r?\n|$)/m;
  const rest = text.slice(open[0].length);
  const end = close.exec(rest);
  if (!end) return fail(0, "the front matter is not closed with a line `---`");
  const fmStart = open[0].length;
  const doc = parseDocument(rest.slice(0, end.index), { prettyErrors: false });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    return fail(fmStart + e.pos[0], `invalid YAML: ${e.message.split("\n")[0]}`);
  }
  const parsed = FrontMatterSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((issue) => {
        const node = nodeAt(doc, issue.path);
        const where = issue.path.length ? `${issue.path.join(".")}: ` : "";
        return lines.error(path, fmStart + (node ?? 0), `${where}${issue.message}`);
      }),
    };
  }
  const fm = parsed.data;
  const bodyStart = fmStart + end.index + end[0].length;
  const template = text.slice(bodyStart);
  const inputs = normaliseInputs(fm.inputs);
  const errors: WorkflowError[] = [];
  for (const reserved of STEP_OPTIONS) {
    if (inputs.has(reserved)) {
      errors.push(
        lines.error(
          path,
          fmStart + (nodeAt(doc, ["inputs"]) ?? 0),
          `\`${reserved}\` is reserved for the step; rename the input`,
        ),
      );
    }
  }
  for (const m of template.matchAll(TEMPLATE_SLOT)) {
    if (!inputs.has(m[1]!)) {
      errors.push(lines.error(path, bodyStart + m.index, `the slot {{${m[1]}}} is not a declared input`));
    }
  }
  const output = fm.output ?? { type: "object", properties: {} };
  if (output.type !== "object")
    errors.push(lines.error(path, fmStart + (nodeAt(doc, ["output"]) ?? 0), "`output` must be type object"));
  let timeout: number | undefined;
  if (typeof fm.timeout === "string") {
    timeout = parseDuration(fm.timeout);
    if (!timeout || timeout > PLAN_LIMITS.maxTimeoutSeconds) {
      errors.push(
        lines.error(path, fmStart + (nodeAt(doc, ["timeout"]) ?? 0), `invalid timeout "${fm.timeout}"`),
      );
    }
  } else timeout = fm.timeout;
  if (errors.length) return { ok: false, errors };
  return {
    ok: true,
    prompt: {
      name,
      path,
      ...(fm.description ? { description: fm.description } : {}),
      model: fm.model ?? null,
      tools: fm.tools ?? [],
      max_turns: fm.max_turns ?? PLAN_LIMITS.defaultMaxTurns,
      ...(timeout ? { timeout_seconds: timeout } : {}),
      inputs,
      output,
      template,
    },
  };
}

function normaliseInputs(raw: z.infer<typeof FrontMatterSchema>["inputs"]): Map<string, PromptInput> {
  const out = new Map<string, PromptInput>();
  if (Array.isArray(raw)) {
    for (const n of raw) out.set(n, { required: true });
    return out;
  }
  for (const [n, spec] of Object.entries(raw ?? {})) {
    if (!spec) {
      out.set(n, { required: true });
      continue;
    }
    const { default: dflt, required, description, ...schema } = spec;
    const input: PromptInput = { required: required ?? dflt === undefined };
    if (schema.type) input.schema = schema as JsonSchema;
    if (dflt !== undefined) input.default = dflt;
    if (description) input.description = description;
    out.set(n, input);
  }
  return out;
}

/** Offset (within the front matter) of the YAML node at `path`, or of its nearest existing parent. */
function nodeAt(doc: ReturnType<typeof parseDocument>, path: readonly PropertyKey[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as (string | number)[], true);
    if (node && typeof node === "object" && "range" in node && Array.isArray(node.range)) {
      return (node.range as number[])[0];
    }
    if (isMap(node) || isSeq(node)) return (node as { range?: number[] }).range?.[0];
  }
  return undefined;
}
