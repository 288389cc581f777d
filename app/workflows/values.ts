/**
 * Runtime values of the dialect and the Python semantics that matter for them: truthiness, equality,
 * ordering, hashing, `str()`/`repr()`, freezing, and conversion from event JSON and to plan JSON (operators
 * are in operators.ts). Symbolic values (outputs only known once a step ran) are {@link Symbolic}: they
 * may be joined into strings, and anything else done with them is an error. {@link Thread} is what host
 * functions get from the evaluator.
 */
import { PLAN_LIMITS, type PlanValue, pythonStringRepr } from "../wire/plan";
import { ScriptError } from "./errors";

/** int is a JS number (always a safe integer); float is boxed so `1.0` stays a float. */
export type Value = null | boolean | number | string | PyFloat | PyList | PyTuple | PyDict | PyObject;

/**
 * What a host function gets from the evaluator running it: the budgets to charge before building
 * strings and collections, calls back into the program, and the host state of the phase. The evaluator
 * (interpreter.ts) is the one implementation; naming it here keeps host code from importing it.
 */
export interface Thread {
  /** Counts one evaluation step and checks the wall time. */
  tick(at: number): void;
  /** Call before building a string of `length` characters. */
  checkString(length: number, at: number): void;
  /** Call before building a list, tuple or dict of `length` items. */
  checkList(length: number, at: number): void;
  /** `s`, once its length is checked and counted. */
  string(s: string, at: number): string;
  /** Calls a function value (user-defined or host) as the program would. */
  call(fn: Value, args: Value[], kwargs: Map<string, Value>, at: number): Value;
  /** Host state for the current phase (the plan being built); steps.ts checks its type. */
  context: object | undefined;
}

export class PyFloat {
  constructor(readonly v: number) {}
}

export class PyTuple {
  constructor(readonly items: readonly Value[]) {}
}

/** Lists and dicts are frozen after the module loads, so one evaluation cannot leak into the next. */
export class PyList {
  frozen = false;
  constructor(public items: Value[]) {}
}

export class PyDict {
  frozen = false;
  /** hash key → [key, value], in insertion order. */
  readonly entries = new Map<string, [Value, Value]>();

  get(key: Value, at: number): Value | undefined {
    return this.entries.get(hashKey(key, at))?.[1];
  }

  set(key: Value, value: Value, at: number): void {
    this.entries.set(hashKey(key, at), [key, value]);
  }

  keys(): Value[] {
    return [...this.entries.values()].map((e) => e[0]);
  }
}

/** Host objects: functions, `ctx`, step handles, triggers, event records. */
export abstract class PyObject {
  abstract readonly typeName: string;
  /** An attribute, or undefined if there is none (the evaluator then reports it). May throw. */
  getAttr(_name: string, _at: number): Value | undefined {
    return undefined;
  }
  /** Attribute names offered in "has no attribute" errors. */
  attrNames(): string[] {
    return [];
  }
  repr(): string {
    return `<${this.typeName}>`;
  }
}

/** A function the host implements (builtins, prompts). A `def` is a PyFunction, run by the evaluator itself. */
export abstract class PyCallable extends PyObject {
  abstract readonly name: string;
  abstract call(ev: Thread, args: Value[], kwargs: Map<string, Value>, at: number): Value;
  override repr(): string {
    return `<function ${this.name}>`;
  }
}

/** A function implemented in TypeScript. */
export class Builtin extends PyCallable {
  readonly typeName = "builtin_function";
  constructor(
    readonly name: string,
    private readonly fn: (ev: Thread, args: Value[], kwargs: Map<string, Value>, at: number) => Value,
  ) {
    super();
  }
  call(ev: Thread, args: Value[], kwargs: Map<string, Value>, at: number): Value {
    return this.fn(ev, args, kwargs, at);
  }
}

/** Read-only data with attribute access and `r["key"]` (the event: `ctx.event.pull_request.base`). */
export class PyRecord extends PyObject {
  constructor(
    readonly typeName: string,
    readonly fields: ReadonlyMap<string, Value>,
  ) {
    super();
  }
  override getAttr(name: string): Value | undefined {
    return this.fields.get(name);
  }
  override attrNames(): string[] {
    return [...this.fields.keys()];
  }
  override repr(): string {
    return `${this.typeName}(${[...this.fields].map(([k, v]) => `${k}=${repr(v, 0, 0)}`).join(", ")})`;
  }
}

