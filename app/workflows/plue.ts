/**
 * The `plue` module as workflows see it — `workflow`, the triggers, `ctx` — and the plan builder behind
 * `ctx.run`, `ctx.git.diff` and prompt calls. Steps are symbolic: each call returns a handle, and a
 * handle's attributes are references to outputs the runner fills in. Using one in another step's
 * arguments makes that step depend on it.
 */
import {
  collectRefs,
  IdentifierSchema,
  ISSUE_ACTIONS,
  type JsonSchema,
  type ManualInput,
  PLAN_LIMITS,
  PLAN_VERSION,
  type Plan,
  type PlanResult,
  type PlanValue,
  PULL_REQUEST_ACTIONS,
  parseRef,
  type Step,
  StepNameSchema,
  type Trigger,
  WorkflowNameSchema,
} from "../wire/plan";
import { validateJson } from "../wire/plan-check";
import { bind } from "./builtins";
import { type LineIndex, ScriptError, suggest } from "./errors";
import type { WorkflowEvent } from "./events";
import { type PromptDefinition, parseDuration, STEP_OPTIONS } from "./prompts";
import { PyFunction } from "./scope";
import {
  Builtin,
  numeric,
  OutputRef,
  PyCallable,
  PyDict,
  PyList,
  PyObject,
  PyTuple,
  repr,
  Symbolic,
  type TemplatePart,
  type Thread,
  toPlan,
  typeName,
  type Value,
} from "./values";

// ---------------------------------------------------------------------------------------------------
// Argument helpers

function strings(v: Value, what: string, at: number): string[] {
  const items =
    typeof v === "string" ? [v] : v instanceof PyList || v instanceof PyTuple ? v.items : undefined;
  if (!items) throw new ScriptError(`${what} must be a list of strings, not ${typeName(v)}`, at);
  return items.map((x) => {
    if (typeof x !== "string" || x === "")
      throw new ScriptError(`${what} must contain non-empty strings, not ${repr(x, at)}`, at);
    return x;
  });
}

function patterns(v: Value | undefined, what: string, at: number): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const list = strings(v, what, at);
  if (list.length === 0)
    throw new ScriptError(`${what}=[] matches nothing; leave it out to match everything`, at);
  return list;
}

function oneOf<T extends string>(
  v: Value | undefined,
  allowed: readonly T[],
  what: string,
  at: number,
): T[] | undefined {
  const list = patterns(v, what, at);
  for (const x of list ?? []) {
    if (!(allowed as readonly string[]).includes(x)) {
      throw new ScriptError(
        `unknown ${what} "${x}"${suggest(x, allowed)} (known: ${allowed.join(", ")})`,
        at,
      );
    }
  }
  return list as T[] | undefined;
}

/** Seconds as an int, or a duration string such as "10m" or "1h30m". */
function duration(v: Value | undefined, what: string, at: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  const seconds = typeof v === "number" ? v : typeof v === "string" ? parseDuration(v) : undefined;
  if (seconds === undefined)
    throw new ScriptError(`${what} is seconds (an int) or a duration like "10m", not ${repr(v, at)}`, at);
  if (seconds < 1 || seconds > PLAN_LIMITS.maxTimeoutSeconds) {
    throw new ScriptError(
      `${what} must be between 1 second and ${PLAN_LIMITS.maxTimeoutSeconds / 3600} hours`,
      at,
    );
  }
  return seconds;
}

function checkName(schema: typeof StepNameSchema, v: Value | undefined, what: string, at: number): string {
  if (typeof v !== "string")
    throw new ScriptError(`${what} must be a string, not ${typeName(v ?? null)}`, at);
  const r = schema.safeParse(v);
  if (!r.success) throw new ScriptError(`${what} "${v}": ${r.error.issues[0]!.message}`, at);
  return v;
}

