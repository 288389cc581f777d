/**
 * Parsing: lezer's Python grammar builds a concrete tree; this module reports its syntax errors and
 * lowers it into the dialect's own tree (ast.ts). Lowering is deny-by-default: anything not handled here
 * is an error naming the construct, so a forbidden construct is rejected even on a branch that never runs.
 */
import type { SyntaxNode } from "@lezer/common";
import { parser } from "@lezer/python";
import type {
  Arg,
  BinaryOp,
  CompareOp,
  CompClause,
  DictEntry,
  Expr,
  FStrPart,
  Item,
  Module,
  Param,
  Stmt,
  Target,
} from "./ast";
import { nestingError } from "./nesting";

export type SourceError = { at: number; message: string };
export type SyntaxResult = { ok: true; module: Module } | { ok: false; errors: SourceError[] };

/** Statements that exist in Python but not in the dialect, with what to do instead. */
const FORBIDDEN: Record<string, string> = {
  WhileStatement: "`while` loops are not allowed: loop with `for` over a list or range()",
  ClassDefinition: "`class` definitions are not allowed",
  ScopeStatement: "`global` and `nonlocal` are not allowed",
  TryStatement: "`try` is not allowed: return ctx.failure(...) to fail the workflow",
  WithStatement: "`with` is not allowed",
  RaiseStatement: "`raise` is not allowed: return ctx.failure(...) to fail the workflow",
  DeleteStatement: "`del` is not allowed",
  YieldStatement: "`yield` (generators) is not allowed",
  YieldExpression: "`yield` (generators) is not allowed",
  AwaitExpression: "`await` is not allowed",
  MatchStatement: "`match` is not supported: use if/elif",
  NamedExpression: "assignment expressions (`:=`) are not allowed",
  SetExpression: "sets are not supported: use a list",
  SetComprehensionExpression: "sets are not supported: use a list",
  PrintStatement: "the Python 2 print statement is not supported",
  TypeDefinition: "`type` statements are not supported",
  Ellipsis: "`...` is not supported",
  TypeParamList: "type parameters are not supported",
};

/** Builtins that exist in Python and would break hermeticity; named so the error can say why. */
const FORBIDDEN_NAMES: Record<string, string> = {
  exec: "workflows cannot run dynamic code",
  eval: "workflows cannot run dynamic code",
  compile: "workflows cannot run dynamic code",
  open: "workflows cannot read or write files (steps can)",
  input: "workflows cannot read input",
  print: "workflows build a plan; print from a step instead (ctx.run)",
  globals: "workflows cannot inspect scopes",
  locals: "workflows cannot inspect scopes",
  vars: "workflows cannot inspect scopes",
  getattr: "dynamic attribute access is not allowed",
  setattr: "dynamic attribute access is not allowed",
  delattr: "dynamic attribute access is not allowed",
  hasattr: "dynamic attribute access is not allowed",
  dir: "workflows cannot inspect objects",
  type: "workflows cannot inspect types",
  object: "workflows cannot create objects",
  super: "workflows cannot create objects",
  breakpoint: "workflows cannot be debugged interactively",
  exit: "return ctx.failure(...) to stop a workflow",
  quit: "return ctx.failure(...) to stop a workflow",
  help: "workflows cannot use help()",
  memoryview: "workflows cannot use memoryview()",
  iter: "iterate with `for` instead",
  next: "iterate with `for` instead",
};

const MAX_SYNTAX_ERRORS = 10;

/** "the file is 300000 bytes; the limit is 256 KiB" */
export function sizeMessage(bytes: number, limit: number): string {
  const shown = limit % 1024 === 0 ? `${limit / 1024} KiB` : `${limit} bytes`;
  return `the file is ${bytes} bytes; the limit is ${shown}`;
}

export type SyntaxLimits = { maxSourceBytes: number; maxDepth: number };

export function parseSource(source: string, limits: SyntaxLimits): SyntaxResult {
  const bytes = Buffer.byteLength(source);
  if (bytes > limits.maxSourceBytes) {
    return { ok: false, errors: [{ at: 0, message: sizeMessage(bytes, limits.maxSourceBytes) }] };
  }
  // Before lezer: deep nesting is slow for it and comes back as a misleading syntax error.
  const deep = nestingError(source, limits.maxDepth);
  if (deep) return { ok: false, errors: [deep] };
  const tree = parser.parse(source);
  const syntax = syntaxErrors(source, tree.topNode);
  if (syntax.length) return { ok: false, errors: syntax };
  const lowerer = new Lowerer(source, limits.maxDepth);
  const body = lowerer.block(children(tree.topNode), { inFunction: false, inLoop: false, topLevel: true });
  if (lowerer.errors.length) return { ok: false, errors: lowerer.errors };
  return { ok: true, module: { body } };
}

