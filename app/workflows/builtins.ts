/**
 * The safe builtin functions (len, range, str, sorted, …) and the argument helpers host functions share
 * (`bind` matches a call's arguments to parameter names). Anything that builds a string or a collection
 * is charged to the thread's budget first. Methods of str, list, dict and tuple are in methods.ts.
 */
import { ScriptError, suggest } from "./errors";
import { binary, iterate } from "./operators";
import {
  Builtin,
  codePoints,
  compare,
  floatRepr,
  joinParts,
  numeric,
  PyDict,
  PyFloat,
  PyList,
  PyTuple,
  repr,
  Symbolic,
  str,
  symbolicError,
  type Thread,
  truthy,
  typeName,
  type Value,
} from "./values";

/**
 * Matches call arguments to parameter names (positional first, then keywords). Returns one slot per name,
 * undefined where an optional argument was not given.
 */
export function bind(
  fname: string,
  names: readonly string[],
  required: number,
  args: Value[],
  kwargs: Map<string, Value>,
  at: number,
  positional = names.length,
): (Value | undefined)[] {
  if (args.length > positional) {
    throw new ScriptError(
      positional === 0
        ? `${fname}() takes keyword arguments only`
        : `${fname}() takes at most ${positional} positional arguments (${args.length} given)`,
      at,
    );
  }
  const out: (Value | undefined)[] = names.map((_, i) => args[i]);
  for (const [k, v] of kwargs) {
    const i = names.indexOf(k);
    if (i === -1) {
      throw new ScriptError(
        `${fname}() has no argument \`${k}\`${suggest(k, names)} (arguments: ${names.join(", ") || "none"})`,
        at,
      );
    }
    if (out[i] !== undefined) throw new ScriptError(`${fname}() got two values for \`${k}\``, at);
    out[i] = v;
  }
  for (let i = 0; i < required; i++) {
    if (out[i] === undefined) throw new ScriptError(`${fname}() is missing the argument \`${names[i]}\``, at);
  }
  return out;
}

export function int(v: Value | undefined, what: string, at: number): number {
  if (typeof v === "number") return v;
  if (typeof v === "boolean") return Number(v);
  throw new ScriptError(`${what} must be an int, not ${typeName(v ?? null)}`, at);
}

export function string(v: Value | undefined, what: string, at: number): string {
  if (typeof v === "string") return v;
  if (v instanceof Symbolic) throw symbolicError(v, `used as ${what}`, at);
  throw new ScriptError(`${what} must be a str, not ${typeName(v ?? null)}`, at);
}

function length(v: Value, at: number): number {
  if (typeof v === "string") return (codePoints(v) ?? v).length;
  if (v instanceof PyList || v instanceof PyTuple) return v.items.length;
  if (v instanceof PyDict) return v.entries.size;
  if (v instanceof Symbolic) throw symbolicError(v, "measured with len()", at);
  throw new ScriptError(`a ${typeName(v)} has no len()`, at);
}

export function list(ev: Thread, items: Value[], at: number): PyList {
  ev.checkList(items.length, at);
  return new PyList(items);
}

/** `min`/`max` accept one iterable or several arguments, plus `key=` and `default=`. */
function extreme(name: "min" | "max", sign: number) {
  return new Builtin(name, (ev, args, kwargs, at) => {
    const [key, dflt] = bind(name, ["key", "default"], 0, [], kwargs, at);
    if (args.length === 0) throw new ScriptError(`${name}() needs at least one argument`, at);
    const items = args.length === 1 ? iterate(args[0]!, at) : args;
    if (items.length === 0) {
      if (dflt !== undefined) return dflt;
      throw new ScriptError(`${name}() of an empty sequence`, at);
    }
    const keyOf = (x: Value) => (key === undefined || key === null ? x : ev.call(key, [x], new Map(), at));
    let best: Value = items[0] as Value;
    let bestKey = keyOf(best);
    for (const x of items.slice(1)) {
      ev.tick(at);
      const k = keyOf(x);
      if (compare(k, bestKey, name === "min" ? "<" : ">", at) * sign > 0) {
        best = x;
        bestKey = k;
      }
    }
    return best;
  });
}