/** A command, commit or message: text, possibly with step outputs in it. */
function text(v: Value | undefined, what: string, at: number): PlanValue {
  if (typeof v === "string") {
    if (v.trim() === "") throw new ScriptError(`${what} is empty`, at);
    return v;
  }
  if (v instanceof Symbolic) return v.toPlan();
  throw new ScriptError(`${what} must be a string, not ${typeName(v ?? null)}`, at);
}

// ---------------------------------------------------------------------------------------------------
// Triggers and the workflow decorator

export class TriggerValue extends PyObject {
  readonly typeName = "trigger";
  constructor(readonly trigger: Trigger) {
    super();
  }
  override repr(): string {
    const { kind, ...rest } = this.trigger;
    return `${kind}(${Object.entries(rest)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(", ")})`;
  }
}

function trigger(
  name: string,
  params: string[],
  build: (args: (Value | undefined)[], at: number) => Trigger,
): Builtin {
  return new Builtin(name, (_ev, args, kwargs, at) => {
    const trig = build(bind(name, params, 0, args, kwargs, at, 0), at);
    // Drop absent filters so the plan JSON only says what was written.
    const clean = Object.fromEntries(Object.entries(trig).filter(([, v]) => v !== undefined)) as Trigger;
    return new TriggerValue(clean);
  });
}

function manualInputs(v: Value | undefined, at: number): Record<string, ManualInput> {
  const out: Record<string, ManualInput> = {};
  if (v === undefined || v === null) return out;
  if (!(v instanceof PyDict))
    throw new ScriptError(`inputs= is a dict of name → default, not ${typeName(v)}`, at);
  for (const [k, dflt] of v.entries.values()) {
    if (typeof k !== "string" || !IdentifierSchema.safeParse(k).success) {
      throw new ScriptError(`input names are identifiers like "environment", not ${repr(k, at)}`, at);
    }
    const num = typeof dflt === "boolean" ? undefined : numeric(dflt);
    if (dflt === null) out[k] = { type: "string" };
    else if (typeof dflt === "string") out[k] = { type: "string", default: dflt };
    else if (typeof dflt === "boolean") out[k] = { type: "boolean", default: dflt };
    else if (num) out[k] = { type: "number", default: num.n };
    else
      throw new ScriptError(`the default of input "${k}" must be a str, number, bool or None (required)`, at);
  }
  return out;
}

export const TRIGGERS: Record<string, Builtin> = {
  push: trigger("push", ["branches", "tags", "paths"], ([branches, tags, paths], at) => ({
    kind: "push",
    branches: patterns(branches, "branches", at),
    tags: patterns(tags, "tags", at),
    paths: patterns(paths, "paths", at),
  })),
  pull_request: trigger("pull_request", ["types", "branches", "paths"], ([types, branches, paths], at) => ({
    kind: "pull_request",
    types: oneOf(types, PULL_REQUEST_ACTIONS, "pull_request type", at),
    branches: patterns(branches, "branches", at),
    paths: patterns(paths, "paths", at),
  })),
  issue: trigger("issue", ["types", "labels"], ([types, labels], at) => ({
    kind: "issue",
    types: oneOf(types, ISSUE_ACTIONS, "issue type", at),
    labels: patterns(labels, "labels", at),
  })),
  manual: trigger("manual", ["inputs"], ([inputs], at) => ({
    kind: "manual",
    inputs: manualInputs(inputs, at),
  })),
  chat: trigger("chat", [], () => ({ kind: "chat" })),
  mention: trigger("mention", ["handle"], ([handle], at) => {
    if (
      handle !== undefined &&
      handle !== null &&
      (typeof handle !== "string" || handle.replace(/^@/, "") === "")
    ) {
      throw new ScriptError('handle= is a user or bot name such as "plue"', at);
    }
    return {
      kind: "mention",
      handle: handle === null ? undefined : (handle as string | undefined)?.replace(/^@/, ""),
    };
  }),
};

