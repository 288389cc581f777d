/**
 * The tree-walking interpreter. Every statement and expression costs a step; strings, lists and the total
 * allocation are bounded; wall time is checked as it goes; recursion is refused. Whatever the program
 * does, evaluation ends with a value or a positioned error, never a hang.
 */
import type { Arg, BinaryOp, CompareOp, ConstValue, Expr, FStrPart, Param, Stmt, Target } from "./ast";
import { builtinFunctions, methodNames, methodOf } from "./builtins";
import { ScriptError } from "./errors";
import {
  checkMutable,
  codePoints,
  compare,
  equals,
  formatWithSpec,
  hashKey,
  joinParts,
  numeric,
  PyCallable,
  PyDict,
  PyFloat,
  PyList,
  PyObject,
  PyRecord,
  PyTuple,
  repr,
  Symbolic,
  str,
  suggest,
  symbolicError,
  type TemplatePart,
  truthy,
  typeName,
  type Value,
} from "./values";

export type Limits = {
  /** Statements and expressions evaluated, per phase (load, or one plan). */
  maxSteps: number;
  /** Wall time per phase. */
  maxMillis: number;
  maxStringLength: number;
  maxListLength: number;
  /** Characters and items created in total, per phase. */
  maxAllocation: number;
  /** Syntax nesting (brackets, blocks). */
  maxDepth: number;
  /** Nested function calls. */
  maxCallDepth: number;
  maxSourceBytes: number;
  /** `@workflow`s one file may define (PLUE_WORKFLOWS_PER_FILE). */
  maxWorkflows: number;
};

/**
 * The deadline of everything one event evaluates (all of a push's files together): `at` is an epoch
 * time in ms (Date.now(), comparable across threads), `ms` the budget it was computed from.
 */
export type Deadline = { at: number; ms: number };

export function deadlineMessage(d: Deadline): string {
  return `evaluating the workflow files of this event took longer than the limit of ${d.ms} ms for all files together (PLUE_WORKFLOW_DEADLINE_MS)`;
}

export const DEFAULT_LIMITS: Limits = {
  maxSteps: 100_000,
  maxMillis: 1_000,
  maxStringLength: 1_000_000,
  maxListLength: 10_000,
  maxAllocation: 20_000_000,
  maxDepth: 100,
  maxCallDepth: 32,
  maxSourceBytes: 256 * 1024,
  maxWorkflows: 20,
};

/** Thrown for an exhausted wall-time budget: unlike other errors it depends on the machine, not the file. */
export class TimeBudgetError extends ScriptError {}

export class Scope {
  readonly vars = new Map<string, Value>();
  constructor(readonly parent?: Scope) {}