function sortValues(
  ev: Thread,
  items: Value[],
  key: Value | undefined,
  reverse: boolean,
  at: number,
): Value[] {
  const keyed = items.map((x) => {
    ev.tick(at);
    return { x, k: key === undefined || key === null ? x : ev.call(key, [x], new Map(), at) };
  });
  keyed.sort((a, b) => compare(a.k, b.k, "<", at) * (reverse ? -1 : 1));
  return keyed.map((e) => e.x);
}

function toInt(v: Value, base: number | undefined, at: number): number {
  if (typeof v === "string") {
    const text = v.trim().replace(/_/g, "");
    const radix = base ?? 10;
    const valid = radix === 10 ? /^[+-]?\d+$/ : /^[+-]?[0-9a-zA-Z]+$/;
    const n = Number.parseInt(text, radix);
    if (!valid.test(text) || Number.isNaN(n))
      throw new ScriptError(`invalid literal for int(): ${repr(v, at)}`, at);
    if (!Number.isSafeInteger(n)) throw new ScriptError(`int(${repr(v, at)}) is too large`, at);
    return n;
  }
  const n = numeric(v);
  if (!n) throw new ScriptError(`int() cannot convert a ${typeName(v)}`, at);
  if (!Number.isFinite(n.n)) throw new ScriptError(`int() cannot convert ${floatRepr(n.n)}`, at);
  return Math.trunc(n.n);
}