/** What the module-level pass learns about a workflow: everything trigger matching and storage need. */
export type WorkflowHeader = Pick<Plan, "name" | "triggers" | "timeout_seconds" | "concurrency"> & {
  source: { path: string; line: number; col: number };
};

export type Registration = { header: Omit<WorkflowHeader, "source">; fn: PyFunction; at: number };

function concurrency(v: Value | undefined, at: number): Plan["concurrency"] {
  if (v === undefined || v === null) return null;
  if (typeof v === "string" && v !== "") return { group: v, cancel_in_progress: false };
  if (v instanceof PyDict) {
    const group = v.get("group", at);
    const cancel = v.get("cancel_in_progress", at) ?? false;
    const extra = v.keys().filter((k) => k !== "group" && k !== "cancel_in_progress");
    if (typeof group !== "string" || group === "" || typeof cancel !== "boolean" || extra.length) {
      throw new ScriptError('concurrency= is a group name or {"group": str, "cancel_in_progress": bool}', at);
    }
    return { group, cancel_in_progress: cancel };
  }
  throw new ScriptError(`concurrency= is a group name or a dict, not ${typeName(v)}`, at);
}

/**
 * `@workflow(triggers=[…], name=?, timeout=?, concurrency=?)`. `concurrency` is a group name, or
 * `{"group": "deploy", "cancel_in_progress": True}`; `{ref}` in a group is replaced by the event's ref,
 * so `"ci-{ref}"` gives each branch its own group.
 */
export function workflowBuiltin(registry: Registration[], maxWorkflows: number): Builtin {
  return new Builtin("workflow", (_ev, args, kwargs, at) => {
    if (args.length === 1 && args[0] instanceof PyFunction && kwargs.size === 0) {
      throw new ScriptError("write @workflow(triggers=[...]): a workflow needs triggers", at);
    }
    const [triggersV, nameV, timeoutV, concurrencyV] = bind(
      "workflow",
      ["triggers", "name", "timeout", "concurrency"],
      1,
      args,
      kwargs,
      at,
      1,
    );
    const list =
      triggersV instanceof TriggerValue
        ? [triggersV]
        : triggersV instanceof PyList || triggersV instanceof PyTuple
          ? triggersV.items
          : undefined;
    if (!list || list.length === 0)
      throw new ScriptError("triggers= is a non-empty list such as [push()]", at);
    const triggers = list.map((t) => {
      if (!(t instanceof TriggerValue))
        throw new ScriptError(`triggers= holds triggers like push(), not ${typeName(t)}`, at);
      return t.trigger;
    });
    if (triggers.length > PLAN_LIMITS.maxTriggers)
      throw new ScriptError(`at most ${PLAN_LIMITS.maxTriggers} triggers`, at);
    const options = {
      name:
        nameV === undefined || nameV === null ? undefined : checkName(WorkflowNameSchema, nameV, "name=", at),
      timeout_seconds: duration(timeoutV, "timeout=", at) ?? PLAN_LIMITS.defaultWorkflowTimeoutSeconds,
      concurrency: concurrency(concurrencyV, at),
    };
    return new Builtin("workflow decorator", (_ev2, fns, kw2, at2) => {
      const fn = fns[0];
      if (fns.length !== 1 || kw2.size || !(fn instanceof PyFunction) || fn.name === "<lambda>") {
        throw new ScriptError("@workflow(...) decorates a function", at2);
      }
      if (fn.params.length !== 1)
        throw new ScriptError(
          `a workflow function takes one parameter, ctx (\`${fn.name}\` takes ${fn.params.length})`,
          fn.at,
        );
      const name = options.name ?? checkName(WorkflowNameSchema, fn.name, "the workflow name", fn.at);
      const dup = registry.find((r) => r.header.name === name);
      if (dup) throw new ScriptError(`a workflow named "${name}" is already defined in this file`, fn.at);
      if (registry.length >= maxWorkflows)
        throw new ScriptError(
          `more than ${maxWorkflows} workflows in one file (PLUE_WORKFLOWS_PER_FILE): split the file`,
          fn.at,
        );
      registry.push({
        header: {
          name,
          triggers,
          timeout_seconds: options.timeout_seconds,
          concurrency: options.concurrency,
        },
        fn,
        at: fn.at,
      });
      return fn;
    });
  });
}

