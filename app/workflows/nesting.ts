/**
 * A linear pre-scan of a workflow file for nesting, run before lezer sees it. Lezer's parser gives up
 * around 2 800 open brackets with a misleading "unexpected `[`", takes seconds on a 256 KiB file of
 * them, and overflows the stack building the tree; long runs of prefix operators (`not not …`,
 * `- - …`) cost it hundreds of milliseconds. This scan finds both in one pass, so the error names the
 * limit at the position where it was crossed.
 *
 * It is a small tokenizer: comments and string literals are skipped (the brackets inside them do not
 * count), except that the `{…}` of an f-string counts as a level, as it opens an expression.
 */
import type { SourceError } from "./errors";

const OPEN = new Set(["(", "[", "{"]);
const CLOSE = new Set([")", "]", "}"]);
/** Prefix operators that nest the expression after them. */
const PREFIX_WORDS = new Set(["not", "lambda", "await"]);
const STRING_PREFIX = /^[rRbBuUfF]{0,2}$/;

/** The first place the source nests deeper than `maxDepth`, or undefined. */
export function nestingError(source: string, maxDepth: number): SourceError | undefined {
  let depth = 0;
  // Consecutive prefix operators (`-`, `+`, `~`, `not`, `lambda`): each one nests what follows.
  let run = 0;
  const tooDeep = (at: number): SourceError => ({
    at,
    message: `nesting deeper than ${maxDepth} levels (brackets, f-string braces and prefix operators count)`,
  });
  let i = 0;
  const n = source.length;
  while (i < n) {
    const c = source[i]!;
    if (c === "#") {
      const end = source.indexOf("\n", i);
      i = end === -1 ? n : end;
      continue;
    }
    if (c === '"' || c === "'") {
      const r = skipString(source, i, "", depth, maxDepth);
      if (typeof r !== "number") return tooDeep(r.at);
      i = r;
      run = 0;
      continue;
    }
    if (isWordChar(c)) {
      let j = i + 1;
      while (j < n && isWordChar(source[j]!)) j++;
      const word = source.slice(i, j);
      if ((source[j] === '"' || source[j] === "'") && STRING_PREFIX.test(word)) {
        const r = skipString(source, j, word, depth, maxDepth);
        if (typeof r !== "number") return tooDeep(r.at);
        i = r;
        run = 0;
        continue;
      }
      if (PREFIX_WORDS.has(word)) {
        if (++run > maxDepth) return tooDeep(i);
      } else run = 0;
      i = j;
      continue;
    }
    if (OPEN.has(c)) {
      if (++depth + run > maxDepth) return tooDeep(i);
      run = 0;
    } else if (CLOSE.has(c)) {
      depth = Math.max(0, depth - 1);
      run = 0;
    } else if (c === "-" || c === "+" || c === "~") {
      if (++run > maxDepth) return tooDeep(i);
    } else if (c !== " " && c !== "\t" && c !== "\\" && c !== "\r" && c !== "\n" && c !== ":") {
      run = 0;
    }
    i++;
  }
  return undefined;
}

function isWordChar(c: string): boolean {
  return /[A-Za-z0-9_]/.test(c) || c > "\x7f";
}

/**
 * Skips the string literal whose quote is at `i`; returns the offset after it, or the position of an
 * f-string brace that nests too deep. An unterminated string ends at the end of its line (or of the
 * file for triple quotes), as lezer reports it.
 */
function skipString(
  source: string,
  i: number,
  prefix: string,
  depth: number,
  maxDepth: number,
): number | { at: number } {
  const quote = source[i]!;
  const triple = source.startsWith(quote.repeat(3), i);
  const close = triple ? quote.repeat(3) : quote;
  const raw = /[rR]/.test(prefix);
  const format = /[fF]/.test(prefix);
  let braces = 0;
  let j = i + close.length;
  while (j < source.length) {
    const c = source[j]!;
    if (c === "\\" && !raw) {
      j += 2;
      continue;
    }
    if (c === "\n" && !triple) return j;
    if (braces === 0 && source.startsWith(close, j)) return j + close.length;
    if (format) {
      if ((c === "{" || c === "}") && source[j + 1] === c && braces === 0) {
        j += 2; // `{{` and `}}` are literal braces
        continue;
      }
      // Outside a replacement field only `{` opens one; inside, brackets nest too.
      if (c === "{" || (braces > 0 && (c === "[" || c === "("))) {
        if (depth + ++braces > maxDepth) return { at: j };
      } else if ((c === "}" || c === "]" || c === ")") && braces > 0) braces--;
    }
    j++;
  }
  return source.length;
}