export const builtinFunctions: Record<string, Builtin> = {
  len: new Builtin("len", (_ev, args, kwargs, at) => length(bind("len", ["x"], 1, args, kwargs, at)[0]!, at)),
  range: new Builtin("range", (ev, args, kwargs, at) => {
    if (kwargs.size) throw new ScriptError("range() takes no keyword arguments", at);
    if (args.length < 1 || args.length > 3) throw new ScriptError("range() takes 1 to 3 arguments", at);
    const [a, b, c] = args.map((x) => int(x, "range() argument", at));
    const [start, stop, step] = args.length === 1 ? [0, a!, 1] : [a!, b!, c ?? 1];
    if (step === 0) throw new ScriptError("range() step cannot be zero", at);
    const count = Math.max(0, Math.ceil((stop - start) / step));
    ev.checkList(count, at);
    const items: Value[] = [];
    for (let i = 0; i < count; i++) items.push(start + i * step);
    return new PyList(items);
  }),
  str: new Builtin("str", (ev, args, kwargs, at) => {
    const [x] = bind("str", ["object"], 0, args, kwargs, at);
    if (x === undefined) return "";
    if (x instanceof Symbolic) return joinParts(x.parts());
    return ev.string(str(x, at), at);
  }),
  repr: new Builtin("repr", (ev, args, kwargs, at) =>
    ev.string(repr(bind("repr", ["object"], 1, args, kwargs, at)[0]!, at), at),
  ),
  int: new Builtin("int", (_ev, args, kwargs, at) => {
    const [x, base] = bind("int", ["x", "base"], 0, args, kwargs, at);
    return x === undefined ? 0 : toInt(x, base === undefined ? undefined : int(base, "base", at), at);
  }),
  float: new Builtin("float", (_ev, args, kwargs, at) => {
    const [x] = bind("float", ["x"], 0, args, kwargs, at);
    if (x === undefined) return new PyFloat(0);
    if (typeof x === "string") {
      const t = x.trim().toLowerCase();
      const n =
        t === "inf" || t === "+inf"
          ? Infinity
          : t === "-inf"
            ? -Infinity
            : t === "nan"
              ? Number.NaN
              : Number(t);
      if (t === "" || (Number.isNaN(n) && t !== "nan"))
        throw new ScriptError(`could not convert ${repr(x, at)} to float`, at);
      return new PyFloat(n);
    }
    const n = numeric(x);
    if (!n) throw new ScriptError(`float() cannot convert a ${typeName(x)}`, at);
    return new PyFloat(n.n);
  }),
  bool: new Builtin("bool", (_ev, args, kwargs, at) => {
    const [x] = bind("bool", ["x"], 0, args, kwargs, at);
    return x === undefined ? false : truthy(x, at);
  }),
  list: new Builtin("list", (ev, args, kwargs, at) => {
    const [x] = bind("list", ["iterable"], 0, args, kwargs, at);
    return list(ev, x === undefined ? [] : iterate(x, at), at);
  }),
  tuple: new Builtin("tuple", (_ev, args, kwargs, at) => {
    const [x] = bind("tuple", ["iterable"], 0, args, kwargs, at);
    return new PyTuple(x === undefined ? [] : iterate(x, at));
  }),
  dict: new Builtin("dict", (ev, args, kwargs, at) => {
    if (args.length > 1) throw new ScriptError("dict() takes at most one positional argument", at);
    const d = new PyDict();
    const src = args[0];
    if (src instanceof PyDict) for (const [k, v] of src.entries.values()) d.set(k, v, at);
    else if (src !== undefined) {
      for (const pair of iterate(src, at)) {
        const kv = iterate(pair, at);
        if (kv.length !== 2) throw new ScriptError("dict() items must be (key, value) pairs", at);
        d.set(kv[0]!, kv[1]!, at);
      }
    }
    for (const [k, v] of kwargs) d.set(k, v, at);
    ev.checkList(d.entries.size, at);
    return d;
  }),
  min: extreme("min", -1),
  max: extreme("max", 1),
  sorted: new Builtin("sorted", (ev, args, kwargs, at) => {
    const [x, key, reverse] = bind("sorted", ["iterable", "key", "reverse"], 1, args, kwargs, at, 1);
    return list(
      ev,
      sortValues(ev, iterate(x!, at), key, reverse !== undefined && truthy(reverse, at), at),
      at,
    );
  }),
  reversed: new Builtin("reversed", (ev, args, kwargs, at) => {
    const [x] = bind("reversed", ["sequence"], 1, args, kwargs, at);
    return list(ev, iterate(x!, at).reverse(), at);
  }),
  enumerate: new Builtin("enumerate", (ev, args, kwargs, at) => {
    const [x, start] = bind("enumerate", ["iterable", "start"], 1, args, kwargs, at);
    const s = start === undefined ? 0 : int(start, "start", at);
    return list(
      ev,
      iterate(x!, at).map((v, i) => new PyTuple([s + i, v])),
      at,
    );
  }),
  zip: new Builtin("zip", (ev, args, kwargs, at) => {
    if (kwargs.size) throw new ScriptError("zip() takes no keyword arguments", at);
    const seqs = args.map((a) => iterate(a, at));
    const n = seqs.length ? Math.min(...seqs.map((s) => s.length)) : 0;
    const items: Value[] = [];
    for (let i = 0; i < n; i++) items.push(new PyTuple(seqs.map((s) => s[i]!)));
    return list(ev, items, at);
  }),
  any: new Builtin("any", (_ev, args, kwargs, at) =>
    iterate(bind("any", ["iterable"], 1, args, kwargs, at)[0]!, at).some((v) => truthy(v, at)),
  ),
  all: new Builtin("all", (_ev, args, kwargs, at) =>
    iterate(bind("all", ["iterable"], 1, args, kwargs, at)[0]!, at).every((v) => truthy(v, at)),
  ),
  sum: new Builtin("sum", (ev, args, kwargs, at) => {
    const [x, start] = bind("sum", ["iterable", "start"], 1, args, kwargs, at);
    let total: Value = start ?? 0;
    for (const v of iterate(x!, at)) {
      if (!numeric(v)) throw new ScriptError(`sum() adds numbers, not ${typeName(v)}`, at);
      total = binary(ev, "+", total, v, at);
    }
    return total;
  }),
  abs: new Builtin("abs", (_ev, args, kwargs, at) => {
    const [x] = bind("abs", ["x"], 1, args, kwargs, at);
    const n = numeric(x!);
    if (!n) throw new ScriptError(`abs() needs a number, not ${typeName(x!)}`, at);
    return n.float ? new PyFloat(Math.abs(n.n)) : Math.abs(n.n);
  }),
  round: new Builtin("round", (_ev, args, kwargs, at) => {
    const [x, digits] = bind("round", ["number", "ndigits"], 1, args, kwargs, at);
    const n = numeric(x!);
    if (!n) throw new ScriptError(`round() needs a number, not ${typeName(x!)}`, at);
    if (digits === undefined || digits === null) return roundHalfEven(n.n);
    const f = 10 ** int(digits, "ndigits", at);
    return n.float ? new PyFloat(roundHalfEven(n.n * f) / f) : roundHalfEven(n.n * f) / f;
  }),
};

/** Python rounds halves to even (`round(2.5) == 2`). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
