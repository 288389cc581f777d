/**
 * Parsing: lezer's Python grammar builds a concrete tree; this module reports its syntax errors and has
 * the lowerer (lowering.ts and its layers, lower-*.ts) turn it into the dialect's own tree (ast.ts).
 * Lowering is deny-by-default: anything it does not handle is an error naming the construct, so a
 * forbidden construct is rejected even on a branch that never runs.
 */
import type { SyntaxNode } from "@lezer/common";
import { parser } from "@lezer/python";
import type { Module } from "./ast";
import type { SourceError } from "./errors";
import { Lowerer } from "./lower-statements";
import { children } from "./lowering";
import { nestingError } from "./nesting";

export type SyntaxResult = { ok: true; module: Module } | { ok: false; errors: SourceError[] };

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
