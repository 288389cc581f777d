/**
 * The tree-walking evaluator: statements, expressions and calls. Every statement and expression costs a
 * step of the phase's budget (budget.ts); operators on values are in operators.ts, scopes and `def`
 * values in scope.ts, builtins and methods in builtins.ts and methods.ts. Recursion is refused, so
 * whatever the program does, evaluation ends with a value or a positioned error, never a hang.
 */
import {
  type Arg,
  type BinaryOp,
  type ConstValue,
  type Expr,
  exprText,
  type FStrPart,
  type Param,
  type Stmt,
  type Target,
} from "./ast";
import { Budget, type Deadline, type Limits } from "./budget";
import { ScriptError, suggest } from "./errors";
import { formatWithSpec } from "./format";
import { methodNames, methodOf } from "./methods";
import { binary, compareOp, getItem, iterate, setItem, slice } from "./operators";
import { bindParams, PyFunction, Scope } from "./scope";
import {
  checkMutable,
  joinParts,
  numeric,
  PyCallable,
  PyDict,
  PyFloat,
  PyList,
  PyObject,
  PyTuple,
  repr,
  Symbolic,
  str,
  symbolicError,
  type TemplatePart,
  type Thread,
  truthy,
  typeName,
  type Value,
} from "./values";

type Completion = undefined | "break" | "continue" | { ret: Value; at: number };

export type ImportHook = (module: string, name: string | null, at: number) => Value;

/** Runs one phase: a module body (`execModule`), or calls into it; charges the phase's budget as it goes. */
export class Evaluator extends Budget implements Thread {
  private readonly stack: PyFunction[] = [];
  /** Host state for the current phase (the plan being built); steps.ts checks its type. */
  context: object | undefined;

  constructor(
    limits: Limits,
    private readonly importHook: ImportHook = () => {
      throw new Error("imports are not available here");
    },
    overall?: Deadline,
  ) {
    super(limits, overall);
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
        const items = iterate(this.eval(s.iter, scope), s.iter.at);
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
        const items = iterate(v, t.at);
        if (items.length !== t.items.length) {
          throw new ScriptError(`cannot unpack ${items.length} values into ${t.items.length} names`, t.at);
        }
        for (const [i, sub] of t.items.entries()) this.assign(sub, items[i]!, scope);
        return;
      }
      case "index":
        setItem(this, this.eval(t.obj, scope), this.eval(t.index, scope), v, t.at);
        return;
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
        const more = iterate(v, e.at);
        this.checkList(cur.items.length + more.length, at);
        cur.items.push(...more);
        scope.vars.set(t.id, cur);
        return;
      }
      scope.vars.set(t.id, binary(this, op, cur, v, at));
      return;
    }
    const obj = this.eval(t.obj, scope);
    const key = this.eval(t.index, scope);
    const cur = getItem(obj, key, t.at);
    setItem(this, obj, key, binary(this, op, cur, this.eval(e, scope), at), t.at);
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
        return getItem(this.eval(e.obj, scope), this.eval(e.index, scope), e.at);
      case "slice":
        return this.slice(e, scope);
      case "call":
        return this.evalCall(e.fn, e.args, scope, e.at);
      case "list":
      case "tuple": {
        const items: Value[] = [];
        for (const item of e.items) {
          if (item.spread) items.push(...iterate(this.eval(item.value, scope), item.value.at));
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
        return binary(this, e.op, this.eval(e.left, scope), this.eval(e.right, scope), e.at);
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
          if (!compareOp(step.op, left, right, step.at)) return false;
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

  private getAttr(obj: Value, name: string, at: number, expr?: Expr): Value {
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
    return slice(this, obj, lo, hi, step, e.at);
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
      for (const item of iterate(this.eval(clause.iter, inner), clause.iter.at)) {
        this.tick(e.at);
        this.assign(clause.target, item, inner);
        run(i + 1);
      }
    };
    run(0);
    return dict ?? new PyList(items);
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
          args.push(...iterate(this.eval(a.value, scope), a.value.at));
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
    if (fn instanceof PyFunction) return this.callFunction(fn, args, kwargs, at);
    if (!(fn instanceof PyCallable)) {
      const what = fnExpr ? `\`${exprText(fnExpr) ?? typeName(fn)}\`` : `a ${typeName(fn)}`;
      throw new ScriptError(`${what} is not callable (it is a ${typeName(fn)})`, at);
    }
    return fn.call(this, args, kwargs, at);
  }

  private callFunction(fn: PyFunction, args: Value[], kwargs: Map<string, Value>, at: number): Value {
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

function constValue(c: ConstValue): Value {
  if (c === null || typeof c === "boolean" || typeof c === "string") return c;
  return "int" in c ? c.int : new PyFloat(c.float);
}
