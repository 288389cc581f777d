/**
 * The methods of str, list, tuple and dict (`"a,b".split(",")`, `xs.append(x)`, `d.get(k)`), looked up by
 * the evaluator on attribute access. Lists and dicts frozen at module level refuse to change.
 */
import { bind, int, list, string } from "./builtins";
import { ScriptError } from "./errors";
import { formatMethod } from "./format";
import { index, iterate } from "./operators";
import {
  Builtin,
  checkMutable,
  codePoints,
  equals,
  hashKey,
  joinParts,
  PyDict,
  PyList,
  PyTuple,
  repr,
  Symbolic,
  type TemplatePart,
  type Thread,
  typeName,
  type Value,
} from "./values";

type Method = (ev: Thread, self: never, args: Value[], kwargs: Map<string, Value>, at: number) => Value;

/** A method without arguments. */
function noArgs<T>(name: string, fn: (ev: Thread, self: T, at: number) => Value): Method {
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
    iterate(x!, at).forEach((v, i) => {
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
    const more = iterate(x!, at);
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
  pop: (_ev, self: PyList, args, kwargs, at) => {
    const [i] = bind("pop", ["index"], 0, args, kwargs, at);
    checkMutable(self, at);
    if (self.items.length === 0) throw new ScriptError("pop from an empty list", at);
    const idx = index(i ?? -1, self.items.length, at);
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