export type TemplatePart = string | OutputRef;

/** A value only known when a step has run. */
export abstract class Symbolic extends PyObject {
  /** How the author wrote it, for errors: `build.stdout`. */
  abstract describe(): string;
  /** The value as parts of a string (for f-strings and `+`). */
  abstract parts(): TemplatePart[];
  abstract toPlan(): PlanValue;
}

/** `step.output` (or the step's primary output when `output` is undefined). */
export class OutputRef extends Symbolic {
  readonly typeName = "output";
  constructor(
    readonly step: string,
    readonly output: string | undefined,
    private readonly label: string,
  ) {
    super();
  }
  describe(): string {
    return this.label;
  }
  parts(): TemplatePart[] {
    return [this];
  }
  toPlan(): PlanValue {
    return { $ref: this.output === undefined ? this.step : `${this.step}.${this.output}` };
  }
}

/** A string with outputs in it (`f"echo {build.stdout}"`). */
export class Template extends Symbolic {
  readonly typeName = "str";
  constructor(private readonly items: TemplatePart[]) {
    super();
  }
  describe(): string {
    const ref = this.items.find((p): p is OutputRef => typeof p !== "string");
    return `a string containing ${ref?.describe() ?? "outputs"}`;
  }
  parts(): TemplatePart[] {
    return this.items;
  }
  toPlan(): PlanValue {
    return { $concat: this.items.map((p) => (typeof p === "string" ? p : p.toPlan())) };
  }
}

/** Joins string parts, keeping the result a plain string when nothing in it is symbolic. */
export function joinParts(parts: TemplatePart[]): string | Template {
  const merged: TemplatePart[] = [];
  for (const p of parts) {
    const last = merged[merged.length - 1];
    if (typeof p === "string" && typeof last === "string") merged[merged.length - 1] = last + p;
    else if (p !== "") merged.push(p);
  }
  if (merged.length === 0) return "";
  if (merged.length === 1 && typeof merged[0] === "string") return merged[0];
  return new Template(merged);
}

export function symbolicError(v: Symbolic, use: string, at: number): ScriptError {
  return new ScriptError(
    `${v.describe()} is only known when the step runs, so it cannot be ${use} while the plan is built`,
    at,
  );
}

// ---------------------------------------------------------------------------------------------------
// Type names, truthiness, equality, ordering

export function typeName(v: Value): string {
  if (v === null) return "NoneType";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return "int";
  if (typeof v === "string") return "str";
  if (v instanceof PyFloat) return "float";
  if (v instanceof PyList) return "list";
  if (v instanceof PyTuple) return "tuple";
  if (v instanceof PyDict) return "dict";
  return v.typeName;
}

export function truthy(v: Value, at: number): boolean {
  if (v === null) return false;
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v !== 0;
  if (typeof v === "string") return v.length > 0;
  if (v instanceof PyFloat) return v.v !== 0;
  if (v instanceof PyList) return v.items.length > 0;
  if (v instanceof PyTuple) return v.items.length > 0;
  if (v instanceof PyDict) return v.entries.size > 0;
  if (v instanceof Symbolic) throw symbolicError(v, "tested (if/and/or/not)", at);
  return true;
}

/** The numeric value of an int, float or bool (Python treats bools as 0/1). */
export function numeric(v: Value): { n: number; float: boolean } | undefined {
  if (typeof v === "number") return { n: v, float: false };
  if (typeof v === "boolean") return { n: v ? 1 : 0, float: false };
  if (v instanceof PyFloat) return { n: v.v, float: true };
  return undefined;
}

const MAX_NESTING = 100;

function tooDeep(at: number): ScriptError {
  return new ScriptError(`a value is nested more than ${MAX_NESTING} levels deep`, at);
}

export function equals(a: Value, b: Value, at: number, depth = 0): boolean {
  if (depth > MAX_NESTING) throw tooDeep(at);
  if (a instanceof Symbolic) throw symbolicError(a, "compared", at);
  if (b instanceof Symbolic) throw symbolicError(b, "compared", at);
  const na = numeric(a);
  const nb = numeric(b);
  if (na && nb) return na.n === nb.n;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return a === b;
  const seq = (x: readonly Value[], y: readonly Value[]) =>
    x.length === y.length && x.every((v, i) => equals(v, y[i]!, at, depth + 1));
  if (a instanceof PyList && b instanceof PyList) return seq(a.items, b.items);
  if (a instanceof PyTuple && b instanceof PyTuple) return seq(a.items, b.items);
  if (a instanceof PyDict && b instanceof PyDict) {
    if (a.entries.size !== b.entries.size) return false;
    for (const [k, [, v]] of a.entries) {
      const other = b.entries.get(k);
      if (!other || !equals(v, other[1], at, depth + 1)) return false;
    }
    return true;
  }
  return a === b;
}

