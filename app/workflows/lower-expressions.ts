/**
 * Lowering of expressions, and of what is built from them: assignment targets, parameter lists (of
 * `def` and `lambda`), call arguments, comprehensions, subscripts and slices, and operators (chained
 * comparisons included). Anything not handled is an error naming the construct.
 */
import type { SyntaxNode } from "@lezer/common";
import type { Arg, BinaryOp, CompareOp, CompClause, DictEntry, Expr, Item, Param, Target } from "./ast";
import { LiteralLowerer } from "./lower-literals";
import { children, FORBIDDEN, FORBIDDEN_NAMES, PLACEHOLDER, splitCommas } from "./lowering";

export abstract class ExpressionLowerer extends LiteralLowerer {
  /** `a, b` is a tuple; a single expression is itself. */
  protected override expressions(nodes: SyntaxNode[], at: number): Expr {
    const { groups, comma } = splitCommas(nodes);
    if (!comma && groups.length === 1) return this.single(groups[0]!, at);
    return { t: "tuple", items: groups.map((g) => this.item(g, at)), at: nodes[0]?.from ?? at };
  }

  protected single(group: SyntaxNode[], at: number): Expr {
    if (group.length !== 1) {
      this.fail(
        group[0]?.from ?? at,
        group[0]?.name === "*" ? "`*` unpacking is not supported here" : "expected an expression",
      );
      return PLACEHOLDER(at);
    }
    return this.expr(group[0]!);
  }

  private item(group: SyntaxNode[], at: number): Item {
    if (group[0]?.name === "*" && group.length === 2) return { spread: true, value: this.expr(group[1]!) };
    return { spread: false, value: this.single(group, at) };
  }

  protected expr(n: SyntaxNode): Expr {
    return this.nested(n.from, PLACEHOLDER(n.from), () => this.exprInner(n));
  }

  private exprInner(n: SyntaxNode): Expr {
    const at = n.from;
    const forbidden = FORBIDDEN[n.name];
    if (forbidden) {
      this.fail(at, forbidden);
      return PLACEHOLDER(at);
    }
    switch (n.name) {
      case "VariableName": {
        const id = this.identifier(n);
        const why = Object.hasOwn(FORBIDDEN_NAMES, id) ? FORBIDDEN_NAMES[id] : undefined;
        if (why) this.fail(at, `\`${id}\` is not allowed: ${why}`);
        return { t: "name", id, at };
      }
      case "None":
        return { t: "const", value: null, at };
      case "Boolean":
        return { t: "const", value: this.text(n) === "True", at };
      case "Number":
        return { t: "const", value: this.number(n), at };
      case "String":
      case "FormatString":
      case "ContinuedString":
        return this.strings(n.name === "ContinuedString" ? children(n) : [n], at);
      case "ParenthesizedExpression":
        return this.single(
          children(n).filter((k) => k.name !== "(" && k.name !== ")"),
          at,
        );
      case "TupleExpression":
        return {
          t: "tuple",
          items: splitCommas(children(n).slice(1, -1)).groups.map((g) => this.item(g, at)),
          at,
        };
      case "ArrayExpression":
        return {
          t: "list",
          items: splitCommas(children(n).slice(1, -1)).groups.map((g) => this.item(g, at)),
          at,
        };
      case "DictionaryExpression":
        return { t: "dict", entries: this.dictEntries(children(n).slice(1, -1), at), at };
      case "ArrayComprehensionExpression":
      case "ComprehensionExpression":
        return this.comprehension("list", children(n).slice(1, -1), at);
      case "DictionaryComprehensionExpression":
        return this.comprehension("dict", children(n).slice(1, -1), at);
      case "CallExpression": {
        const [fn, args] = children(n);
        return { t: "call", fn: this.expr(fn!), args: this.args(args!), at };
      }
      case "MemberExpression":
        return this.member(n, at);
      case "BinaryExpression":
        return this.binary(n);
      case "UnaryExpression": {
        const [op, operand] = children(n);
        const sym = this.text(op!);
        if (sym !== "-" && sym !== "+" && sym !== "not") {
          this.fail(op!.from, `the operator \`${sym}\` is not supported`);
          return PLACEHOLDER(at);
        }
        return { t: "unary", op: sym, operand: this.expr(operand!), at };
      }
      case "ConditionalExpression": {
        const [body, , test, , orelse] = children(n);
        return { t: "cond", body: this.expr(body!), test: this.expr(test!), orelse: this.expr(orelse!), at };
      }
      case "LambdaExpression": {
        const kids = children(n);
        const paramList = kids.find((k) => k.name === "ParamList");
        const params = paramList ? this.params(children(paramList)) : [];
        return { t: "lambda", params, body: this.expr(kids[kids.length - 1]!), at };
      }
      default:
        this.fail(at, `unsupported expression: \`${this.text(n).split("\n")[0]}\``);
        return PLACEHOLDER(at);
    }
  }

