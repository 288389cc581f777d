/**
 * Python's operators on values: arithmetic and `+`/`*` on sequences, comparisons, `in`, `is`, indexing,
 * slicing, item assignment and iteration. The interpreter applies them to evaluated operands; builtins
 * and methods share them. Whatever builds a string or collection is charged to the thread's budget first.
 */
import type { CompareOp } from "./ast";
import { ScriptError } from "./errors";
import {
  checkMutable,
  codePoints,
  compare,
  equals,
  hashKey,
  joinParts,
  numeric,
  PyDict,
  PyFloat,
  PyList,
  PyRecord,
  PyTuple,
  repr,
  Symbolic,
  symbolicError,
  type TemplatePart,
  type Thread,
  typeName,
  type Value,
} from "./values";

/** `a <op> b` for the arithmetic operators; `+` with a step output builds a template instead. */
export function binary(ev: Thread, op: string, a: Value, b: Value, at: number): Value {
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
      ev.checkString(a.length + b.length, at);
      return a + b;
    }
    if (a instanceof PyList && b instanceof PyList) {
      ev.checkList(a.items.length + b.items.length, at);
      return new PyList([...a.items, ...b.items]);
    }
    if (a instanceof PyTuple && b instanceof PyTuple) {
      ev.checkList(a.items.length + b.items.length, at);
      return new PyTuple([...a.items, ...b.items]);
    }
  }
  if (op === "*") {
    const [seq, times] = nb && !nb.float ? [a, nb.n] : na && !na.float ? [b, na.n] : [undefined, 0];
    const n = Math.max(0, times);
    if (typeof seq === "string") {
      ev.checkString(seq.length * n, at);
      return seq.repeat(n);
    }
    if (seq instanceof PyList || seq instanceof PyTuple) {
      ev.checkList(seq.items.length * n, at);
      const items: Value[] = [];
      for (let i = 0; i < n; i++) items.push(...seq.items);
      return seq instanceof PyList ? new PyList(items) : new PyTuple(items);
    }
  }
  if (op === "%" && typeof a === "string")
    throw new ScriptError("`%` formatting is not supported: use an f-string", at);
  throw new ScriptError(`\`${op}\` is not supported between ${typeName(a)} and ${typeName(b)}`, at);
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

/** `a <op> b` for the comparison operators, `in` and `is`. */
export function compareOp(op: CompareOp, a: Value, b: Value, at: number): boolean {
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
      return contains(b, a, at);
    case "not in":
      return !contains(b, a, at);
    case "is":
      return identical(a, b, at);
    case "is not":
      return !identical(a, b, at);
  }
}

function contains(container: Value, item: Value, at: number): boolean {
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

function identical(a: Value, b: Value, at: number): boolean {
  if (a instanceof Symbolic || b instanceof Symbolic) {
    throw symbolicError((a instanceof Symbolic ? a : b) as Symbolic, "compared", at);
  }
  if (a instanceof PyFloat && b instanceof PyFloat) return a.v === b.v;
  return a === b;
}

/** Normalises a Python index (negative counts from the end) and bounds-checks it. */
export function index(key: Value, length: number, at: number): number {
  const n = typeof key === "number" ? key : typeof key === "boolean" ? Number(key) : undefined;
  if (n === undefined) {
    if (key instanceof Symbolic) throw symbolicError(key, "used as an index", at);
    throw new ScriptError(`indices must be integers, not ${typeName(key)}`, at);
  }
  const i = n < 0 ? n + length : n;
  if (i < 0 || i >= length) throw new ScriptError(`index ${n} is out of range (length ${length})`, at);
  return i;
}

export function getItem(obj: Value, key: Value, at: number): Value {
  if (obj instanceof PyList || obj instanceof PyTuple) return obj.items[index(key, obj.items.length, at)]!;
  if (typeof obj === "string") {
    const chars = codePoints(obj) ?? obj;
    return chars[index(key, chars.length, at)]!;
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

export function setItem(ev: Thread, obj: Value, key: Value, v: Value, at: number): void {
  if (obj instanceof PyDict) {
    checkMutable(obj, at);
    if (!obj.entries.has(hashKey(key, at))) ev.checkList(obj.entries.size + 1, at);
    obj.set(key, v, at);
  } else if (obj instanceof PyList) {
    checkMutable(obj, at);
    obj.items[index(key, obj.items.length, at)] = v;
  } else {
    throw new ScriptError(`a ${typeName(obj)} does not support item assignment`, at);
  }
}

/** The items of anything Python can loop over (snapshotted, so loops stay finite). */
export function iterate(v: Value, at: number): Value[] {
  if (v instanceof PyList) return v.items.slice();
  if (v instanceof PyTuple) return [...v.items];
  if (typeof v === "string") return [...v];
  if (v instanceof PyDict) return v.keys();
  if (v instanceof Symbolic) throw symbolicError(v, "looped over", at);
  throw new ScriptError(`a ${typeName(v)} is not iterable`, at);
}

/** `obj[lo:hi:step]` with Python's clamping; undefined bounds are the ones left out. */
export function slice(
  ev: Thread,
  obj: Value,
  lo: number | undefined,
  hi: number | undefined,
  step: number,
  at: number,
): Value {
  if (step === 0) throw new ScriptError("slice step cannot be zero", at);
  const seq: ArrayLike<Value> | undefined =
    typeof obj === "string"
      ? (codePoints(obj) ?? obj)
      : obj instanceof PyList || obj instanceof PyTuple
        ? obj.items
        : undefined;
  if (seq === undefined) {
    if (obj instanceof Symbolic) throw symbolicError(obj, "sliced", at);
    throw new ScriptError(`a ${typeName(obj)} cannot be sliced`, at);
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
  if (typeof seq === "string" && step === 1) return ev.string(seq.slice(start, stop), at);
  if (typeof obj === "string") ev.checkString(count, at);
  else ev.checkList(count, at);
  const out: Value[] = [];
  for (let k = 0, i = start; k < count; k++, i += step) out.push(seq[i]!);
  if (typeof obj === "string") return out.join("");
  return obj instanceof PyList ? new PyList(out) : new PyTuple(out);
}
