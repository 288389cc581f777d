/** Shared helpers for the workflow tests: evaluate sources the way the server does. */
import fs from "node:fs";
import path from "node:path";
import {
  type EvaluateResult,
  evaluateWorkflow,
  formatError,
  type Limits,
  type Plan,
  type PlanValue,
  type WorkflowEventInput,
} from "../../app/workflows/index";

export const EXAMPLES = path.resolve(import.meta.dirname, "../../examples/workflows/.plue");

export const SHA_A = "a".repeat(40);
export const SHA_B = "b".repeat(40);
export const PUSH_MAIN = { kind: "push", ref: "refs/heads/main", before: SHA_A, after: SHA_B } as const;
export const PR_OPENED = {
  kind: "pull_request",
  action: "opened",
  number: 7,
  base: "main",
  head: "feature/x",
  base_sha: SHA_A,
  head_sha: SHA_B,
} as const;

export function examplePrompt(name: string): string | undefined {
  const file = path.join(EXAMPLES, "prompts", `${name}.md`);
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
}

export type Options = {
  prompts?: Record<string, string>;
  /** Defaults to a push to main; pass `event: undefined` for the no-event (sample events) mode. */
  event?: WorkflowEventInput;
  limits?: Partial<Limits>;
  path?: string;
};

export function evaluate(source: string, opts: Options = {}): EvaluateResult {
  return evaluateWorkflow({
    path: opts.path ?? ".plue/workflows/t.py",
    source,
    readPrompt: (name) => opts.prompts?.[name] ?? examplePrompt(name),
    event: "event" in opts ? opts.event : PUSH_MAIN,
    limits: opts.limits,
  });
}

/** The one plan a source must produce; fails the test with the errors otherwise. */
export function planOf(source: string, opts: Options = {}): Plan {
  const r = evaluate(source, opts);
  if (!r.ok) throw new Error(`expected a plan, got:\n${r.errors.map(formatError).join("\n")}`);
  if (r.workflows.length !== 1) throw new Error(`expected one plan, got ${r.workflows.length}`);
  return r.workflows[0]!;
}

/** `path:line:col: message` lines of a source that must fail. */
export function errorsOf(source: string, opts: Options = {}): string[] {
  const r = evaluate(source, opts);
  if (r.ok) throw new Error("expected errors, got a plan");
  return r.errors.map(formatError);
}

export const HEADER = "from plue import workflow, push\n@workflow(triggers=[push()])\ndef w(ctx):\n";

/** Wraps statements into a workflow body (they start on line 4, indented by 4). */
export function inBody(code: string): string {
  return (
    HEADER +
    code
      .split("\n")
      .map((l) => `    ${l}`)
      .join("\n") +
    "\n"
  );
}

/** The value of a Python expression, as it lands in the plan (`ctx.success(v=…)`). */
export function pyValue(expr: string, opts: Options = {}): PlanValue | undefined {
  return planOf(inBody(`return ctx.success(v=${expr})`), opts).result.outputs.v;
}

/** The error of a Python expression evaluated in a workflow body. */
export function errorOf(expr: string, opts: Options = {}): string {
  return errorsOf(inBody(`return ctx.success(v=${expr})`), opts).join("\n");
}
