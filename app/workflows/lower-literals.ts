/**
 * Lowering of literals: numbers (ints and floats kept apart, no complex, no leading zeros) and strings —
 * adjacent literals joined, f-strings split into text and replacements, escapes decoded as Python does.
 * Replacements hold expressions, which the expression layer lowers ({@link LiteralLowerer.expressions}).
 */
import type { SyntaxNode } from "@lezer/common";
import type { Expr, FStrPart } from "./ast";
import { children, LowererBase } from "./lowering";

export abstract class LiteralLowerer extends LowererBase {
  /** `a, b` is a tuple; a single expression is itself (lower-expressions.ts). */
  protected abstract expressions(nodes: SyntaxNode[], at: number): Expr;

  protected number(n: SyntaxNode): { int: number } | { float: number } {
    const raw = this.text(n);
    const t = raw.replace(/_/g, "");
    if (/[jJ]$/.test(t)) {
      this.fail(n.from, "complex numbers are not supported");
      return { int: 0 };
    }
    const radix = /^0[xX]/.test(t) ? 16 : /^0[oO]/.test(t) ? 8 : /^0[bB]/.test(t) ? 2 : 10;
    if (radix === 10 && /[.eE]/.test(t)) return { float: Number(t) };
    if (radix === 10 && /^0+[1-9]/.test(t)) this.fail(n.from, "leading zeros in integers are not allowed");
    const value = radix === 10 ? Number(t) : Number.parseInt(t.slice(2), radix);
    if (!Number.isSafeInteger(value)) this.fail(n.from, `the integer ${raw} is too large`);
    return { int: value };
  }

  /** One literal or several adjacent ones (`"a" f"{b}"`), joined. */
  protected strings(nodes: SyntaxNode[], at: number): Expr {
    const parts: FStrPart[] = [];
    let formatted = false;
    for (const n of nodes) {
      if (n.name === "FormatString") {
        formatted = true;
        parts.push(...this.formatString(n));
      } else {
        const s = this.stringLiteral(n);
        if (s !== undefined) parts.push(s);
      }
    }
    if (!formatted) return { t: "const", value: parts.join(""), at };
    return { t: "fstr", parts, at };
  }

  /** Splits a literal into its prefix letters, quote and body; reports unterminated strings. */
  private frame(n: SyntaxNode): { prefix: string; body: [number, number] } | undefined {
    const raw = this.text(n);
    const prefix = /^[A-Za-z]*/.exec(raw)![0].toLowerCase();
    const q = raw.slice(prefix.length);
    const quote = q.startsWith('"""') || q.startsWith("'''") ? q.slice(0, 3) : q.slice(0, 1);
    if (q.length < quote.length * 2 || !q.endsWith(quote)) {
      this.fail(n.from, "syntax error: unterminated string");
      return undefined;
    }
    if (prefix.includes("b")) {
      this.fail(n.from, "bytes literals are not supported");
      return undefined;
    }
    const start = n.from + prefix.length + quote.length;
    return { prefix, body: [start, n.to - quote.length] };
  }

  private stringLiteral(n: SyntaxNode): string | undefined {
    const f = this.frame(n);
    if (!f) return undefined;
    const body = this.src.slice(f.body[0], f.body[1]);
    return f.prefix.includes("r") ? body : this.unescape(body, f.body[0]);
  }

  private formatString(n: SyntaxNode): FStrPart[] {
    const f = this.frame(n);
    if (!f) return [];
    const raw = f.prefix.includes("r");
    const parts: FStrPart[] = [];
    let pos = f.body[0];
    const literal = (end: number) => {
      if (end <= pos) return;
      let text = this.src.slice(pos, end);
      if (!raw) text = this.unescape(text, pos);
      if (text.replace(/\}\}/g, "").includes("}")) this.fail(pos, "single `}` is not allowed in an f-string");
      parts.push(text.replace(/\{\{/g, "{").replace(/\}\}/g, "}"));
    };
    for (const k of children(n)) {
      if (k.name !== "FormatReplacement") continue;
      literal(k.from);
      parts.push(...this.replacement(k));
      pos = k.to;
    }
    literal(f.body[1]);
    return parts;
  }

  /** `{expr!r:>10}` inside an f-string; `{expr=}` prints the source text too. */
  private replacement(n: SyntaxNode): FStrPart[] {
    const kids = children(n);
    const exprNodes: SyntaxNode[] = [];
    let conversion: "s" | "r" | "a" | undefined;
    let spec: FStrPart[] | undefined;
    let selfDoc: SyntaxNode | undefined;
    for (const k of kids.slice(1)) {
      if (k.name === "FormatConversion") conversion = this.text(k).slice(1) as "s" | "r" | "a";
      else if (k.name === "FormatSpec") spec = this.formatSpec(k);
      else if (k.name === "FormatSelfDoc") selfDoc = k;
      else if (k.name !== "}") exprNodes.push(k);
    }
    const expr = this.expressions(exprNodes, n.from);
    const out: FStrPart[] = [];
    if (selfDoc) {
      out.push(this.src.slice(n.from + 1, selfDoc.to));
      if (!conversion && !spec) conversion = "r";
    }
    out.push({
      expr,
      ...(conversion ? { conversion } : {}),
      ...(spec ? { spec } : {}),
      at: exprNodes[0]?.from ?? n.from,
    });
    return out;
  }

  private formatSpec(n: SyntaxNode): FStrPart[] {
    const parts: FStrPart[] = [];
    let pos = n.from + 1; // after ":"
    for (const k of children(n)) {
      if (k.name !== "FormatReplacement") continue;
      if (k.from > pos) parts.push(this.src.slice(pos, k.from));
      parts.push(...this.replacement(k));
      pos = k.to;
    }
    if (n.to > pos) parts.push(this.src.slice(pos, n.to));
    return parts;
  }

  private unescape(s: string, at: number): string {
    if (!s.includes("\\")) return s;
    return s.replace(
      /\\(\r?\n|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|N\{[^}]*\}|[0-7]{1,3}|.)/gs,
      (m, e: string) => {
        switch (e[0]) {
          case "\n":
          case "\r":
            return "";
          case "n":
            return "\n";
          case "t":
            return "\t";
          case "r":
            return "\r";
          case "\\":
          case "'":
          case '"':
            return e;
          case "a":
            return "\x07";
          case "b":
            return "\b";
          case "f":
            return "\f";
          case "v":
            return "\v";
          case "x":
          case "u":
          case "U": {
            const cp = Number.parseInt(e.slice(1), 16);
            if (e.length > 1 && cp <= 0x10ffff) return String.fromCodePoint(cp);
            return m;
          }
          case "N":
            this.fail(at, "\\N{...} escapes are not supported");
            return "";
          default:
            if (/^[0-7]+$/.test(e)) return String.fromCharCode(Number.parseInt(e, 8));
            return m; // Python keeps unknown escapes as written
        }
      },
    );
  }
}