  private dictEntries(nodes: SyntaxNode[], at: number): DictEntry[] {
    return splitCommas(nodes).groups.map((g): DictEntry => {
      if (g[0]?.name === "**") return { spread: this.single(g.slice(1), at) };
      const colon = g.findIndex((k) => k.name === ":");
      return { key: this.single(g.slice(0, colon), at), value: this.single(g.slice(colon + 1), at) };
    });
  }

  private comprehension(kind: "list" | "dict", nodes: SyntaxNode[], at: number): Expr {
    const firstFor = nodes.findIndex((k) => k.name === "for" || k.name === "async");
    const head = nodes.slice(0, firstFor);
    let elt: Expr;
    let value: Expr | undefined;
    if (kind === "dict") {
      const colon = head.findIndex((k) => k.name === ":");
      if (colon === -1) {
        this.fail(at, "`**` in a dict comprehension is not supported");
        return PLACEHOLDER(at);
      }
      elt = this.single(head.slice(0, colon), at);
      value = this.single(head.slice(colon + 1), at);
    } else {
      if (head[0]?.name === "*") this.fail(at, "`*` unpacking is not supported here");
      elt = this.single(head, at);
    }
    const clauses = this.clauses(nodes.slice(firstFor));
    return { t: "comp", kind, elt, ...(value ? { value } : {}), clauses, at };
  }

  private clauses(nodes: SyntaxNode[]): CompClause[] {
    const out: CompClause[] = [];
    let i = 0;
    while (i < nodes.length) {
      const k = nodes[i]!;
      if (k.name === "async") {
        this.fail(k.from, "`async` comprehensions are not allowed");
        return out;
      }
      if (k.name === "for") {
        const inAt = nodes.findIndex((x, j) => j > i && x.name === "in");
        out.push({
          t: "for",
          target: this.targetList(nodes.slice(i + 1, inAt), k.from),
          iter: this.expr(nodes[inAt + 1]!),
        });
        i = inAt + 2;
      } else if (k.name === "if") {
        out.push({ t: "if", test: this.expr(nodes[i + 1]!) });
        i += 2;
      } else {
        this.fail(k.from, "unexpected part of a comprehension");
        return out;
      }
    }
    return out;
  }

  protected args(n: SyntaxNode): Arg[] {
    const out: Arg[] = [];
    const inner = children(n).slice(1, -1);
    for (const g of splitCommas(inner).groups) {
      const first = g[0]!;
      if (g.length >= 3 && first.name === "VariableName" && g[1]!.name === "AssignOp") {
        if (this.text(g[1]!) !== "=") this.fail(g[1]!.from, FORBIDDEN.NamedExpression!);
        out.push({
          kind: "keyword",
          name: this.identifier(first),
          value: this.single(g.slice(2), n.from),
          at: first.from,
        });
      } else if (first.name === "*" || first.name === "**") {
        out.push({ kind: first.name === "*" ? "star" : "starstar", value: this.single(g.slice(1), n.from) });
      } else if (g.some((k) => k.name === "for")) {
        out.push({ kind: "positional", value: this.comprehension("list", g, first.from) });
      } else {
        out.push({ kind: "positional", value: this.single(g, n.from) });
      }
    }
    const seen = new Set<string>();
    for (const a of out) {
      if (a.kind !== "keyword") continue;
      if (seen.has(a.name)) this.fail(a.at, `keyword argument \`${a.name}\` repeated`);
      seen.add(a.name);
    }
    return out;
  }

  private member(n: SyntaxNode, at: number): Expr {
    const kids = children(n);
    const obj = this.expr(kids[0]!);
    if (kids[1]?.name === ".") {
      const prop = kids[2]!;
      return { t: "attr", obj, name: this.identifier(prop), at: prop.from };
    }
    const inner = kids.slice(2, -1);
    const { groups, comma } = splitCommas(inner);
    if (groups.length === 1 && !comma && groups[0]!.some((k) => k.name === ":")) {
      const parts: SyntaxNode[][] = [[]];
      for (const k of groups[0]!) {
        if (k.name === ":") parts.push([]);
        else parts[parts.length - 1]!.push(k);
      }
      const [lo, hi, step] = parts.map((p) => (p.length ? this.single(p, at) : undefined));
      return {
        t: "slice",
        obj,
        ...(lo ? { lo } : {}),
        ...(hi ? { hi } : {}),
        ...(step ? { step } : {}),
        at: kids[1]!.from,
      };
    }
    if (groups.some((g) => g.some((k) => k.name === ":")))
      this.fail(at, "multi-dimensional slices are not supported");
    return { t: "index", obj, index: this.expressions(inner, at), at: kids[1]!.from };
  }

