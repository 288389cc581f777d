/**
 * Lowering of statements, the top layer of the lowerer: blocks, assignments, imports (only `plue` and
 * `plue.prompts`, at the top of the file), if/for, `def` with decorators (top level only), and where
 * `return`, `break` and `continue` may appear. Forbidden statements are errors saying what to do instead.
 */
import type { SyntaxNode } from "@lezer/common";
import type { Expr, Stmt } from "./ast";
import { ExpressionLowerer } from "./lower-expressions";
import { children, FORBIDDEN, PLACEHOLDER, splitCommas } from "./lowering";

/** Where a statement is: what `return`, `break`, imports and decorators are checked against. */
type Scope = { inFunction: boolean; inLoop: boolean; topLevel: boolean };

export class Lowerer extends ExpressionLowerer {
  block(nodes: SyntaxNode[], scope: Scope): Stmt[] {
    const out: Stmt[] = [];
    for (const n of nodes) {
      if (n.name === ":") continue;
      out.push(...this.statement(n, scope));
    }
    return out;
  }

  private body(n: SyntaxNode | undefined, scope: Scope): Stmt[] {
    if (n?.name !== "Body") {
      this.fail(n?.from ?? 0, "expected an indented block");
      return [];
    }
    return this.nested(n.from, [], () => this.block(children(n), { ...scope, topLevel: false }));
  }

  private statement(n: SyntaxNode, scope: Scope): Stmt[] {
    const at = n.from;
    const forbidden = FORBIDDEN[n.name];
    if (forbidden) {
      this.fail(at, forbidden);
      return [];
    }
    const kids = children(n);
    switch (n.name) {
      case "StatementGroup":
        return kids.filter((k) => k.name !== ";").flatMap((k) => this.statement(k, scope));
      case "ExpressionStatement":
        return [{ t: "expr", expr: this.expressions(kids, at), at }];
      case "AssignStatement":
        return this.assign(kids, at);
      case "UpdateStatement":
        return [this.update(kids, at)];
      case "ReturnStatement":
        if (!scope.inFunction) this.fail(at, "`return` outside a function");
        return [
          { t: "return", ...(kids.length > 1 ? { value: this.expressions(kids.slice(1), at) } : {}), at },
        ];
      case "PassStatement":
        return [{ t: "pass", at }];
      case "BreakStatement":
      case "ContinueStatement": {
        const word = n.name === "BreakStatement" ? "break" : "continue";
        if (!scope.inLoop) this.fail(at, `\`${word}\` outside a loop`);
        return [{ t: word, at }];
      }
      case "AssertStatement": {
        const { groups } = splitCommas(kids.slice(1));
        const [test, message] = groups.map((g) => this.single(g, at));
        return [{ t: "assert", test: test ?? PLACEHOLDER(at), ...(message ? { message } : {}), at }];
      }
      case "ImportStatement":
        return [this.importStatement(kids, at, scope)];
      case "IfStatement":
        return [this.ifStatement(kids, at, scope)];
      case "ForStatement":
        return [this.forStatement(kids, at, scope)];
      case "FunctionDefinition":
        return [this.def(n, [])];
      case "DecoratedStatement":
        return [this.decorated(kids, at, scope)];
      default:
        this.fail(at, `unsupported statement: \`${this.text(n).split("\n")[0]}\``);
        return [];
    }
  }

  private assign(kids: SyntaxNode[], at: number): Stmt[] {
    const parts: SyntaxNode[][] = [[]];
    for (const k of kids) {
      if (k.name === "AssignOp") parts.push([]);
      else if (k.name !== "TypeDef") parts[parts.length - 1]!.push(k);
      else if (parts.length === 1) this.expr(k.lastChild ?? k); // annotations are checked, then ignored
    }
    if (parts.length === 1) return []; // `x: int` declares nothing at run time
    const value = this.expressions(parts.pop()!, at);
    const targets = parts.map((p) => this.targetList(p, at));
    return [{ t: "assign", targets, value, at }];
  }

  private update(kids: SyntaxNode[], at: number): Stmt {
    const opIndex = kids.findIndex((k) => k.name === "UpdateOp");
    const opText = this.text(kids[opIndex]!).slice(0, -1);
    const op = (["+", "-", "*", "/", "//", "%", "**"] as const).find((o) => o === opText);
    if (!op) this.fail(kids[opIndex]!.from, `the operator \`${opText}=\` is not supported`);
    const target = this.targetList(kids.slice(0, opIndex), at);
    return {
      t: "augassign",
      target,
      op: op ?? "+",
      value: this.expressions(kids.slice(opIndex + 1), at),
      at,
    };
  }

