/**
 * `ctx`, what a workflow function is called with: the event, the calls that add steps (`ctx.run`,
 * `ctx.git.diff`, prompt functions imported from `plue.prompts`) and those that make its result
 * (`ctx.success`, `ctx.failure`); and {@link runWorkflow}, which runs a function to a plan.
 */
import {
  collectRefs,
  IdentifierSchema,
  type JsonSchema,
  PLAN_LIMITS,
  PLAN_VERSION,
  type Plan,
  type PlanResult,
  type PlanValue,
  StepNameSchema,
} from "../wire/plan";
import { validateJson } from "../wire/plan-check";
import { bind } from "./builtins";
import { type LineIndex, ScriptError, suggest } from "./errors";
import type { WorkflowEvent } from "./events";
import { checkName, duration, type Registration, type WorkflowHeader } from "./plue";
import { type PromptDefinition, STEP_OPTIONS } from "./prompts";
import { builderOf, envOf, needsOf, PlanBuilder, retriesOf, StepHandle } from "./steps";
import { Builtin, PyCallable, PyObject, Symbolic, type Thread, toPlan, typeName, type Value } from "./values";

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
