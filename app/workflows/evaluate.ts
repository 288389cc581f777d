/**
 * Evaluation happens in two phases, so that matching an event never runs a workflow body:
 *
 * 1. `loadWorkflows(file)` parses the file and runs its module level — imports, prompt loading,
 *    `@workflow(...)` decorators — giving each workflow's header (name, triggers, timeout, concurrency).
 *    This depends only on the file and its prompts, so it is cached by blob id (see cache.ts).
 * 2. `file.plan(name, event)` runs one workflow function with `ctx.event` bound to the concrete event and
 *    returns its validated plan. Each phase has its own step/time/memory budget.
 */
import type { Plan } from "../wire/plan";
import { validatePlan } from "../wire/plan-check";
import { DEFAULT_LIMITS, type Deadline, deadlineMessage, type Limits, TimeBudgetError } from "./budget";
import { PromptFunction, runWorkflow } from "./ctx";
import { formatError, LineIndex, ScriptError, suggest, toWorkflowErrors, type WorkflowError } from "./errors";
import { eventView, sampleEvent, type WorkflowEventInput, WorkflowEventSchema } from "./events";
import { Evaluator } from "./interpreter";
import { ModuleValue, type Registration, TRIGGERS, type WorkflowHeader, workflowBuiltin } from "./plue";
import { parsePrompt, promptPath } from "./prompts";
import { moduleScope } from "./scope";
import { parseSource } from "./syntax";
import { matchTriggers } from "./triggers";
import { freeze, type Value } from "./values";

export type WorkflowFile = {
  /** Repository-relative path, used in errors (`.plue/workflows/ci.py`). */
  path: string;
  source: string;
  /** The text of `.plue/prompts/<name>.md` at the same commit, or undefined if there is none. */
  readPrompt(name: string): string | undefined;
};

export type EvaluateOptions = {
  limits?: Partial<Limits>;
  /** Shared by everything one event evaluates; each phase also keeps its own `maxMillis`. */
  deadline?: Deadline;
};

/** `retryable`: the wall-time budget ran out, which says more about the machine than the file. */
export type Failure = { ok: false; errors: WorkflowError[]; retryable?: boolean };
export type LoadResult = { ok: true; file: LoadedFile } | Failure;
export type PlanOutcome = { ok: true; plan: Plan } | Failure;

function failure(err: unknown, path: string, lines: LineIndex, at: number): Failure {
  const errors = toWorkflowErrors(err, path, lines, at);
  return err instanceof TimeBudgetError ? { ok: false, errors, retryable: true } : { ok: false, errors };
}

/** A loaded workflow file: its workflows' headers, and plans on demand. Immutable and shareable. */
export class LoadedFile {
  /** One entry per `@workflow`, in source order. */
  readonly workflows: readonly WorkflowHeader[];

  constructor(
    readonly path: string,
    private readonly lines: LineIndex,
    private readonly registrations: readonly Registration[],
    private readonly limits: Limits,
  ) {
    this.workflows = registrations.map((r) => ({
      ...r.header,
      source: { path, ...lines.position(r.at) },
    }));
  }

  /** Evaluates workflow `name` for `event` (normally an event `matchTriggers` accepted). */
  plan(name: string, eventInput: WorkflowEventInput, deadline?: Deadline): PlanOutcome {
    const index = this.registrations.findIndex((r) => r.header.name === name);
    if (index === -1) throw new Error(`no workflow named "${name}" in ${this.path}`);
    const reg = this.registrations[index]!;
    const parsed = WorkflowEventSchema.safeParse(eventInput);
    if (!parsed.success) throw new Error(`invalid event: ${parsed.error.issues[0]?.message}`);
    if (deadline && Date.now() >= deadline.at) {
      return {
        ok: false,
        errors: [this.lines.error(this.path, reg.at, deadlineMessage(deadline))],
        retryable: true,
      };
    }
    const ev = new Evaluator(this.limits, undefined, deadline);
    let built: ReturnType<typeof runWorkflow>;
    try {
      built = runWorkflow(
        ev,
        reg,
        this.workflows[index]!.source,
        parsed.data,
        eventView(parsed.data),
        this.lines,
      );
    } catch (err) {
      return failure(err, this.path, this.lines, reg.at);
    }
    const valid = validatePlan(built.plan);
    if (valid.ok) return valid;
    return {
      ok: false,
      errors: valid.errors.map((issue) => {
        const draft = issue.step === undefined ? undefined : built.drafts[issue.step];
        const message = draft
          ? `step "${draft.step.name}": ${issue.message}`
          : `${issue.path}: ${issue.message}`;
        return this.lines.error(this.path, draft?.at ?? reg.at, message);
      }),
    };
  }

  /**
   * Plans for every workflow in the file that `event` triggers. A workflow whose evaluation fails
   * yields its errors without affecting the others.
   */
  plansFor(event: WorkflowEventInput, deadline?: Deadline): { name: string; outcome: PlanOutcome }[] {
    const out: { name: string; outcome: PlanOutcome }[] = [];
    for (const w of this.workflows) {
      const match = matchTriggers(w, event);
      if (match.matched) out.push({ name: w.name, outcome: this.plan(w.name, match.event, deadline) });
    }
    return out;
  }
}