/** Lezer recovers from errors by inserting `⚠` nodes; report one per line, naming what was unexpected. */
function syntaxErrors(source: string, top: SyntaxNode): SourceError[] {
  const errors: SourceError[] = [];
  const lines = new Set<number>();
  const cursor = top.cursor();
  do {
    if (!cursor.type.isError) continue;
    const line = lineOf(source, cursor.from);
    if (lines.has(line)) continue;
    lines.add(line);
    errors.push({
      at: cursor.from,
      message: `syntax error: unexpected ${describeAt(source, cursor.from, cursor.to)}`,
    });
  } while (errors.length < MAX_SYNTAX_ERRORS && cursor.next());
  return errors;
}

function lineOf(source: string, offset: number): number {
  let n = 0;
  for (let i = source.indexOf("\n"); i !== -1 && i < offset; i = source.indexOf("\n", i + 1)) n++;
  return n;
}

function describeAt(source: string, from: number, to: number): string {
  const covered = source
    .slice(from, Math.min(to, from + 40))
    .split("\n")[0]!
    .trim();
  if (covered) return `\`${covered}\``;
  const m = /^[ \t]*(?:(\r?\n)|([A-Za-z_0-9]+|\S))/.exec(source.slice(from));
  if (!m) return "end of file";
  if (m[1]) return "end of line";
  return `\`${m[2]}\``;
}

function children(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = node.firstChild; c; c = c.nextSibling) if (c.name !== "Comment") out.push(c);
  return out;
}

/** Splits a comma-separated run of nodes; `trailing` says whether any comma was seen (a tuple). */
function splitCommas(nodes: SyntaxNode[]): { groups: SyntaxNode[][]; comma: boolean } {
  const groups: SyntaxNode[][] = [[]];
  let comma = false;
  for (const n of nodes) {
    if (n.name === ",") {
      comma = true;
      groups.push([]);
    } else groups[groups.length - 1]!.push(n);
  }
  if (groups[groups.length - 1]!.length === 0) groups.pop();
  return { groups, comma };
}

type Scope = { inFunction: boolean; inLoop: boolean; topLevel: boolean };

const PLACEHOLDER = (at: number): Expr => ({ t: "const", value: null, at });

class Lowerer {
  readonly errors: SourceError[] = [];
  private depth = 0;

  constructor(
    private readonly src: string,
    private readonly maxDepth: number,
  ) {}

  private fail(at: number, message: string): void {
    if (!this.errors.some((e) => e.at === at && e.message === message)) this.errors.push({ at, message });
  }

  private text(n: SyntaxNode): string {
    return this.src.slice(n.from, n.to);
  }

  /** Guards recursion on source nesting: `[[[[…]]]]` a thousand deep is an error, not a stack overflow. */
  private nested<T>(at: number, fallback: T, fn: () => T): T {
    if (this.depth >= this.maxDepth) {
      this.fail(at, `nesting deeper than ${this.maxDepth} levels`);
      return fallback;
    }
    this.depth++;
    try {
      return fn();
    } finally {
      this.depth--;
    }
  }

  private identifier(n: SyntaxNode): string {
    const id = this.text(n);
    if (id.startsWith("_")) this.fail(n.from, `names starting with \`_\` are not allowed: \`${id}\``);
    return id;
  }

  // ------------------------------------------------------------------------------------------------
  // Statements

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

  private params(nodes: SyntaxNode[]): Param[] {
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

  private targetList(nodes: SyntaxNode[], at: number): Target {
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

  // ------------------------------------------------------------------------------------------------
  // Expressions

  /** `a, b` is a tuple; a single expression is itself. */
  private expressions(nodes: SyntaxNode[], at: number): Expr {
    const { groups, comma } = splitCommas(nodes);
    if (!comma && groups.length === 1) return this.single(groups[0]!, at);
    return { t: "tuple", items: groups.map((g) => this.item(g, at)), at: nodes[0]?.from ?? at };
  }

  private single(group: SyntaxNode[], at: number): Expr {
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

  expr(n: SyntaxNode): Expr {
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

  private number(n: SyntaxNode): { int: number } | { float: number } {
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

  private args(n: SyntaxNode): Arg[] {
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
  // Strings

  /** One literal or several adjacent ones (`"a" f"{b}"`), joined. */
  private strings(nodes: SyntaxNode[], at: number): Expr {
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
