/**
 * Steps are symbolic: each call that adds one (ctx.ts) returns a handle, and a handle's attributes are
 * references to outputs the runner fills in. Using one in another step's arguments makes that step
 * depend on it; the {@link PlanBuilder} collects one evaluation's steps and works out their `needs`.
 */
import { collectRefs, PLAN_LIMITS, type PlanValue, parseRef, type Step, StepNameSchema } from "../wire/plan";
import { type LineIndex, ScriptError, suggest } from "./errors";
import { checkName } from "./plue";
import {
  OutputRef,
  PyDict,
  PyList,
  PyTuple,
  repr,
  Symbolic,
  type TemplatePart,
  type Thread,
  toPlan,
  typeName,
  type Value,
} from "./values";

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
export type StepFields = DistributiveOmit<Step, "needs" | "source" | "name" | "timeout_seconds" | "retries"> &
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

/** The plan being built: calls that add steps only work while a workflow function runs. */
export function builderOf(ev: Thread, what: string, at: number): PlanBuilder {
  if (!(ev.context instanceof PlanBuilder))
    throw new ScriptError(`${what} can only be called inside a workflow function`, at);
  return ev.context;
}

/** `needs=`: a step, a step name, or a list of them. */
export function needsOf(v: Value | undefined, at: number): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const items = v instanceof PyList || v instanceof PyTuple ? v.items : [v];
  return items.map((x) => {
    if (x instanceof StepHandle) return x.name;
    if (x instanceof OutputRef) return x.step;
    if (typeof x === "string") return checkName(StepNameSchema, x, "needs=", at);
    throw new ScriptError(`needs= lists steps (or step names), not ${typeName(x)}`, at);
  });
}

export function retriesOf(v: Value | undefined, at: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || v < 0 || v > PLAN_LIMITS.maxRetries) {
    throw new ScriptError(`retries= is an int from 0 to ${PLAN_LIMITS.maxRetries}`, at);
  }
  return v;
}

export function envOf(v: Value | undefined, at: number): Record<string, PlanValue> {
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