/** `import plue` binds this; its attributes are the module's exports. */
export class ModuleValue extends PyObject {
  readonly typeName = "module";
  constructor(
    readonly name: string,
    private readonly members: ReadonlyMap<string, Value>,
  ) {
    super();
  }
  override getAttr(name: string): Value | undefined {
    if (name === "prompts") return undefined;
    return this.members.get(name);
  }
  override attrNames(): string[] {
    return [...this.members.keys()];
  }
}

// ---------------------------------------------------------------------------------------------------
// Steps

const PRIMARY: Record<Step["kind"], string | undefined> = {
  run: "stdout",
  git_diff: "diff",
  agent: undefined,
};

export class StepHandle extends Symbolic {
  readonly typeName = "step";
  constructor(
    readonly name: string,
    readonly kind: Step["kind"],
    readonly outputs: readonly string[],
    private readonly prompt?: string,
  ) {
    super();
  }
  describe(): string {
    return `the output of step \`${this.name}\``;
  }
  private primary(): OutputRef {
    const out = PRIMARY[this.kind];
    return new OutputRef(this.name, out, out ? `${this.name}.${out}` : this.name);
  }
  parts(): TemplatePart[] {
    return [this.primary()];
  }
  toPlan(): PlanValue {
    return this.primary().toPlan();
  }
  override getAttr(name: string, at: number): Value {
    if (this.outputs.includes(name)) return new OutputRef(this.name, name, `\`${this.name}.${name}\``);
    const list = this.outputs.join(", ") || "none";
    if (this.prompt) {
      throw new ScriptError(
        `prompt \`${this.prompt}\` declares no output \`${name}\`${suggest(name, this.outputs)} (declared outputs: ${list})`,
        at,
      );
    }
    throw new ScriptError(
      `step \`${this.name}\` (${this.kind}) has no output \`${name}\`${suggest(name, this.outputs)} (outputs: ${list})`,
      at,
    );
  }
  override attrNames(): string[] {
    return [...this.outputs];
  }
  override repr(): string {
    return `<step ${this.name}>`;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type StepFields = DistributiveOmit<Step, "needs" | "source" | "name" | "timeout_seconds" | "retries"> &
  Partial<Pick<Step, "timeout_seconds" | "retries">>;

/** Collects the steps of one evaluation and works out their `needs`. */
export class PlanBuilder {
  readonly drafts: { step: Step; at: number }[] = [];
  private lastRun: string | undefined;

  constructor(private readonly lines: LineIndex) {}

  has(name: string): boolean {
    return this.drafts.some((d) => d.step.name === name);
  }

  /** `CodeReview`, then `CodeReview_2`, … for steps the author did not name. */
  uniqueName(base: string): string {
    if (!this.has(base)) return base;
    let i = 2;
    while (this.has(`${base}_${i}`)) i++;
    return `${base}_${i}`;
  }

  add(name: string, fields: StepFields, explicitNeeds: string[] | undefined, at: number): Step {
    const existing = this.drafts.find((d) => d.step.name === name);
    if (existing) {
      throw new ScriptError(
        `a step named "${name}" already exists (line ${this.lines.position(existing.at).line})`,
        at,
      );
    }
    if (this.drafts.length >= PLAN_LIMITS.maxSteps)
      throw new ScriptError(`a plan has at most ${PLAN_LIMITS.maxSteps} steps`, at);
    if (explicitNeeds?.includes(name)) throw new ScriptError(`step "${name}" cannot need itself`, at);
    const needs = [...(explicitNeeds ?? [])];
    // Run steps share one workspace: without explicit needs they follow the previous run step.
    if (fields.kind === "run" && explicitNeeds === undefined && this.lastRun) needs.push(this.lastRun);
    for (const v of valuesOf(fields)) for (const ref of collectRefs(v)) needs.push(parseRef(ref).step);
    const step = {
      name,
      ...fields,
      needs: [...new Set(needs)],
      timeout_seconds: fields.timeout_seconds ?? PLAN_LIMITS.defaultStepTimeoutSeconds,
      retries: fields.retries ?? 0,
      source: this.lines.position(at),
    } as Step;
    this.drafts.push({ step, at });
    if (step.kind === "run") this.lastRun = name;
    return step;
  }
}

function valuesOf(fields: StepFields): PlanValue[] {
  switch (fields.kind) {
    case "run":
      return [fields.cmd, ...Object.values(fields.env)];
    case "git_diff":
      return [fields.base, fields.head];
    case "agent":
      return Object.values(fields.inputs);
  }
}

function builderOf(ev: Thread, what: string, at: number): PlanBuilder {
  if (!(ev.context instanceof PlanBuilder))
    throw new ScriptError(`${what} can only be called inside a workflow function`, at);
  return ev.context;
}

/** `needs=`: a step, a step name, or a list of them. */
function needsOf(v: Value | undefined, at: number): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const items = v instanceof PyList || v instanceof PyTuple ? v.items : [v];
  return items.map((x) => {
    if (x instanceof StepHandle) return x.name;
    if (x instanceof OutputRef) return x.step;
    if (typeof x === "string") return checkName(StepNameSchema, x, "needs=", at);
    throw new ScriptError(`needs= lists steps (or step names), not ${typeName(x)}`, at);
  });
}

function retriesOf(v: Value | undefined, at: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || v < 0 || v > PLAN_LIMITS.maxRetries) {
    throw new ScriptError(`retries= is an int from 0 to ${PLAN_LIMITS.maxRetries}`, at);
  }
  return v;
}

