/**
 * The safe builtins (len, range, str, sorted, …) and the methods of str, list, dict and tuple. Anything
 * that builds a string or a collection goes through the evaluator's size checks.
 */
import { ScriptError } from "./errors";
import type { Evaluator } from "./interpreter";
import {
  Builtin,
  checkMutable,
  codePoints,
  compare,
  equals,
  floatRepr,
  formatWithSpec,
  hashKey,
  joinParts,
  numeric,
  PyDict,
  PyFloat,
  PyList,
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

function int(v: Value | undefined, what: string, at: number): number {
  if (typeof v === "number") return v;
  if (typeof v === "boolean") return Number(v);
  throw new ScriptError(`${what} must be an int, not ${typeName(v ?? null)}`, at);
}

function string(v: Value | undefined, what: string, at: number): string {
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

function list(ev: Evaluator, items: Value[], at: number): PyList {
  ev.checkList(items.length, at);
  return new PyList(items);
}

/** `min`/`max` accept one iterable or several arguments, plus `key=` and `default=`. */
function extreme(name: "min" | "max", sign: number) {
  return new Builtin(name, (ev, args, kwargs, at) => {
    const [key, dflt] = bind(name, ["key", "default"], 0, [], kwargs, at);
    if (args.length === 0) throw new ScriptError(`${name}() needs at least one argument`, at);
    const items = args.length === 1 ? ev.iterate(args[0]!, at) : args;
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
  ev: Evaluator,
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
    return list(ev, x === undefined ? [] : ev.iterate(x, at), at);
  }),
  tuple: new Builtin("tuple", (ev, args, kwargs, at) => {
    const [x] = bind("tuple", ["iterable"], 0, args, kwargs, at);
    return new PyTuple(x === undefined ? [] : ev.iterate(x, at));
  }),
  dict: new Builtin("dict", (ev, args, kwargs, at) => {
    if (args.length > 1) throw new ScriptError("dict() takes at most one positional argument", at);
    const d = new PyDict();
    const src = args[0];
    if (src instanceof PyDict) for (const [k, v] of src.entries.values()) d.set(k, v, at);
    else if (src !== undefined) {
      for (const pair of ev.iterate(src, at)) {
        const kv = ev.iterate(pair, at);
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
      sortValues(ev, ev.iterate(x!, at), key, reverse !== undefined && truthy(reverse, at), at),
      at,
    );
  }),
  reversed: new Builtin("reversed", (ev, args, kwargs, at) => {
    const [x] = bind("reversed", ["sequence"], 1, args, kwargs, at);
    return list(ev, ev.iterate(x!, at).reverse(), at);
  }),
  enumerate: new Builtin("enumerate", (ev, args, kwargs, at) => {
    const [x, start] = bind("enumerate", ["iterable", "start"], 1, args, kwargs, at);
    const s = start === undefined ? 0 : int(start, "start", at);
    return list(
      ev,
      ev.iterate(x!, at).map((v, i) => new PyTuple([s + i, v])),
      at,
    );
  }),
  zip: new Builtin("zip", (ev, args, kwargs, at) => {
    if (kwargs.size) throw new ScriptError("zip() takes no keyword arguments", at);
    const seqs = args.map((a) => ev.iterate(a, at));
    const n = seqs.length ? Math.min(...seqs.map((s) => s.length)) : 0;
    const items: Value[] = [];
    for (let i = 0; i < n; i++) items.push(new PyTuple(seqs.map((s) => s[i]!)));
    return list(ev, items, at);
  }),
  any: new Builtin("any", (ev, args, kwargs, at) =>
    ev.iterate(bind("any", ["iterable"], 1, args, kwargs, at)[0]!, at).some((v) => truthy(v, at)),
  ),
  all: new Builtin("all", (ev, args, kwargs, at) =>
    ev.iterate(bind("all", ["iterable"], 1, args, kwargs, at)[0]!, at).every((v) => truthy(v, at)),
  ),
  sum: new Builtin("sum", (ev, args, kwargs, at) => {
    const [x, start] = bind("sum", ["iterable", "start"], 1, args, kwargs, at);
    let total: Value = start ?? 0;
    for (const v of ev.iterate(x!, at)) {
      if (!numeric(v)) throw new ScriptError(`sum() adds numbers, not ${typeName(v)}`, at);
      total = ev.binary("+", total, v, at);
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

// ---------------------------------------------------------------------------------------------------
// Methods

type Method = (ev: Evaluator, self: never, args: Value[], kwargs: Map<string, Value>, at: number) => Value;

/** A method without arguments. */
function noArgs<T>(name: string, fn: (ev: Evaluator, self: T, at: number) => Value): Method {
  return (ev, self: T, args, kwargs, at) => {
    bind(name, [], 0, args, kwargs, at);
    return fn(ev, self, at);
  };
}

function affix(which: "startswith" | "endswith"): Method {
  return (_ev, self: string, args, kwargs, at) => {
    const [x] = bind(which, ["prefix"], 1, args, kwargs, at);
    const options = x instanceof PyTuple ? x.items : [x!];
    return options.some((o) => {
      const s = string(o, `the ${which}() argument`, at);
      return which === "startswith" ? self.startsWith(s) : self.endsWith(s);
    });
  };
}

function strip(which: "strip" | "lstrip" | "rstrip"): Method {
  return (_ev, self: string, args, kwargs, at) => {
    const [chars] = bind(which, ["chars"], 0, args, kwargs, at);
    const set = chars === undefined || chars === null ? undefined : new Set(string(chars, "chars", at));
    const isStrip = (c: string) => (set ? set.has(c) : /\s/.test(c));
    const cs = [...self];
    let lo = 0;
    let hi = cs.length;
    if (which !== "rstrip") while (lo < hi && isStrip(cs[lo]!)) lo++;
    if (which !== "lstrip") while (hi > lo && isStrip(cs[hi - 1]!)) hi--;
    return cs.slice(lo, hi).join("");
  };
}

const STR_METHODS: Record<string, Method> = {
  startswith: affix("startswith"),
  endswith: affix("endswith"),
  strip: strip("strip"),
  lstrip: strip("lstrip"),
  rstrip: strip("rstrip"),
  lower: noArgs("lower", (_ev, self: string) => self.toLowerCase()),
  upper: noArgs("upper", (_ev, self: string) => self.toUpperCase()),
  title: noArgs("title", (_ev, self: string) =>
    self.toLowerCase().replace(/(^|[^A-Za-z])([a-z])/g, (_, a: string, b: string) => a + b.toUpperCase()),
  ),
  isdigit: noArgs("isdigit", (_ev, self: string) => /^\d+$/.test(self)),
  split: (ev, self: string, args, kwargs, at) => {
    const [sep, max] = bind("split", ["sep", "maxsplit"], 0, args, kwargs, at);
    const limit = max === undefined ? -1 : int(max, "maxsplit", at);
    let parts: string[];
    if (sep === undefined || sep === null) {
      parts = self.trim() === "" ? [] : self.trim().split(/\s+/);
      if (limit >= 0 && parts.length > limit + 1) {
        const head = self.trimStart().split(/\s+/, limit);
        let rest = self.trimStart();
        for (const h of head) rest = rest.slice(h.length).trimStart();
        parts = [...head, rest];
      }
    } else {
      const s = string(sep, "sep", at);
      if (s === "") throw new ScriptError("split() separator cannot be empty", at);
      parts = self.split(s);
      if (limit >= 0 && parts.length > limit + 1)
        parts = [...parts.slice(0, limit), parts.slice(limit).join(s)];
    }
    return list(ev, parts, at);
  },
  splitlines: (ev, self: string, args, kwargs, at) => {
    bind("splitlines", [], 0, args, kwargs, at);
    const lines = self.split(/\r\n|\r|\n/);
    if (lines[lines.length - 1] === "") lines.pop();
    return list(ev, lines, at);
  },
  join: (ev, self: string, args, kwargs, at) => {
    const [x] = bind("join", ["iterable"], 1, args, kwargs, at);
    const parts: TemplatePart[] = [];
    let size = 0;
    ev.iterate(x!, at).forEach((v, i) => {
      if (i > 0) parts.push(self);
      if (v instanceof Symbolic) parts.push(...v.parts());
      else {
        const s = string(v, "each joined item", at);
        parts.push(s);
        size += s.length;
      }
      size += i > 0 ? self.length : 0;
    });
    ev.checkString(size, at);
    return joinParts(parts);
  },
  replace: (ev, self: string, args, kwargs, at) => {
    const [oldV, newV, countV] = bind("replace", ["old", "new", "count"], 2, args, kwargs, at);
    const o = string(oldV, "old", at);
    const n = string(newV, "new", at);
    const count = countV === undefined ? -1 : int(countV, "count", at);
    const pieces = o === "" ? [...self] : self.split(o);
    const occurrences = o === "" ? pieces.length + 1 : pieces.length - 1;
    const k = count < 0 ? occurrences : Math.min(count, occurrences);
    ev.checkString(self.length + k * (n.length - o.length), at);
    if (o === "") {
      const out = [...self];
      return out.reduce((acc, c, i) => acc + (i < k ? n : "") + c, "") + (k > out.length ? n : "");
    }
    return pieces.slice(0, k + 1).join(n) + (k < pieces.length - 1 ? o + pieces.slice(k + 1).join(o) : "");
  },
  removeprefix: (_ev, self: string, args, kwargs, at) => {
    const p = string(bind("removeprefix", ["prefix"], 1, args, kwargs, at)[0], "prefix", at);
    return p && self.startsWith(p) ? self.slice(p.length) : self;
  },
  removesuffix: (_ev, self: string, args, kwargs, at) => {
    const p = string(bind("removesuffix", ["suffix"], 1, args, kwargs, at)[0], "suffix", at);
    return p && self.endsWith(p) ? self.slice(0, -p.length) : self;
  },
  find: (_ev, self: string, args, kwargs, at) =>
    self.indexOf(string(bind("find", ["sub"], 1, args, kwargs, at)[0], "sub", at)),
  count: (_ev, self: string, args, kwargs, at) => {
    const s = string(bind("count", ["sub"], 1, args, kwargs, at)[0], "sub", at);
    return s === "" ? (codePoints(self) ?? self).length + 1 : self.split(s).length - 1;
  },
  format: (ev, self: string, args, kwargs, at) => formatMethod(ev, self, args, kwargs, at),
};

/** `"{} {name!r:>4}".format(…)`: auto or explicit indices, names, conversions and specs. */
function formatMethod(
  ev: Evaluator,
  template: string,
  args: Value[],
  kwargs: Map<string, Value>,
  at: number,
): Value {
  const parts: TemplatePart[] = [];
  let auto = 0;
  let size = 0;
  const re = /\{\{|\}\}|\{([^{}!:]*)(?:!([sra]))?(?::([^{}]*))?\}|[{}]/g;
  let last = 0;
  for (let m = re.exec(template); m; m = re.exec(template)) {
    parts.push(template.slice(last, m.index));
    size += m.index - last;
    last = re.lastIndex;
    if (m[0] === "{{" || m[0] === "}}") {
      parts.push(m[0][0]!);
      continue;
    }
    if (m[0] === "{" || m[0] === "}") throw new ScriptError(`single \`${m[0]}\` in a format string`, at);
    const field = m[1]!;
    let v: Value | undefined;
    if (field === "") v = args[auto++];
    else if (/^\d+$/.test(field)) v = args[Number(field)];
    else v = kwargs.get(field);
    if (v === undefined) throw new ScriptError(`format() has no value for {${field}}`, at);
    if (v instanceof Symbolic && !m[2] && !m[3]) {
      parts.push(...v.parts());
      continue;
    }
    const conv = m[2] === "r" || m[2] === "a" ? repr(v, at) : m[2] === "s" ? str(v, at) : v;
    const text = formatWithSpec(conv, m[3] ?? "", at);
    size += text.length;
    parts.push(text);
  }
  parts.push(template.slice(last));
  ev.checkString(size + template.length - last, at);
  return joinParts(parts);
}

const LIST_METHODS: Record<string, Method> = {
  append: (ev, self: PyList, args, kwargs, at) => {
    const [x] = bind("append", ["object"], 1, args, kwargs, at);
    checkMutable(self, at);
    ev.checkList(self.items.length + 1, at);
    self.items.push(x!);
    return null;
  },
  extend: (ev, self: PyList, args, kwargs, at) => {
    const [x] = bind("extend", ["iterable"], 1, args, kwargs, at);
    checkMutable(self, at);
    const more = ev.iterate(x!, at);
    ev.checkList(self.items.length + more.length, at);
    self.items.push(...more);
    return null;
  },
  insert: (ev, self: PyList, args, kwargs, at) => {
    const [i, x] = bind("insert", ["index", "object"], 2, args, kwargs, at);
    checkMutable(self, at);
    ev.checkList(self.items.length + 1, at);
    const n = int(i, "index", at);
    const len = self.items.length;
    self.items.splice(Math.min(Math.max(n < 0 ? n + len : n, 0), len), 0, x!);
    return null;
  },
  pop: (ev, self: PyList, args, kwargs, at) => {
    const [i] = bind("pop", ["index"], 0, args, kwargs, at);
    checkMutable(self, at);
    if (self.items.length === 0) throw new ScriptError("pop from an empty list", at);
    const idx = ev.index(i ?? -1, self.items.length, at);
    return self.items.splice(idx, 1)[0]!;
  },
  copy: noArgs("copy", (ev, self: PyList, at) => list(ev, self.items.slice(), at)),
  index: (_ev, self: PyList | PyTuple, args, kwargs, at) => seqIndex(self, args, kwargs, at),
  count: (_ev, self: PyList | PyTuple, args, kwargs, at) => {
    const [x] = bind("count", ["value"], 1, args, kwargs, at);
    return self.items.filter((v) => equals(v, x!, at)).length;
  },
};

function seqIndex(self: PyList | PyTuple, args: Value[], kwargs: Map<string, Value>, at: number): Value {
  const [x] = bind("index", ["value"], 1, args, kwargs, at);
  const i = self.items.findIndex((v) => equals(v, x!, at));
  if (i === -1) throw new ScriptError(`${repr(x!, at)} is not in the ${typeName(self)}`, at);
  return i;
}

const TUPLE_METHODS: Record<string, Method> = { index: LIST_METHODS.index!, count: LIST_METHODS.count! };

const DICT_METHODS: Record<string, Method> = {
  get: (_ev, self: PyDict, args, kwargs, at) => {
    const [k, dflt] = bind("get", ["key", "default"], 1, args, kwargs, at);
    return self.get(k!, at) ?? dflt ?? null;
  },
  keys: noArgs("keys", (ev, self: PyDict, at) => list(ev, self.keys(), at)),
  values: noArgs("values", (ev, self: PyDict, at) =>
    list(
      ev,
      [...self.entries.values()].map((e) => e[1]),
      at,
    ),
  ),
  items: noArgs("items", (ev, self: PyDict, at) =>
    list(
      ev,
      [...self.entries.values()].map(([k, v]) => new PyTuple([k, v])),
      at,
    ),
  ),
  copy: (ev, self: PyDict, args, kwargs, at) => {
    bind("copy", [], 0, args, kwargs, at);
    const d = new PyDict();
    for (const [k, v] of self.entries.values()) d.set(k, v, at);
    ev.checkList(d.entries.size, at);
    return d;
  },
  update: (ev, self: PyDict, args, kwargs, at) => {
    checkMutable(self, at);
    const [other] = bind("update", ["other"], 0, args, new Map(), at);
    if (other !== undefined) {
      if (!(other instanceof PyDict))
        throw new ScriptError(`update() needs a dict, not ${typeName(other)}`, at);
      for (const [k, v] of other.entries.values()) self.set(k, v, at);
    }
    for (const [k, v] of kwargs) self.set(k, v, at);
    ev.checkList(self.entries.size, at);
    return null;
  },
  setdefault: (ev, self: PyDict, args, kwargs, at) => {
    const [k, dflt] = bind("setdefault", ["key", "default"], 1, args, kwargs, at);
    const cur = self.get(k!, at);
    if (cur !== undefined) return cur;
    checkMutable(self, at);
    ev.checkList(self.entries.size + 1, at);
    self.set(k!, dflt ?? null, at);
    return dflt ?? null;
  },
  pop: (_ev, self: PyDict, args, kwargs, at) => {
    const [k, dflt] = bind("pop", ["key", "default"], 1, args, kwargs, at);
    checkMutable(self, at);
    const cur = self.get(k!, at);
    if (cur === undefined) {
      if (dflt !== undefined) return dflt;
      throw new ScriptError(`key ${repr(k!, at)} is not in the dict`, at);
    }
    self.entries.delete(hashKey(k!, at));
    return cur;
  },
};

/** A bound method of a str, list, tuple or dict, or undefined if the type has no such method. */
export function methodOf(self: Value, name: string): Builtin | undefined {
  const table =
    typeof self === "string"
      ? STR_METHODS
      : self instanceof PyList
        ? LIST_METHODS
        : self instanceof PyTuple
          ? TUPLE_METHODS
          : self instanceof PyDict
            ? DICT_METHODS
            : undefined;
  const m = table && Object.hasOwn(table, name) ? table[name] : undefined;
  if (!m) return undefined;
  return new Builtin(name, (ev, args, kwargs, at) => m(ev, self as never, args, kwargs, at));
}

/** Method names of a value's type, for "did you mean" hints. */
export function methodNames(self: Value): string[] {
  if (typeof self === "string") return Object.keys(STR_METHODS);
  if (self instanceof PyList) return Object.keys(LIST_METHODS);
  if (self instanceof PyDict) return Object.keys(DICT_METHODS);
  return [];
}
