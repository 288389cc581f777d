/**
 * Errors a workflow author sees: each names a file, a 1-based line and column, and what is wrong. Parsing
 * and evaluation find them at source offsets; {@link LineIndex} turns offsets into lines and columns.
 * {@link suggest} is the "did you mean" hint they share.
 */

/** An error found while parsing, at a source offset (syntax.ts, nesting.ts). */
export type SourceError = { at: number; message: string };

/** An error as the author sees it, positioned in a file. */
export type WorkflowError = { path: string; line: number; col: number; message: string };

/** `path:line:col: message`, the form editors and terminals link to. */
export function formatError(e: WorkflowError): string {
  return `${e.path}:${e.line}:${e.col}: ${e.message}`;
}

/**
 * Raised while evaluating a workflow; `at` is a source offset in the file being evaluated. Errors found
 * in another file (a prompt) carry their own positions in `where`.
 */
export class ScriptError extends Error {
  constructor(
    message: string,
    readonly at: number,
    readonly where?: WorkflowError[],
  ) {
    super(message);
    this.name = "ScriptError";
  }
}

/** Maps source offsets to 1-based lines and columns. */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }

  position(offset: number): { line: number; col: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - this.starts[lo]! + 1 };
  }

  error(path: string, offset: number, message: string): WorkflowError {
    return { path, ...this.position(offset), message };
  }
}

/** Turns anything thrown during evaluation into positioned errors (bugs included: never a crash). */
export function toWorkflowErrors(
  err: unknown,
  path: string,
  lines: LineIndex,
  fallbackAt: number,
): WorkflowError[] {
  if (err instanceof ScriptError) return err.where ?? [lines.error(path, err.at, err.message)];
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return [lines.error(path, fallbackAt, "the workflow nests too deeply")];
  }
  const message = err instanceof Error ? err.message : String(err);
  return [lines.error(path, fallbackAt, `internal error: ${message}`)];
}

/** "did you mean" for a misspelt name. */
export function suggest(name: string, options: Iterable<string>): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const o of options) {
    const d = editDistance(name, o);
    if (d < bestDistance) {
      best = o;
      bestDistance = d;
    }
  }
  return best ? ` (did you mean \`${best}\`?)` : "";
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 99;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