function envOf(v: Value | undefined, at: number): Record<string, PlanValue> {
  const env: Record<string, PlanValue> = {};
  if (v === undefined || v === null) return env;
  if (!(v instanceof PyDict)) throw new ScriptError(`env= is a dict of name → value, not ${typeName(v)}`, at);
  for (const [k, x] of v.entries.values()) {
    if (typeof k !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      throw new ScriptError(`env names are like NODE_ENV, not ${repr(k, at)}`, at);
    }
    if (x instanceof PyList || x instanceof PyDict || x instanceof PyTuple || x === null) {
      throw new ScriptError(`env value of ${k} must be a str, number or bool, not ${typeName(x)}`, at);
    }
    env[k] = toPlan(x, at);
  }
  if (Object.keys(env).length > PLAN_LIMITS.maxEnv)
    throw new ScriptError(`at most ${PLAN_LIMITS.maxEnv} env entries`, at);
  return env;
}

// ---------------------------------------------------------------------------------------------------
// ctx

/** What a workflow function returns: `ctx.success(**outputs)` or `ctx.failure(message, **outputs)`. */
export class ResultValue extends PyObject {
  readonly typeName = "result";
  constructor(readonly result: PlanResult) {
    super();
  }
}

function outputsOf(kwargs: Map<string, Value>, at: number): Record<string, PlanValue> {
  const out: Record<string, PlanValue> = {};
  for (const [k, v] of kwargs) {
    if (!IdentifierSchema.safeParse(k).success)
      throw new ScriptError(`output names are identifiers, not "${k}"`, at);
    out[k] = toPlan(v, at);
  }
  if (Object.keys(out).length > PLAN_LIMITS.maxOutputs)
    throw new ScriptError(`at most ${PLAN_LIMITS.maxOutputs} outputs`, at);
  return out;
}

