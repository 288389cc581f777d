/**
 * Python's string formatting, shared by f-strings (the interpreter) and `str.format` (methods.ts): the
 * format-spec mini-language and `"{}".format(…)` fields. Widths and precisions are bounded before any
 * padding is built.
 */
import { ScriptError } from "./errors";
import {
  floatRepr,
  joinParts,
  numeric,
  repr,
  Symbolic,
  str,
  type TemplatePart,
  type Thread,
  typeName,
  type Value,
} from "./values";

const MAX_FORMAT_WIDTH = 1_000_000;
/** What toFixed/toPrecision/toExponential accept. */
const MAX_FORMAT_PRECISION = 100;

/** Python's format-spec mini-language, the common part: `[[fill]align][sign][0][width][,][.precision][type]`. */
export function formatWithSpec(v: Value, spec: string, at: number): string {
  if (spec === "") return str(v, at);
  const m = /^(?:(.)?([<>^=]))?([+\- ])?(0)?(\d+)?(,)?(?:\.(\d+))?([sdfFeE%xXob])?$/s.exec(spec);
  if (!m) throw new ScriptError(`unsupported format spec \`${spec}\``, at);
  const [, fillChar, alignChar, sign, zero, widthText, comma, precisionText, type] = m;
  // Checked before padding: `{x:>1000000000}` would build the string before any budget sees it.
  if (Number(widthText ?? 0) > MAX_FORMAT_WIDTH)
    throw new ScriptError(`a format width of ${widthText} is over the limit of ${MAX_FORMAT_WIDTH}`, at);
  if (Number(precisionText ?? 0) > MAX_FORMAT_PRECISION)
    throw new ScriptError(
      `a format precision of ${precisionText} is over the limit of ${MAX_FORMAT_PRECISION}`,
      at,
    );
  const num = typeof v === "boolean" ? undefined : numeric(v);
  let body: string;
  if (num) {
    const precision = precisionText === undefined ? undefined : Number(precisionText);
    const t = type ?? (num.float ? "" : "d");
    let n = Math.abs(num.n);
    if (t === "%") n *= 100;
    if (t === "d") {
      if (num.float) throw new ScriptError("format `d` needs an int", at);
      body = String(n);
    } else if (t === "x" || t === "X" || t === "o" || t === "b") {
      if (num.float) throw new ScriptError(`format \`${t}\` needs an int`, at);
      body = n.toString(t === "o" ? 8 : t === "b" ? 2 : 16);
      if (t === "X") body = body.toUpperCase();
    } else if (t === "e" || t === "E") {
      body = n.toExponential(precision ?? 6).replace(/e([+-])(\d)$/, "e$10$2");
      if (t === "E") body = body.toUpperCase();
    } else if (t === "f" || t === "F" || t === "%") {
      body = n.toFixed(precision ?? 6);
    } else if (t === "s") {
      throw new ScriptError("format `s` needs a str", at);
    } else {
      body = precision === undefined ? (num.float ? floatRepr(n) : String(n)) : n.toPrecision(precision);
    }
    if (comma) body = body.replace(/^(\d+)/, (d) => d.replace(/\B(?=(\d{3})+$)/g, ","));
    if (t === "%") body += "%";
    const minus = num.n < 0 || Object.is(num.n, -0);
    const signText = minus ? "-" : sign === "+" ? "+" : sign === " " ? " " : "";
    const width = widthText === undefined ? 0 : Number(widthText);
    if (zero && !alignChar) return signText + body.padStart(width - signText.length, "0");
    body = signText + body;
  } else {
    if (type && type !== "s")
      throw new ScriptError(`format \`${type}\` needs a number, got ${typeName(v)}`, at);
    body = str(v, at);
    if (precisionText !== undefined) body = body.slice(0, Number(precisionText));
  }
  const width = widthText === undefined ? 0 : Number(widthText);
  const fill = fillChar ?? " ";
  const pad = Math.max(0, width - body.length);
  const align = alignChar ?? (num ? ">" : "<");
  if (align === "<") return body + fill.repeat(pad);
  if (align === "^") return fill.repeat(Math.floor(pad / 2)) + body + fill.repeat(Math.ceil(pad / 2));
  return fill.repeat(pad) + body;
}

/** `"{} {name!r:>4}".format(…)`: auto or explicit indices, names, conversions and specs. */
export function formatMethod(
  ev: Thread,
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