  private binary(n: SyntaxNode): Expr {
    const kids = children(n);
    const left = kids[0]!;
    const right = kids[kids.length - 1]!;
    const ops = kids.slice(1, -1);
    const opText = ops.map((o) => this.text(o)).join(" ");
    const opAt = ops[0]?.from ?? n.from;
    if (ops[0]?.name === "BitOp") {
      this.fail(opAt, `the bitwise operator \`${opText}\` is not supported`);
      return PLACEHOLDER(n.from);
    }
    if (opText === "and" || opText === "or") {
      return { t: "logic", op: opText, left: this.expr(left), right: this.expr(right), at: opAt };
    }
    const compare = (["==", "!=", "<", "<=", ">", ">=", "in", "not in", "is", "is not"] as const).find(
      (o) => o === opText,
    );
    if (compare) {
      // Python chains comparisons: `a < b <= c` means `a < b and b <= c`; lezer nests them leftwards.
      const l = this.expr(left);
      const step = { op: compare as CompareOp, right: this.expr(right), at: opAt };
      if (l.t === "compare" && left.name === "BinaryExpression") return { ...l, rest: [...l.rest, step] };
      return { t: "compare", first: l, rest: [step], at: opAt };
    }
    const arith = (["+", "-", "*", "/", "//", "%", "**"] as const).find((o) => o === opText);
    if (!arith) {
      this.fail(opAt, `the operator \`${opText}\` is not supported`);
      return PLACEHOLDER(n.from);
    }
    return { t: "binary", op: arith as BinaryOp, left: this.expr(left), right: this.expr(right), at: opAt };
  }

  // ------------------------------------------------------------------------------------------------
  // Parameters (of `def` and `lambda`)

  /** Names with optional defaults; annotations are checked, then ignored; `*` and `**` parameters are errors. */
  protected params(nodes: SyntaxNode[]): Param[] {
    const out: Param[] = [];
    const inner = nodes.filter((k) => k.name !== "(" && k.name !== ")");
    for (const group of splitCommas(inner).groups) {
      const first = group[0]!;
      if (first.name !== "VariableName") {
        this.fail(first.from, `\`${this.text(first)}\` parameters are not supported`);
        continue;
      }
      const name = this.identifier(first);
      if (out.some((p) => p.name === name)) this.fail(first.from, `duplicate parameter \`${name}\``);
      const eq = group.findIndex((k) => k.name === "AssignOp");
      const typeDef = group.find((k) => k.name === "TypeDef");
      if (typeDef?.lastChild) this.expr(typeDef.lastChild);
      const param: Param = { name, at: first.from };
      if (eq !== -1) param.default = this.single(group.slice(eq + 1), first.from);
      else if (out.some((p) => p.default))
        this.fail(first.from, "a parameter without a default follows one with");
      out.push(param);
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------------
  // Assignment targets

  protected targetList(nodes: SyntaxNode[], at: number): Target {
    const { groups, comma } = splitCommas(nodes);
    if (!comma && groups.length === 1) return this.target(groups[0]!, at);
    return { t: "tuple", items: groups.map((g) => this.target(g, at)), at: nodes[0]?.from ?? at };
  }

  private target(group: SyntaxNode[], at: number): Target {
    const n = group[0];
    if (!n || group.length !== 1) {
      this.fail(
        n?.from ?? at,
        n?.name === "*" ? "starred assignment is not supported" : "invalid assignment target",
      );
      return { t: "name", id: "?", at };
    }
    switch (n.name) {
      case "VariableName":
        return { t: "name", id: this.identifier(n), at: n.from };
      case "ParenthesizedExpression":
        return this.target(
          children(n).filter((k) => k.name !== "(" && k.name !== ")"),
          n.from,
        );
      case "TupleExpression":
      case "ArrayExpression": {
        const inner = children(n).slice(1, -1);
        return {
          t: "tuple",
          items: splitCommas(inner).groups.map((g) => this.target(g, n.from)),
          at: n.from,
        };
      }
      case "MemberExpression": {
        const e = this.expr(n);
        if (e.t === "index") return { t: "index", obj: e.obj, index: e.index, at: e.at };
        this.fail(n.from, e.t === "attr" ? "attributes cannot be assigned" : "slices cannot be assigned");
        return { t: "name", id: "?", at: n.from };
      }
      default:
        this.fail(n.from, `cannot assign to \`${this.text(n)}\``);
        return { t: "name", id: "?", at: n.from };
    }
  }
}