class Namespace extends PyObject {
  constructor(
    readonly typeName: string,
    private readonly members: Record<string, Value>,
  ) {
    super();
  }
  override getAttr(name: string): Value | undefined {
    return Object.hasOwn(this.members, name) ? this.members[name] : undefined;
  }
  override attrNames(): string[] {
    return Object.keys(this.members);
  }
}

/** `ctx`: the event, and the calls that add steps and make results. */
export function makeCtx(event: Value): PyObject {
  const run = new Builtin("ctx.run", (ev, args, kwargs, at) => {
    const b = builderOf(ev, "ctx.run()", at);
    const [name, cmd, needs, timeout, env, retries] = bind(
      "ctx.run",
      ["name", "cmd", "needs", "timeout", "env", "retries"],
      2,
      args,
      kwargs,
      at,
      2,
    );
    const stepName = checkName(StepNameSchema, name, "name=", at);
    b.add(
      stepName,
      {
        kind: "run",
        cmd: text(cmd, "cmd=", at),
        env: envOf(env, at),
        ...optional("timeout_seconds", duration(timeout, "timeout=", at)),
        ...optional("retries", retriesOf(retries, at)),
      },
      needsOf(needs, at),
      at,
    );
    return new StepHandle(stepName, "run", ["stdout", "stderr", "exit_code"]);
  });
  const diff = new Builtin("ctx.git.diff", (ev, args, kwargs, at) => {
    const b = builderOf(ev, "ctx.git.diff()", at);
    const [base, head, name, needs, timeout] = bind(
      "ctx.git.diff",
      ["base", "head", "name", "needs", "timeout"],
      1,
      args,
      kwargs,
      at,
      2,
    );
    if (base === null) throw new ScriptError("base= is a commit, branch or tag, not None", at);
    const stepName =
      name === undefined || name === null
        ? b.uniqueName("git_diff")
        : checkName(StepNameSchema, name, "name=", at);
    b.add(
      stepName,
      {
        kind: "git_diff",
        base: text(base, "base=", at),
        head: head === undefined || head === null ? null : text(head, "head=", at),
        ...optional("timeout_seconds", duration(timeout, "timeout=", at)),
      },
      needsOf(needs, at),
      at,
    );
    return new StepHandle(stepName, "git_diff", ["diff"]);
  });
  const success = new Builtin("ctx.success", (_ev, args, kwargs, at) => {
    if (args.length)
      throw new ScriptError("ctx.success() takes outputs by name: ctx.success(approved=review.approved)", at);
    return new ResultValue({ status: "success", message: null, outputs: outputsOf(kwargs, at) });
  });
  const failure = new Builtin("ctx.failure", (_ev, args, kwargs, at) => {
    const message = args.length ? args[0] : kwargs.get("message");
    if (args.length > 1 || message === undefined)
      throw new ScriptError('ctx.failure() takes a message: ctx.failure("why", **outputs)', at);
    const rest = new Map(kwargs);
    rest.delete("message");
    return new ResultValue({
      status: "failure",
      message: text(message, "the failure message", at),
      outputs: outputsOf(rest, at),
    });
  });
  return new Namespace("ctx", {
    event,
    run,
    git: new Namespace("ctx.git", { diff }),
    success,
    failure,
  });
}

function optional<K extends string, V>(key: K, v: V | undefined): Partial<Record<K, V>> {
  return v === undefined ? {} : ({ [key]: v } as Record<K, V>);
}

// ---------------------------------------------------------------------------------------------------
// Prompts

/** `CodeReview(diff=…)`: adds an agent step; the result's attributes are the declared outputs. */
export class PromptFunction extends PyCallable {
  readonly typeName = "prompt";
  constructor(readonly prompt: PromptDefinition) {
    super();
  }
  get name(): string {
    return this.prompt.name;
  }