/** -1, 0 or 1 for `<`-style comparisons; a TypeError-like error for values Python cannot order. */
export function compare(a: Value, b: Value, op: string, at: number, depth = 0): number {
  if (depth > MAX_NESTING) throw tooDeep(at);
  if (a instanceof Symbolic) throw symbolicError(a, "compared", at);
  if (b instanceof Symbolic) throw symbolicError(b, "compared", at);
  const na = numeric(a);
  const nb = numeric(b);
  if (na && nb) return na.n < nb.n ? -1 : na.n > nb.n ? 1 : 0;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  const seqA = a instanceof PyList || a instanceof PyTuple ? a.items : undefined;
  const seqB = b instanceof PyList || b instanceof PyTuple ? b.items : undefined;
  if (seqA && seqB && typeName(a) === typeName(b)) {
    for (let i = 0; i < Math.min(seqA.length, seqB.length); i++) {
      if (!equals(seqA[i]!, seqB[i]!, at, depth + 1)) return compare(seqA[i]!, seqB[i]!, op, at, depth + 1);
    }
    return Math.sign(seqA.length - seqB.length);
  }
  throw new ScriptError(`\`${op}\` is not supported between ${typeName(a)} and ${typeName(b)}`, at);
}

/** Dict keys: str, int, float, bool, None, and tuples of those (hashable, as in Python). */
export function hashKey(v: Value, at: number): string {
  if (v === null) return "n";
  if (typeof v === "string") return `s${v}`;
  const num = numeric(v);
  if (num) return `i${num.n}`;
  if (v instanceof PyTuple) return `t(${v.items.map((x) => hashKey(x, at)).join(",")})`;
  if (v instanceof Symbolic) throw symbolicError(v, "used as a dict key", at);
  throw new ScriptError(`a ${typeName(v)} cannot be a dict key (unhashable)`, at);
}

// ---------------------------------------------------------------------------------------------------
// str() and repr()

export function floatRepr(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const abs = Math.abs(x);
  if (Number.isInteger(x) && abs < 1e16) return x.toFixed(1);
  const s = abs >= 1e16 || (abs < 1e-4 && abs > 0) ? x.toExponential() : String(x);
  return s.replace(/e([+-])(\d)$/, "e$10$2");
}

export function str(v: Value, at: number): string {
  if (typeof v === "string") return v;
  if (v instanceof Symbolic) throw symbolicError(v, "converted to text here", at);
  return repr(v, at, 0);
}

/**
 * Bounds the text repr() and toPlan() produce: one big string shared by many list items costs little to
 * build, but would be huge once printed.
 */
type OutputBudget = { left: number; what: string; limit: number };

function spend(budget: OutputBudget, n: number, at: number): void {
  budget.left -= n;
  if (budget.left < 0)
    throw new ScriptError(`${budget.what} would be larger than ${budget.limit} characters`, at);
}

const MAX_REPR = 2 * 1024 * 1024;

export function repr(
  v: Value,
  at: number,
  depth = 0,
  budget: OutputBudget = { left: MAX_REPR, limit: MAX_REPR, what: "the text of this value" },
): string {
  if (depth > MAX_NESTING) throw tooDeep(at);
  if (typeof v === "string") {
    spend(budget, v.length + 2, at);
    return pythonStringRepr(v);
  }
  spend(budget, 2, at);
  if (v === null) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (typeof v === "number") return String(v);
  if (v instanceof PyFloat) return floatRepr(v.v);
  const items = (xs: readonly Value[]) => xs.map((x) => repr(x, at, depth + 1, budget)).join(", ");
  if (v instanceof PyList) return `[${items(v.items)}]`;
  if (v instanceof PyTuple) return v.items.length === 1 ? `(${items(v.items)},)` : `(${items(v.items)})`;
  if (v instanceof PyDict) {
    return `{${[...v.entries.values()]
      .map(([k, x]) => `${repr(k, at, depth + 1, budget)}: ${repr(x, at, depth + 1, budget)}`)
      .join(", ")}}`;
  }
  if (v instanceof Symbolic) throw symbolicError(v, "converted to text here", at);
  return v.repr();
}