/** Phase 1: parse the file and run its module level (see the module comment). */
export function loadWorkflows(file: WorkflowFile, options: EvaluateOptions = {}): LoadResult {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const lines = new LineIndex(file.source);
  if (options.deadline && Date.now() >= options.deadline.at) {
    return {
      ok: false,
      errors: [lines.error(file.path, 0, deadlineMessage(options.deadline))],
      retryable: true,
    };
  }
  let parsed: ReturnType<typeof parseSource>;
  try {
    parsed = parseSource(file.source, limits);
  } catch (err) {
    // The nesting pre-scan should keep lezer from overflowing its stack; if it ever does, say so.
    return failure(err, file.path, lines, 0);
  }
  if (!parsed.ok)
    return { ok: false, errors: parsed.errors.map((e) => lines.error(file.path, e.at, e.message)) };

  const registry: Registration[] = [];
  const plue = new Map<string, Value>([
    ["workflow", workflowBuiltin(registry, limits.maxWorkflows)],
    ...Object.entries(TRIGGERS),
  ]);
  const importHook = (module: string, name: string | null, at: number): Value => {
    if (module === "plue") {
      if (name === null) return new ModuleValue("plue", plue);
      const v = plue.get(name);
      if (v === undefined) {
        const hint =
          name === "prompts" ? ": write `from plue.prompts import Name`" : suggest(name, plue.keys());
        throw new ScriptError(`\`plue\` has no \`${name}\`${hint}`, at);
      }
      return v;
    }
    if (name === null) throw new ScriptError("write `from plue.prompts import Name`", at);
    const path = promptPath(file.path, name);
    const text = file.readPrompt(name);
    if (text === undefined) throw new ScriptError(`prompt \`${name}\` not found: ${path} does not exist`, at);
    const prompt = parsePrompt(name, text, path);
    if (!prompt.ok) throw new ScriptError(`prompt \`${name}\` has errors`, at, prompt.errors);
    return new PromptFunction(prompt.prompt);
  };

  const ev = new Evaluator(limits, importHook, options.deadline);
  const scope = moduleScope();
  try {
    ev.execModule(parsed.module.body, scope);
  } catch (err) {
    return failure(err, file.path, lines, 0);
  }
  if (registry.length === 0) {
    return {
      ok: false,
      errors: [
        lines.error(
          file.path,
          0,
          "no workflow here: define a function decorated with @workflow(triggers=[...])",
        ),
      ],
    };
  }
  // Module-level values are shared by every later evaluation; freezing them keeps evaluations independent.
  for (const v of scope.vars.values()) freeze(v);
  return { ok: true, file: new LoadedFile(file.path, lines, registry, limits) };
}

export type EvaluateInput = WorkflowFile & {
  /** The concrete event; without one, each workflow is evaluated once per trigger with a sample event. */
  event?: WorkflowEventInput;
} & EvaluateOptions;

export type EvaluateResult = { ok: true; workflows: Plan[] } | Failure;

/**
 * Both phases in one call. With an event: the plans of the workflows it triggers. Without: every
 * workflow is checked against a sample event for each of its triggers, and the plan for its first
 * trigger is returned. Any error fails the whole call (use `loadWorkflows` + `plansFor` to keep the
 * workflows of one file apart).
 */
export function evaluateWorkflow(input: EvaluateInput): EvaluateResult {
  const loaded = loadWorkflows(input, input);
  if (!loaded.ok) return loaded;
  const plans: Plan[] = [];
  const errors: WorkflowError[] = [];
  const seen = new Set<string>();
  let retryable = false;
  const collect = (outcome: PlanOutcome, note = ""): Plan | undefined => {
    if (outcome.ok) return outcome.plan;
    retryable ||= outcome.retryable === true;
    for (const e of outcome.errors) {
      if (seen.has(formatError(e))) continue;
      seen.add(formatError(e));
      errors.push({ ...e, message: e.message + note });
    }
    return undefined;
  };
  if (input.event !== undefined) {
    for (const { outcome } of loaded.file.plansFor(input.event)) {
      const plan = collect(outcome);
      if (plan) plans.push(plan);
    }
  } else {
    for (const w of loaded.file.workflows) {
      let first: Plan | undefined;
      const kinds = new Set<string>();
      for (const t of w.triggers) {
        const note = kinds.has(t.kind) ? "" : ` (evaluated with a sample ${t.kind} event)`;
        kinds.add(t.kind);
        const plan = collect(loaded.file.plan(w.name, sampleEvent(t)), w.triggers.length > 1 ? note : "");
        first ??= plan;
      }
      if (first) plans.push(first);
    }
  }
  if (errors.length) return retryable ? { ok: false, errors, retryable } : { ok: false, errors };
  return { ok: true, workflows: plans };
}
