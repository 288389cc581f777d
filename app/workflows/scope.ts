/**
 * Scopes and the functions a program defines: name lookup through nested scopes (the module's parent
 * holds the builtins), and `def`/`lambda` values, which close over the scope they were made in, with
 * the binding of call arguments to their parameters. The evaluator runs their bodies (interpreter.ts).
 */
import type { Expr, Param, Stmt } from "./ast";
import { builtinFunctions } from "./builtins";
import { ScriptError, suggest } from "./errors";
import { PyObject, type Value } from "./values";

export class Scope {
  readonly vars = new Map<string, Value>();
  constructor(readonly parent?: Scope) {}

  /** The value bound to `name`, or undefined if nothing is (values are never undefined). */
  lookup(name: string): Value | undefined {
    for (let s: Scope | undefined = this; s; s = s.parent) {
      const v = s.vars.get(name);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  names(): Set<string> {
    const out = new Set<string>();
    for (let s: Scope | undefined = this; s; s = s.parent) for (const k of s.vars.keys()) out.add(k);
    return out;
  }
}

const BUILTINS = new Scope();
for (const [name, fn] of Object.entries(builtinFunctions)) BUILTINS.vars.set(name, fn);

/** A new module scope whose parent holds the builtins. */
export function moduleScope(): Scope {
  return new Scope(BUILTINS);
}

/**
 * A `def` or `lambda`. The evaluator calls it itself (it needs the call stack: recursion is detected
 * per definition, so a closure cannot sneak around it); host functions are PyCallables instead.
 */
export class PyFunction extends PyObject {
  readonly typeName = "function";
  constructor(
    readonly name: string,
    readonly params: Param[],
    readonly defaults: Map<string, Value>,
    readonly body: Stmt[] | Expr,
    readonly closure: Scope,
    readonly at: number,
  ) {
    super();
  }

  override repr(): string {
    return `<function ${this.name}>`;
  }
}

/** Binds a call's arguments to `fn`'s parameters in `scope` (positional, then keywords, then defaults). */
export function bindParams(
  fn: PyFunction,
  args: Value[],
  kwargs: Map<string, Value>,
  scope: Scope,
  at: number,
): void {
  if (args.length > fn.params.length) {
    throw new ScriptError(
      `\`${fn.name}\` takes ${fn.params.length} arguments but ${args.length} were given`,
      at,
    );
  }
  fn.params.forEach((p, i) => {
    if (i < args.length) {
      if (kwargs.has(p.name)) throw new ScriptError(`\`${fn.name}\` got two values for \`${p.name}\``, at);
      scope.vars.set(p.name, args[i]!);
    } else if (kwargs.has(p.name)) scope.vars.set(p.name, kwargs.get(p.name)!);
    else if (fn.defaults.has(p.name)) scope.vars.set(p.name, fn.defaults.get(p.name)!);
    else throw new ScriptError(`\`${fn.name}\` is missing the argument \`${p.name}\``, at);
  });
  for (const k of kwargs.keys()) {
    if (!fn.params.some((p) => p.name === k)) {
      throw new ScriptError(
        `\`${fn.name}\` has no parameter \`${k}\`${suggest(
          k,
          fn.params.map((p) => p.name),
        )}`,
        at,
      );
    }
  }
}
