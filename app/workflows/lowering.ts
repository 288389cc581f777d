/**
 * What lowering (lezer's concrete tree → the dialect's tree, ast.ts) shares across its layers: the
 * constructs and names the dialect forbids, with what to do instead, the tree helpers, and the base of
 * the lowerer, which collects errors and guards recursion on source nesting. The layers build on it:
 * literals (lower-literals.ts), expressions (lower-expressions.ts), statements (lower-statements.ts).
 */
import type { SyntaxNode } from "@lezer/common";
import type { Expr } from "./ast";
import type { SourceError } from "./errors";

/** Statements that exist in Python but not in the dialect, with what to do instead. */
export const FORBIDDEN: Record<string, string> = {
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
export const FORBIDDEN_NAMES: Record<string, string> = {
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

export function children(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = node.firstChild; c; c = c.nextSibling) if (c.name !== "Comment") out.push(c);
  return out;
}

/** Splits a comma-separated run of nodes; `comma` says whether any comma was seen (a tuple). */
export function splitCommas(nodes: SyntaxNode[]): { groups: SyntaxNode[][]; comma: boolean } {
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

/** Stands in for what could not be lowered; the errors say why, so it is never evaluated. */
export const PLACEHOLDER = (at: number): Expr => ({ t: "const", value: null, at });

export abstract class LowererBase {
  readonly errors: SourceError[] = [];
  private depth = 0;

  constructor(
    protected readonly src: string,
    private readonly maxDepth: number,
  ) {}

  protected fail(at: number, message: string): void {
    if (!this.errors.some((e) => e.at === at && e.message === message)) this.errors.push({ at, message });
  }

  protected text(n: SyntaxNode): string {
    return this.src.slice(n.from, n.to);
  }

  /** Guards recursion on source nesting: `[[[[…]]]]` a thousand deep is an error, not a stack overflow. */
  protected nested<T>(at: number, fallback: T, fn: () => T): T {
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

  protected identifier(n: SyntaxNode): string {
    const id = this.text(n);
    if (id.startsWith("_")) this.fail(n.from, `names starting with \`_\` are not allowed: \`${id}\``);
    return id;
  }
}