  private importStatement(kids: SyntaxNode[], at: number, scope: Scope): Stmt {
    if (!scope.topLevel) this.fail(at, "imports belong at the top of the file");
    const first = kids[0]?.name;
    const dotted = (nodes: SyntaxNode[]) => nodes.map((n) => this.text(n)).join("");
    if (first === "import") {
      // `import plue` (optionally `as p`)
      const rest = kids.slice(1);
      const asIndex = rest.findIndex((k) => k.name === "as");
      const moduleNodes = asIndex === -1 ? rest : rest.slice(0, asIndex);
      const module = dotted(moduleNodes);
      if (moduleNodes.some((k) => k.name === ",")) this.fail(at, "import one module per statement");
      else if (module !== "plue")
        this.fail(at, `only \`plue\` and \`plue.prompts\` can be imported, not \`${module}\``);
      const alias = asIndex === -1 ? undefined : this.identifier(rest[asIndex + 1]!);
      return { t: "import", module, names: null, ...(alias ? { as: alias } : {}), at };
    }
    const importAt = kids.findIndex((k) => k.name === "import");
    const module = dotted(kids.slice(1, importAt));
    if (module !== "plue" && module !== "plue.prompts") {
      this.fail(kids[1]?.from ?? at, `only \`plue\` and \`plue.prompts\` can be imported, not \`${module}\``);
    }
    const names: { name: string; as: string; at: number }[] = [];
    const rest = kids.slice(importAt + 1).filter((k) => k.name !== "(" && k.name !== ")");
    for (const group of splitCommas(rest).groups) {
      if (group[0]?.name === "*") {
        this.fail(group[0].from, "`import *` is not allowed: name what you import");
        continue;
      }
      if (group.length !== 1 && !(group.length === 3 && group[1]!.name === "as")) {
        this.fail(group[0]?.from ?? at, "import names one at a time, like `from plue import workflow, push`");
        continue;
      }
      const name = this.identifier(group[0]!);
      names.push({ name, as: group.length === 3 ? this.identifier(group[2]!) : name, at: group[0]!.from });
    }
    return { t: "import", module, names, at };
  }

  private ifStatement(kids: SyntaxNode[], at: number, scope: Scope): Stmt {
    const branches: { test: Expr; body: Stmt[] }[] = [];
    let orelse: Stmt[] | undefined;
    for (let i = 0; i < kids.length; i++) {
      const k = kids[i]!;
      if (k.name === "if" || k.name === "elif") {
        const test = kids[i + 1]!;
        branches.push({ test: this.expr(test), body: this.body(kids[i + 2], scope) });
        i += 2;
      } else if (k.name === "else") {
        orelse = this.body(kids[i + 1], scope);
        i += 1;
      }
    }
    return { t: "if", branches, ...(orelse ? { orelse } : {}), at };
  }

  private forStatement(kids: SyntaxNode[], at: number, scope: Scope): Stmt {
    if (kids[0]?.name === "async") this.fail(at, "`async for` is not allowed");
    const forAt = kids.findIndex((k) => k.name === "for");
    const inAt = kids.findIndex((k) => k.name === "in");
    const bodyAt = kids.findIndex((k) => k.name === "Body");
    const target = this.targetList(kids.slice(forAt + 1, inAt), at);
    const iter = this.expressions(kids.slice(inAt + 1, bodyAt), at);
    const loopScope = { ...scope, inLoop: true };
    const body = this.body(kids[bodyAt], loopScope);
    const elseAt = kids.findIndex((k) => k.name === "else");
    const orelse = elseAt === -1 ? undefined : this.body(kids[elseAt + 1], scope);
    return { t: "for", target, iter, body, ...(orelse ? { orelse } : {}), at };
  }

  private decorated(kids: SyntaxNode[], at: number, scope: Scope): Stmt {
    if (!scope.topLevel) this.fail(at, "decorators are only allowed on top-level functions");
    const decorators = kids.filter((k) => k.name === "Decorator").map((d) => this.decorator(d));
    const def = kids.find((k) => k.name !== "Decorator");
    if (def?.name !== "FunctionDefinition") {
      this.fail(def?.from ?? at, FORBIDDEN[def?.name ?? ""] ?? "decorators apply to functions only");
      return { t: "pass", at };
    }
    return this.def(def, decorators);
  }

  /** `@name`, `@a.b`, or either followed by arguments. */
  private decorator(n: SyntaxNode): Expr {
    let expr: Expr | undefined;
    let call: SyntaxNode | undefined;
    for (const k of children(n)) {
      if (k.name === "VariableName") {
        const id = this.identifier(k);
        expr = expr ? { t: "attr", obj: expr, name: id, at: k.from } : { t: "name", id, at: k.from };
      } else if (k.name === "ArgList") call = k;
    }
    if (!expr) return PLACEHOLDER(n.from);
    return call ? { t: "call", fn: expr, args: this.args(call), at: n.from + 1 } : expr;
  }

  private def(n: SyntaxNode, decorators: Expr[]): Stmt {
    const kids = children(n);
    if (kids[0]?.name === "async") this.fail(n.from, "`async def` is not allowed");
    const nameNode = kids.find((k) => k.name === "VariableName");
    const paramsNode = kids.find((k) => k.name === "ParamList");
    const typeParams = kids.find((k) => k.name === "TypeParamList");
    if (typeParams) this.fail(typeParams.from, FORBIDDEN.TypeParamList!);
    const name = nameNode ? this.identifier(nameNode) : "?";
    const params = paramsNode ? this.params(children(paramsNode)) : [];
    const body = this.body(
      kids.find((k) => k.name === "Body"),
      { inFunction: true, inLoop: false, topLevel: false },
    );
    return { t: "def", name, params, body, decorators, at: nameNode?.from ?? n.from };
  }
}
