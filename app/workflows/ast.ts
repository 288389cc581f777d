/**
 * The restricted dialect's syntax tree. `syntax.ts` lowers lezer's concrete tree into it, rejecting every
 * construct it does not name here, so the interpreter only ever sees allowed code. `at` is the source
 * offset errors point to; {@link exprText} gives errors the source-like text of an expression.
 */

export type Expr =
  | { t: "const"; value: ConstValue; at: number }
  | { t: "fstr"; parts: FStrPart[]; at: number }
  | { t: "name"; id: string; at: number }
  | { t: "attr"; obj: Expr; name: string; at: number }
  | { t: "index"; obj: Expr; index: Expr; at: number }
  | { t: "slice"; obj: Expr; lo?: Expr; hi?: Expr; step?: Expr; at: number }
  | { t: "call"; fn: Expr; args: Arg[]; at: number }
  | { t: "list" | "tuple"; items: Item[]; at: number }
  | { t: "dict"; entries: DictEntry[]; at: number }
  | { t: "comp"; kind: "list" | "dict"; elt: Expr; value?: Expr; clauses: CompClause[]; at: number }
  | { t: "unary"; op: "-" | "+" | "not"; operand: Expr; at: number }
  | { t: "binary"; op: BinaryOp; left: Expr; right: Expr; at: number }
  | { t: "logic"; op: "and" | "or"; left: Expr; right: Expr; at: number }
  | { t: "compare"; first: Expr; rest: { op: CompareOp; right: Expr; at: number }[]; at: number }
  | { t: "cond"; test: Expr; body: Expr; orelse: Expr; at: number }
  | { t: "lambda"; params: Param[]; body: Expr; at: number };

/** Literal values; ints and floats are kept apart (Python's `7 / 2` vs `7 // 2`, `str(1.0)`). */
export type ConstValue = null | boolean | string | { int: number } | { float: number };

export type FStrPart = string | { expr: Expr; conversion?: "s" | "r" | "a"; spec?: FStrPart[]; at: number };

export type BinaryOp = "+" | "-" | "*" | "/" | "//" | "%" | "**";
export type CompareOp = "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in" | "is" | "is not";

export type Arg =
  | { kind: "positional"; value: Expr }
  | { kind: "keyword"; name: string; value: Expr; at: number }
  | { kind: "star" | "starstar"; value: Expr };

export type Item = { spread: boolean; value: Expr };
export type DictEntry = { key: Expr; value: Expr } | { spread: Expr };
export type CompClause = { t: "for"; target: Target; iter: Expr } | { t: "if"; test: Expr };

export type Target =
  | { t: "name"; id: string; at: number }
  | { t: "tuple"; items: Target[]; at: number }
  | { t: "index"; obj: Expr; index: Expr; at: number };

export type Param = { name: string; default?: Expr; at: number };

export type Stmt =
  | { t: "expr"; expr: Expr; at: number }
  | { t: "assign"; targets: Target[]; value: Expr; at: number }
  | { t: "augassign"; target: Target; op: BinaryOp; value: Expr; at: number }
  | { t: "return"; value?: Expr; at: number }
  | { t: "if"; branches: { test: Expr; body: Stmt[] }[]; orelse?: Stmt[]; at: number }
  | { t: "for"; target: Target; iter: Expr; body: Stmt[]; orelse?: Stmt[]; at: number }
  | { t: "pass" | "break" | "continue"; at: number }
  | { t: "assert"; test: Expr; message?: Expr; at: number }
  | { t: "def"; name: string; params: Param[]; body: Stmt[]; decorators: Expr[]; at: number }
  | {
      t: "import";
      module: string;
      names: { name: string; as: string; at: number }[] | null;
      as?: string;
      at: number;
    };

/** A whole file: its statements, in order. */
export type Module = { body: Stmt[] };

/** Source-like text of a name/attribute chain (`ctx.event.pull_request`), for error messages. */
export function exprText(e: Expr): string | undefined {
  switch (e.t) {
    case "name":
      return e.id;
    case "attr": {
      const inner = exprText(e.obj);
      return inner === undefined ? undefined : `${inner}.${e.name}`;
    }
    case "call": {
      const inner = exprText(e.fn);
      return inner === undefined ? undefined : `${inner}(…)`;
    }
    case "index": {
      const inner = exprText(e.obj);
      const key =
        e.index.t === "const" && typeof e.index.value === "string" ? JSON.stringify(e.index.value) : "…";
      return inner === undefined ? undefined : `${inner}[${key}]`;
    }
    default:
      return undefined;
  }
}