// ---------------------------------------------------------------------------------------------------
// Conversions between plan JSON and values

/** JSON (an event) → values: objects become read-only records, arrays frozen lists. */
export function fromJson(json: unknown, label: string): Value {
  if (json === null || json === undefined) return null;
  if (typeof json === "boolean" || typeof json === "string") return json;
  if (typeof json === "number") return Number.isSafeInteger(json) ? json : new PyFloat(json);
  if (Array.isArray(json)) {
    const list = new PyList(json.map((x) => fromJson(x, label)));
    list.frozen = true;
    return list;
  }
  const fields = new Map<string, Value>();
  for (const [k, v] of Object.entries(json as Record<string, unknown>)) fields.set(k, fromJson(v, k));
  return new PyRecord(label, fields);
}

/** A value → plan JSON. Dict keys must be strings; references stay symbolic. */
export function toPlan(
  v: Value,
  at: number,
  depth = 0,
  budget: OutputBudget = {
    left: PLAN_LIMITS.maxPlanBytes,
    limit: PLAN_LIMITS.maxPlanBytes,
    what: "this value in the plan",
  },
): PlanValue {
  if (depth > MAX_NESTING) throw tooDeep(at);
  spend(budget, typeof v === "string" ? v.length + 2 : 4, at);
  if (v === null || typeof v === "boolean" || typeof v === "number" || typeof v === "string") return v;
  if (v instanceof PyFloat) {
    if (!Number.isFinite(v.v)) throw new ScriptError(`${floatRepr(v.v)} cannot be part of a plan`, at);
    return v.v;
  }
  if (v instanceof PyList || v instanceof PyTuple)
    return v.items.map((x) => toPlan(x, at, depth + 1, budget));
  if (v instanceof PyDict) {
    const out: Record<string, PlanValue> = {};
    for (const [k, x] of v.entries.values()) {
      if (typeof k !== "string")
        throw new ScriptError(`dict keys in a plan must be strings, not ${typeName(k)}`, at);
      if (k.startsWith("$")) {
        throw new ScriptError(`dict keys starting with \`$\` are reserved: ${pythonStringRepr(k)}`, at);
      }
      spend(budget, k.length, at);
      out[k] = toPlan(x, at, depth + 1, budget);
    }
    return out;
  }
  if (v instanceof PyRecord) {
    const out: Record<string, PlanValue> = {};
    for (const [k, x] of v.fields) out[k] = toPlan(x, at, depth + 1, budget);
    return out;
  }
  if (v instanceof Symbolic) return v.toPlan();
  throw new ScriptError(`a ${typeName(v)} cannot be part of a plan`, at);
}

let lastText: string | undefined;
let lastPoints: string[] | null = null;

/**
 * The code points of `s` (Python indexes strings by code point), or null when each is one UTF-16 unit
 * and `s` can be indexed directly. The last answer is kept: loops index one string many times.
 */
export function codePoints(s: string): string[] | null {
  if (s !== lastText) {
    lastText = s;
    lastPoints = /[\uD800-\uDFFF]/.test(s) ? [...s] : null;
  }
  return lastPoints;
}

/** Makes lists and dicts reachable from `v` read-only. */
export function freeze(v: Value, depth = 0, seen = new Set<object>()): void {
  // Each container once: `[[1] * 10000] * 10000` holds one list 10 000 times, not 10^8 items.
  if (depth > MAX_NESTING || !(v instanceof PyList || v instanceof PyDict || v instanceof PyTuple)) return;
  if (seen.has(v)) return;
  seen.add(v);
  if (v instanceof PyList) {
    v.frozen = true;
    for (const x of v.items) freeze(x, depth + 1, seen);
  } else if (v instanceof PyDict) {
    v.frozen = true;
    for (const [k, x] of v.entries.values()) {
      freeze(k, depth + 1, seen);
      freeze(x, depth + 1, seen);
    }
  } else for (const x of v.items) freeze(x, depth + 1, seen);
}

export function checkMutable(v: PyList | PyDict, at: number): void {
  if (v.frozen) {
    throw new ScriptError(
      `this ${typeName(v)} is read-only (module-level values are frozen once the file has loaded); copy it first`,
      at,
    );
  }
}
