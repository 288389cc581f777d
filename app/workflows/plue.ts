/**
 * The `plue` module as workflows see it at module level: `@workflow(...)`, which registers a workflow
 * with its triggers, timeout and concurrency (its header), and the triggers push(), pull_request(),
 * issue(), manual(), chat() and mention(). What a workflow body can do with `ctx` is in ctx.ts.
 */
import {
  IdentifierSchema,
  ISSUE_ACTIONS,
  type ManualInput,
  PLAN_LIMITS,
  type Plan,
  PULL_REQUEST_ACTIONS,
  type StepNameSchema,
  type Trigger,
  WorkflowNameSchema,
} from "../wire/plan";
import { bind } from "./builtins";
import { ScriptError, suggest } from "./errors";
import { parseDuration } from "./prompts";
import { PyFunction } from "./scope";
import { Builtin, numeric, PyDict, PyList, PyObject, PyTuple, repr, typeName, type Value } from "./values";

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
export function duration(v: Value | undefined, what: string, at: number): number | undefined {
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

export function checkName(
  schema: typeof StepNameSchema,
  v: Value | undefined,
  what: string,
  at: number,
): string {
  if (typeof v !== "string")
    throw new ScriptError(`${what} must be a string, not ${typeName(v ?? null)}`, at);
  const r = schema.safeParse(v);
  if (!r.success) throw new ScriptError(`${what} "${v}": ${r.error.issues[0]!.message}`, at);
  return v;
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