  call(ev: Thread, args: Value[], kwargs: Map<string, Value>, at: number): Value {
    const p = this.prompt;
    const b = builderOf(ev, `${p.name}()`, at);
    if (args.length)
      throw new ScriptError(
        `prompt inputs are passed by name: ${p.name}(${[...p.inputs.keys()].map((k) => `${k}=…`).join(", ")})`,
        at,
      );
    const inputs: Record<string, PlanValue> = {};
    for (const [k, v] of kwargs) {
      if ((STEP_OPTIONS as readonly string[]).includes(k)) continue;
      const spec = p.inputs.get(k);
      if (!spec) {
        const known = [...p.inputs.keys()];
        throw new ScriptError(
          `prompt \`${p.name}\` has no input \`${k}\`${suggest(k, known)} (inputs: ${known.join(", ") || "none"})`,
          at,
        );
      }
      const value = toPlan(v, at);
      if (spec.schema && collectRefs(value).length === 0) {
        const problems = validateJson(spec.schema as JsonSchema, value, k);
        if (problems.length) throw new ScriptError(`input of \`${p.name}\`: ${problems[0]}`, at);
      }
      inputs[k] = value;
    }
    for (const [k, spec] of p.inputs) {
      if (Object.hasOwn(inputs, k)) continue;
      if (spec.default !== undefined) inputs[k] = spec.default as PlanValue;
      else if (spec.required) throw new ScriptError(`prompt \`${p.name}\` needs the input \`${k}\``, at);
    }
    const nameV = kwargs.get("name");
    const stepName =
      nameV === undefined || nameV === null
        ? b.uniqueName(p.name)
        : checkName(StepNameSchema, nameV, "name=", at);
    b.add(
      stepName,
      {
        kind: "agent",
        prompt: {
          name: p.name,
          model: p.model,
          tools: p.tools,
          max_turns: p.max_turns,
          template: p.template,
          output_schema: p.output,
        },
        inputs,
        ...optional("timeout_seconds", duration(kwargs.get("timeout"), "timeout=", at) ?? p.timeout_seconds),
        ...optional("retries", retriesOf(kwargs.get("retries"), at)),
      },
      needsOf(kwargs.get("needs"), at),
      at,
    );
    return new StepHandle(stepName, "agent", Object.keys(p.output.properties ?? {}), p.name);
  }
}

// ---------------------------------------------------------------------------------------------------
// Building a plan

/** The ref `{ref}` stands for in a concurrency group. */
function eventRef(event: WorkflowEvent): string {
  switch (event.kind) {
    case "push":
      return event.ref;
    case "pull_request":
      return event.number === undefined ? `refs/heads/${event.head}` : `refs/pull/${event.number}`;
    case "manual":
      return event.ref ?? "";
    default:
      return "";
  }
}

/** Runs a workflow function with `ctx` bound to the event and assembles the plan (not yet validated). */
export function runWorkflow(
  ev: Thread,
  reg: Registration,
  source: WorkflowHeader["source"],
  event: WorkflowEvent,
  ctxEvent: Value,
  lines: LineIndex,
): { plan: Plan; drafts: PlanBuilder["drafts"] } {
  const builder = new PlanBuilder(lines);
  ev.context = builder;
  const returned = ev.call(reg.fn, [makeCtx(ctxEvent)], new Map(), reg.at);
  let result: PlanResult;
  if (returned === null) result = { status: "success", message: null, outputs: {} };
  else if (returned instanceof ResultValue) result = returned.result;
  else {
    throw new ScriptError(
      `a workflow returns ctx.success(...) or ctx.failure(...) (or nothing), not a ${typeName(returned)}`,
      reg.at,
    );
  }
  const { concurrency: group } = reg.header;
  const plan: Plan = {
    version: PLAN_VERSION,
    name: reg.header.name,
    source,
    triggers: reg.header.triggers,
    timeout_seconds: reg.header.timeout_seconds,
    concurrency: group ? { ...group, group: group.group.replaceAll("{ref}", eventRef(event)) } : null,
    steps: builder.drafts.map((d) => d.step),
    result,
  };
  return { plan, drafts: builder.drafts };
}