  /** The value bound to `name`, or undefined if nothing is (values are never undefined). */
  lookup(name: string): Value | undefined {
    for (let s: Scope | undefined = this; s; s = s.parent) {
      const v = s.vars.get(name);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  names(): Set<string> {
    const out = new Set<string>();
    for (let s: Scope | undefined = this; s; s = s.parent) for (const k of s.vars.keys()) out.add(k);
    return out;
  }
}

const BUILTINS = new Scope();
for (const [name, fn] of Object.entries(builtinFunctions)) BUILTINS.vars.set(name, fn);

/** A new module scope whose parent holds the builtins. */
export function moduleScope(): Scope {
  return new Scope(BUILTINS);
}

type Completion = undefined | "break" | "continue" | { ret: Value; at: number };

export type ImportHook = (module: string, name: string | null, at: number) => Value;

/** A `def` or `lambda`. Recursion is detected per definition, so a closure cannot sneak around it. */
export class PyFunction extends PyCallable {
  readonly typeName = "function";
  constructor(
    readonly name: string,
    readonly params: Param[],
    readonly defaults: Map<string, Value>,
    readonly body: Stmt[] | Expr,
    readonly closure: Scope,
    readonly at: number,
  ) {
    super();
  }

  call(ev: Evaluator, args: Value[], kwargs: Map<string, Value>, at: number): Value {
    return ev.callFunction(this, args, kwargs, at);
  }
}

export class Evaluator {
  private steps = 0;
  private allocated = 0;
  private readonly deadline: number;
  private readonly timeMessage: string;
  private readonly stack: PyFunction[] = [];
  /** Host state for the current phase (the plan being built); plue.ts checks its type. */
  context: object | undefined;

  constructor(
    readonly limits: Limits,
    private readonly importHook: ImportHook = () => {
      throw new Error("imports are not available here");
    },
    overall?: Deadline,
  ) {
    const now = performance.now();
    this.deadline = now + limits.maxMillis;
    this.timeMessage = `evaluation took longer than ${limits.maxMillis} ms`;
    if (overall && now + (overall.at - Date.now()) < this.deadline) {
      this.deadline = now + (overall.at - Date.now());
      this.timeMessage = deadlineMessage(overall);
    }
  }

  // ------------------------------------------------------------------------------------------------
  // Budgets

  tick(at: number): void {
    this.steps++;
    if (this.steps > this.limits.maxSteps) {
      throw new ScriptError(
        `evaluation took more than ${this.limits.maxSteps} steps (is a loop too long?)`,
        at,
      );
    }
    if ((this.steps & 15) === 0 && performance.now() > this.deadline) {
      throw new TimeBudgetError(this.timeMessage, at);
    }
  }

  private alloc(n: number, at: number): void {
    this.allocated += n;
    if (this.allocated > this.limits.maxAllocation) {
      throw new ScriptError(
        `evaluation created more than ${this.limits.maxAllocation} characters and items`,
        at,
      );
    }
  }

  /** Call before building a string of `length` characters. */
  checkString(length: number, at: number): void {
    if (length > this.limits.maxStringLength) {
      throw new ScriptError(
        `a string of ${length} characters is over the limit of ${this.limits.maxStringLength}`,
        at,
      );
    }
    this.alloc(length, at);
  }

  /** Call before building a list, tuple or dict of `length` items. */
  checkList(length: number, at: number): void {
    if (length > this.limits.maxListLength) {
      throw new ScriptError(
        `a collection of ${length} items is over the limit of ${this.limits.maxListLength}`,
        at,
      );
    }
    this.alloc(length, at);
  }

  string(s: string, at: number): string {
    this.checkString(s.length, at);
    return s;
  }

  // ------------------------------------------------------------------------------------------------
  // Statements

  execModule(body: Stmt[], scope: Scope): void {
    const c = this.exec(body, scope);
    if (c !== undefined) throw new ScriptError("unexpected control flow at module level", 0);
  }

  private exec(body: Stmt[], scope: Scope): Completion {
    for (const s of body) {
      this.tick(s.at);
      const c = this.stmt(s, scope);
      if (c !== undefined) return c;
    }
    return undefined;
  }

  private stmt(s: Stmt, scope: Scope): Completion {
    switch (s.t) {
      case "expr":
        this.eval(s.expr, scope);
        return undefined;
      case "assign": {
        const v = this.eval(s.value, scope);
        for (const t of s.targets) this.assign(t, v, scope);
        return undefined;
      }
      case "augassign":
        this.augAssign(s.target, s.op, s.value, scope, s.at);
        return undefined;
      case "return":
        return { ret: s.value ? this.eval(s.value, scope) : null, at: s.at };
      case "if": {
        for (const b of s.branches) {
          if (truthy(this.eval(b.test, scope), b.test.at)) return this.exec(b.body, scope);
        }
        return s.orelse ? this.exec(s.orelse, scope) : undefined;
      }
      case "for": {
        const items = this.iterate(this.eval(s.iter, scope), s.iter.at);
        for (const item of items) {
          this.tick(s.at);
          this.assign(s.target, item, scope);
          const c = this.exec(s.body, scope);
          if (c === "break") return undefined;
          if (c !== undefined && c !== "continue") return c;
        }
        return s.orelse ? this.exec(s.orelse, scope) : undefined;
      }
      case "pass":
        return undefined;
      case "break":
      case "continue":
        return s.t;
      case "assert": {
        if (truthy(this.eval(s.test, scope), s.test.at)) return undefined;
        const message = s.message ? str(this.eval(s.message, scope), s.message.at) : undefined;
        throw new ScriptError(
          message === undefined ? "assertion failed" : `assertion failed: ${message}`,
          s.at,
        );
      }
      case "def": {
        let fn: Value = this.makeFunction(s.name, s.params, s.body, scope, s.at);
        for (const d of [...s.decorators].reverse())
          fn = this.call(this.eval(d, scope), [fn], new Map(), d.at);
        scope.vars.set(s.name, fn);
        return undefined;
      }
      case "import": {
        if (s.names === null) {
          scope.vars.set(s.as ?? s.module, this.importHook(s.module, null, s.at));
        } else {
          for (const n of s.names) scope.vars.set(n.as, this.importHook(s.module, n.name, n.at));
        }
        return undefined;
      }
    }
  }

  private makeFunction(
    name: string,
    params: Param[],
    body: Stmt[] | Expr,
    scope: Scope,
    at: number,
  ): PyFunction {
    const defaults = new Map<string, Value>();
    for (const p of params) if (p.default) defaults.set(p.name, this.eval(p.default, scope));
    return new PyFunction(name, params, defaults, body, scope, at);
  }

  private assign(t: Target, v: Value, scope: Scope): void {
    switch (t.t) {
      case "name":
        scope.vars.set(t.id, v);
        return;
      case "tuple": {
        const items = this.iterate(v, t.at);
        if (items.length !== t.items.length) {
          throw new ScriptError(`cannot unpack ${items.length} values into ${t.items.length} names`, t.at);
        }
        for (const [i, sub] of t.items.entries()) this.assign(sub, items[i]!, scope);
        return;
      }
      case "index":
        this.setItem(this.eval(t.obj, scope), this.eval(t.index, scope), v, t.at);
        return;
    }
  }

  private setItem(obj: Value, key: Value, v: Value, at: number): void {
    if (obj instanceof PyDict) {
      checkMutable(obj, at);
      if (!obj.entries.has(hashKey(key, at))) this.checkList(obj.entries.size + 1, at);
      obj.set(key, v, at);
    } else if (obj instanceof PyList) {
      checkMutable(obj, at);
      obj.items[this.index(key, obj.items.length, at)] = v;
    } else {
      throw new ScriptError(`a ${typeName(obj)} does not support item assignment`, at);
    }
  }

  private augAssign(t: Target, op: BinaryOp, e: Expr, scope: Scope, at: number): void {
    if (t.t === "tuple") throw new ScriptError("cannot use an augmented assignment on a tuple", at);
    if (t.t === "name") {
      const cur = scope.lookup(t.id);
      if (cur === undefined) throw this.nameError(t.id, scope, t.at);
      const v = this.eval(e, scope);
      if (op === "+" && cur instanceof PyList) {
        // `xs += ys` extends in place, as in Python.
        checkMutable(cur, at);
        const more = this.iterate(v, e.at);
        this.checkList(cur.items.length + more.length, at);
        cur.items.push(...more);
        scope.vars.set(t.id, cur);
        return;
      }
      scope.vars.set(t.id, this.binary(op, cur, v, at));
      return;
    }
    const obj = this.eval(t.obj, scope);
    const key = this.eval(t.index, scope);
    const cur = this.getItem(obj, key, t.at);
    this.setItem(obj, key, this.binary(op, cur, this.eval(e, scope), at), t.at);
  }

  // ------------------------------------------------------------------------------------------------
  // Expressions

  eval(e: Expr, scope: Scope): Value {
    this.tick(e.at);
    switch (e.t) {
      case "const":
        return constValue(e.value);
      case "fstr":
        return this.fstring(e.parts, scope);
      case "name": {
        const v = scope.lookup(e.id);
        if (v === undefined) throw this.nameError(e.id, scope, e.at);
        return v;
      }
      case "attr":
        return this.getAttr(this.eval(e.obj, scope), e.name, e.at, e.obj);
      case "index":
        return this.getItem(this.eval(e.obj, scope), this.eval(e.index, scope), e.at);
      case "slice":
        return this.slice(e, scope);
      case "call":
        return this.evalCall(e.fn, e.args, scope, e.at);
      case "list":
      case "tuple": {
        const items: Value[] = [];
        for (const item of e.items) {
          if (item.spread) items.push(...this.iterate(this.eval(item.value, scope), item.value.at));
          else items.push(this.eval(item.value, scope));
        }
        this.checkList(items.length, e.at);
        return e.t === "list" ? new PyList(items) : new PyTuple(items);
      }
      case "dict": {
        const d = new PyDict();
        for (const entry of e.entries) {
          if ("spread" in entry) {
            const src = this.eval(entry.spread, scope);
            if (!(src instanceof PyDict))
              throw new ScriptError(`\`**\` needs a dict, not ${typeName(src)}`, entry.spread.at);
            for (const [k, v] of src.entries.values()) d.set(k, v, e.at);
          } else {
            d.set(this.eval(entry.key, scope), this.eval(entry.value, scope), entry.key.at);
          }
          this.checkList(d.entries.size, e.at);
        }
        return d;
      }
      case "comp":
        return this.comprehension(e, scope);
      case "unary": {
        const v = this.eval(e.operand, scope);
        if (e.op === "not") return !truthy(v, e.at);
        const n = numeric(v);
        if (!n) {
          if (v instanceof Symbolic) throw symbolicError(v, `used with \`${e.op}\``, e.at);
          throw new ScriptError(`bad operand for unary ${e.op}: ${typeName(v)}`, e.at);
        }
        const r = e.op === "-" ? -n.n : n.n;
        return n.float ? new PyFloat(r) : r;
      }
      case "binary":
        return this.binary(e.op, this.eval(e.left, scope), this.eval(e.right, scope), e.at);
      case "logic": {
        const l = this.eval(e.left, scope);
        const t = truthy(l, e.left.at);
        if (e.op === "and" ? !t : t) return l;
        return this.eval(e.right, scope);
      }
      case "compare": {
        let left = this.eval(e.first, scope);
        for (const step of e.rest) {
          const right = this.eval(step.right, scope);
          if (!this.compareOp(step.op, left, right, step.at)) return false;
          left = right;
        }
        return true;
      }
      case "cond":
        return truthy(this.eval(e.test, scope), e.test.at)
          ? this.eval(e.body, scope)
          : this.eval(e.orelse, scope);
      case "lambda":
        return this.makeFunction("<lambda>", e.params, e.body, scope, e.at);
    }
  }

  private nameError(id: string, scope: Scope, at: number): ScriptError {
    return new ScriptError(`name \`${id}\` is not defined${suggest(id, scope.names())}`, at);
  }

  private fstring(parts: FStrPart[], scope: Scope): Value {
    const out: TemplatePart[] = [];
    let length = 0;
    for (const p of parts) {
      if (typeof p === "string") {
        out.push(p);
        length += p.length;
        continue;
      }
      const v = this.eval(p.expr, scope);
      if (v instanceof Symbolic && !p.conversion && !p.spec) {
        out.push(...v.parts());
        continue;
      }
      const spec = p.spec ? this.fstring(p.spec, scope) : "";
      if (typeof spec !== "string") throw new ScriptError("a format spec cannot contain step outputs", p.at);
      let text: string;
      if (p.conversion === "r" || p.conversion === "a") text = formatWithSpec(repr(v, p.at), spec, p.at);
      else if (p.conversion === "s") text = formatWithSpec(str(v, p.at), spec, p.at);
      else text = formatWithSpec(v, spec, p.at);
      out.push(text);
      length += text.length;
    }
    this.checkString(
      length,
      parts.find((p): p is Exclude<FStrPart, string> => typeof p !== "string")?.at ?? 0,
    );
    return joinParts(out);
  }

  getAttr(obj: Value, name: string, at: number, expr?: Expr): Value {
    if (obj instanceof PyObject) {
      const v = obj.getAttr(name, at);
      if (v !== undefined) return v;
      const names = obj.attrNames();
      const hint = suggest(name, names) || (names.length ? ` (it has: ${names.join(", ")})` : "");
      throw new ScriptError(`${this.describe(expr, obj)} has no attribute \`${name}\`${hint}`, at);
    }
    const method = methodOf(obj, name);
    if (method) return method;
    const text = obj === null && expr ? exprText(expr) : undefined;
    if (text) throw new ScriptError(`\`${text}\` is None, so it has no attribute \`${name}\``, at);
    throw new ScriptError(
      `a ${typeName(obj)} has no attribute \`${name}\`${suggest(name, methodNames(obj))}`,
      at,
    );
  }

  private describe(expr: Expr | undefined, obj: PyObject): string {
    const text = expr ? exprText(expr) : undefined;
    return text ? `\`${text}\`` : `a ${obj.typeName}`;
  }

  /** Normalises a Python index (negative counts from the end) and bounds-checks it. */
  index(key: Value, length: number, at: number): number {
    const n = typeof key === "number" ? key : typeof key === "boolean" ? Number(key) : undefined;
    if (n === undefined) {
      if (key instanceof Symbolic) throw symbolicError(key, "used as an index", at);
      throw new ScriptError(`indices must be integers, not ${typeName(key)}`, at);
    }
    const i = n < 0 ? n + length : n;
    if (i < 0 || i >= length) throw new ScriptError(`index ${n} is out of range (length ${length})`, at);
    return i;
  }

  getItem(obj: Value, key: Value, at: number): Value {
    if (obj instanceof PyList || obj instanceof PyTuple)
      return obj.items[this.index(key, obj.items.length, at)]!;
    if (typeof obj === "string") {
      const chars = codePoints(obj) ?? obj;
      return chars[this.index(key, chars.length, at)]!;
    }
    if (obj instanceof PyDict) {
      const v = obj.get(key, at);
      if (v === undefined) throw new ScriptError(`key ${repr(key, at)} is not in the dict`, at);
      return v;
    }
    if (obj instanceof PyRecord) {
      if (typeof key !== "string") throw new ScriptError(`${obj.typeName} keys are strings`, at);
      const v = obj.fields.get(key);
      if (v === undefined) throw new ScriptError(`key ${repr(key, at)} is not in ${obj.typeName}`, at);
      return v;
    }
    if (obj instanceof Symbolic) throw symbolicError(obj, "indexed", at);
    throw new ScriptError(`a ${typeName(obj)} cannot be indexed`, at);
  }

  private slice(e: Expr & { t: "slice" }, scope: Scope): Value {
    const obj = this.eval(e.obj, scope);
    const bound = (x: Expr | undefined): number | undefined => {
      if (!x) return undefined;
      const v = this.eval(x, scope);
      if (v === null) return undefined;
      if (typeof v !== "number")
        throw new ScriptError(`slice bounds must be integers, not ${typeName(v)}`, x.at);
      return v;
    };
    const lo = bound(e.lo);
    const hi = bound(e.hi);
    const step = bound(e.step) ?? 1;
    if (step === 0) throw new ScriptError("slice step cannot be zero", e.at);
    const seq: ArrayLike<Value> | undefined =
      typeof obj === "string"
        ? (codePoints(obj) ?? obj)
        : obj instanceof PyList || obj instanceof PyTuple
          ? obj.items
          : undefined;
    if (seq === undefined) {
      if (obj instanceof Symbolic) throw symbolicError(obj, "sliced", e.at);
      throw new ScriptError(`a ${typeName(obj)} cannot be sliced`, e.at);
    }
    const n = seq.length;
    const clamp = (v: number | undefined, dflt: number, min: number, max: number) => {
      if (v === undefined) return dflt;
      const x = v < 0 ? v + n : v;
      return Math.min(Math.max(x, min), max);
    };
    const [start, stop] =
      step > 0
        ? [clamp(lo, 0, 0, n), clamp(hi, n, 0, n)]
        : [clamp(lo, n - 1, -1, n - 1), clamp(hi, -1, -1, n - 1)];
    const count = Math.max(0, Math.ceil((stop - start) / step));
    if (typeof seq === "string" && step === 1) return this.string(seq.slice(start, stop), e.at);
    if (typeof obj === "string") this.checkString(count, e.at);
    else this.checkList(count, e.at);
    const out: Value[] = [];
    for (let k = 0, i = start; k < count; k++, i += step) out.push(seq[i]!);
    if (typeof obj === "string") return out.join("");
    return obj instanceof PyList ? new PyList(out) : new PyTuple(out);
  }

  private comprehension(e: Expr & { t: "comp" }, scope: Scope): Value {
    const inner = new Scope(scope);
    const items: Value[] = [];
    const dict = e.kind === "dict" ? new PyDict() : undefined;
    const run = (i: number): void => {
      const clause = e.clauses[i];
      if (!clause) {
        if (dict) {
          dict.set(this.eval(e.elt, inner), this.eval(e.value!, inner), e.elt.at);
          this.checkList(dict.entries.size, e.at);
        } else {
          items.push(this.eval(e.elt, inner));
          this.checkList(items.length, e.at);
        }
        return;
      }
      if (clause.t === "if") {
        if (truthy(this.eval(clause.test, inner), clause.test.at)) run(i + 1);
        return;
      }
      for (const item of this.iterate(this.eval(clause.iter, inner), clause.iter.at)) {
        this.tick(e.at);
        this.assign(clause.target, item, inner);
        run(i + 1);
      }
    };
    run(0);
    return dict ?? new PyList(items);
  }

  /** The items of anything Python can loop over (snapshotted, so loops stay finite). */
  iterate(v: Value, at: number): Value[] {
    if (v instanceof PyList) return v.items.slice();
    if (v instanceof PyTuple) return [...v.items];
    if (typeof v === "string") return [...v];
    if (v instanceof PyDict) return v.keys();
    if (v instanceof Symbolic) throw symbolicError(v, "looped over", at);
    throw new ScriptError(`a ${typeName(v)} is not iterable`, at);
  }

  // ------------------------------------------------------------------------------------------------
  // Operators

  binary(op: string, a: Value, b: Value, at: number): Value {
    if (op === "+" && (a instanceof Symbolic || b instanceof Symbolic)) {
      // Joining text with an output builds a template the runner fills in.
      const side = (v: Value): TemplatePart[] => {
        if (typeof v === "string") return [v];
        if (v instanceof Symbolic) return v.parts();
        throw new ScriptError(`cannot add ${typeName(v)} to a step output; use an f-string`, at);
      };
      return joinParts([...side(a), ...side(b)]);
    }
    for (const v of [a, b]) if (v instanceof Symbolic) throw symbolicError(v, `used with \`${op}\``, at);
    const na = numeric(a);
    const nb = numeric(b);
    if (na && nb) return arithmetic(op, na, nb, at);
    if (op === "+") {
      if (typeof a === "string" && typeof b === "string") {
        this.checkString(a.length + b.length, at);
        return a + b;
      }
      if (a instanceof PyList && b instanceof PyList) {
        this.checkList(a.items.length + b.items.length, at);
        return new PyList([...a.items, ...b.items]);
      }
      if (a instanceof PyTuple && b instanceof PyTuple) {
        this.checkList(a.items.length + b.items.length, at);
        return new PyTuple([...a.items, ...b.items]);
      }
    }
    if (op === "*") {
      const [seq, times] = nb && !nb.float ? [a, nb.n] : na && !na.float ? [b, na.n] : [undefined, 0];
      const n = Math.max(0, times);
      if (typeof seq === "string") {
        this.checkString(seq.length * n, at);
        return seq.repeat(n);
      }
      if (seq instanceof PyList || seq instanceof PyTuple) {
        this.checkList(seq.items.length * n, at);
        const items: Value[] = [];
        for (let i = 0; i < n; i++) items.push(...seq.items);
        return seq instanceof PyList ? new PyList(items) : new PyTuple(items);
      }
    }
    if (op === "%" && typeof a === "string")
      throw new ScriptError("`%` formatting is not supported: use an f-string", at);
    throw new ScriptError(`\`${op}\` is not supported between ${typeName(a)} and ${typeName(b)}`, at);
  }

  private compareOp(op: CompareOp, a: Value, b: Value, at: number): boolean {
    switch (op) {
      case "==":
        return equals(a, b, at);
      case "!=":
        return !equals(a, b, at);
      case "<":
        return compare(a, b, op, at) < 0;
      case "<=":
        return compare(a, b, op, at) <= 0;
      case ">":
        return compare(a, b, op, at) > 0;
      case ">=":
        return compare(a, b, op, at) >= 0;
      case "in":
        return this.contains(b, a, at);
      case "not in":
        return !this.contains(b, a, at);
      case "is":
        return identical(a, b, at);
      case "is not":
        return !identical(a, b, at);
    }
  }

  contains(container: Value, item: Value, at: number): boolean {
    if (typeof container === "string") {
      if (typeof item !== "string")
        throw new ScriptError(`\`in <str>\` needs a str on the left, not ${typeName(item)}`, at);
      return container.includes(item);
    }
    if (container instanceof PyList || container instanceof PyTuple) {
      return container.items.some((x) => equals(x, item, at));
    }
    if (container instanceof PyDict) return container.entries.has(hashKey(item, at));
    if (container instanceof PyRecord) return typeof item === "string" && container.fields.has(item);
    if (container instanceof Symbolic) throw symbolicError(container, "searched with `in`", at);
    throw new ScriptError(`a ${typeName(container)} does not support \`in\``, at);
  }

  // ------------------------------------------------------------------------------------------------
  // Calls

  private evalCall(fnExpr: Expr, argExprs: Arg[], scope: Scope, at: number): Value {
    const fn = this.eval(fnExpr, scope);
    const args: Value[] = [];
    const kwargs = new Map<string, Value>();
    const setKw = (k: string, v: Value, kAt: number) => {
      if (kwargs.has(k)) throw new ScriptError(`keyword argument \`${k}\` given twice`, kAt);
      kwargs.set(k, v);
    };
    for (const a of argExprs) {
      switch (a.kind) {
        case "positional":
          args.push(this.eval(a.value, scope));
          break;
        case "keyword":
          setKw(a.name, this.eval(a.value, scope), a.at);
          break;
        case "star":
          args.push(...this.iterate(this.eval(a.value, scope), a.value.at));
          break;
        case "starstar": {
          const d = this.eval(a.value, scope);
          const src = d instanceof PyDict ? [...d.entries.values()] : undefined;
          if (!src) throw new ScriptError(`\`**\` needs a dict, not ${typeName(d)}`, a.value.at);
          for (const [k, v] of src) {
            if (typeof k !== "string") throw new ScriptError("keyword names must be strings", a.value.at);
            if (k.startsWith("_"))
              throw new ScriptError(`names starting with \`_\` are not allowed: \`${k}\``, a.value.at);
            setKw(k, v, a.value.at);
          }
          break;
        }
      }
    }
    return this.call(fn, args, kwargs, at, fnExpr);
  }

  call(fn: Value, args: Value[], kwargs: Map<string, Value>, at: number, fnExpr?: Expr): Value {
    if (!(fn instanceof PyCallable)) {
      const what = fnExpr ? `\`${exprText(fnExpr) ?? typeName(fn)}\`` : `a ${typeName(fn)}`;
      throw new ScriptError(`${what} is not callable (it is a ${typeName(fn)})`, at);
    }
    return fn.call(this, args, kwargs, at);
  }

  callFunction(fn: PyFunction, args: Value[], kwargs: Map<string, Value>, at: number): Value {
    const seen = this.stack.findIndex((f) => f.body === fn.body);
    if (seen !== -1) {
      const chain = [...this.stack.slice(seen), fn].map((f) => `\`${f.name}\``).join(" → ");
      throw new ScriptError(
        seen === this.stack.length - 1
          ? `recursion is not allowed: \`${fn.name}\` calls itself`
          : `recursion is not allowed: ${chain}`,
        at,
      );
    }
    if (this.stack.length >= this.limits.maxCallDepth) {
      throw new ScriptError(`calls are nested more than ${this.limits.maxCallDepth} deep`, at);
    }
    const scope = new Scope(fn.closure);
    bindParams(fn, args, kwargs, scope, at);
    this.stack.push(fn);
    try {
      if (!Array.isArray(fn.body)) return this.eval(fn.body as Expr, scope);
      const c = this.exec(fn.body, scope);
      return c !== undefined && typeof c === "object" ? c.ret : null;
    } finally {
      this.stack.pop();
    }
  }
}

function bindParams(
  fn: PyFunction,
  args: Value[],
  kwargs: Map<string, Value>,
  scope: Scope,
  at: number,
): void {
  if (args.length > fn.params.length) {
    throw new ScriptError(
      `\`${fn.name}\` takes ${fn.params.length} arguments but ${args.length} were given`,
      at,
    );
  }
  fn.params.forEach((p, i) => {
    if (i < args.length) {
      if (kwargs.has(p.name)) throw new ScriptError(`\`${fn.name}\` got two values for \`${p.name}\``, at);
      scope.vars.set(p.name, args[i]!);
    } else if (kwargs.has(p.name)) scope.vars.set(p.name, kwargs.get(p.name)!);
    else if (fn.defaults.has(p.name)) scope.vars.set(p.name, fn.defaults.get(p.name)!);
    else throw new ScriptError(`\`${fn.name}\` is missing the argument \`${p.name}\``, at);
  });
  for (const k of kwargs.keys()) {
    if (!fn.params.some((p) => p.name === k)) {
      throw new ScriptError(
        `\`${fn.name}\` has no parameter \`${k}\`${suggest(
          k,
          fn.params.map((p) => p.name),
        )}`,
        at,
      );
    }
  }
}

function constValue(c: ConstValue): Value {
  if (c === null || typeof c === "boolean" || typeof c === "string") return c;
  return "int" in c ? c.int : new PyFloat(c.float);
}

function identical(a: Value, b: Value, at: number): boolean {
  if (a instanceof Symbolic || b instanceof Symbolic) {
    throw symbolicError((a instanceof Symbolic ? a : b) as Symbolic, "compared", at);
  }
  if (a instanceof PyFloat && b instanceof PyFloat) return a.v === b.v;
  return a === b;
}

function arithmetic(
  op: string,
  a: { n: number; float: boolean },
  b: { n: number; float: boolean },
  at: number,
): Value {
  const float = a.float || b.float;
  const result = (n: number, isFloat: boolean): Value => {
    if (isFloat) return new PyFloat(n);
    if (!Number.isSafeInteger(n))
      throw new ScriptError(`integer overflow: the result exceeds ${Number.MAX_SAFE_INTEGER}`, at);
    return n;
  };
  const nonZero = () => {
    if (b.n === 0) throw new ScriptError("division by zero", at);
  };
  switch (op) {
    case "+":
      return result(a.n + b.n, float);
    case "-":
      return result(a.n - b.n, float);
    case "*":
      return result(a.n * b.n, float);
    case "/":
      nonZero();
      return new PyFloat(a.n / b.n);
    case "//":
      nonZero();
      return result(Math.floor(a.n / b.n), float);
    case "%": {
      nonZero();
      const m = a.n % b.n;
      return result(m !== 0 && m < 0 !== b.n < 0 ? m + b.n : m, float);
    }
    case "**":
      if (!float && b.n < 0) return new PyFloat(a.n ** b.n);
      return result(a.n ** b.n, float);
    default:
      throw new ScriptError(`the operator \`${op}\` is not supported`, at);
  }
}

/** Source-like text of a name/attribute chain (`ctx.event.pull_request`), for error messages. */
export function exprText(e: Expr): string | undefined {
  switch (e.t) {
    case "name":
      return e.id;
    case "attr": {
      const inner = exprText(e.obj);
      return inner === undefined ? undefined : `${inner}.${e.name}`;
    }
    case "call": {
      const inner = exprText(e.fn);
      return inner === undefined ? undefined : `${inner}(…)`;
    }
    case "index": {
      const inner = exprText(e.obj);
      const key =
        e.index.t === "const" && typeof e.index.value === "string" ? JSON.stringify(e.index.value) : "…";
      return inner === undefined ? undefined : `${inner}[${key}]`;
    }
    default:
      return undefined;
  }
}
