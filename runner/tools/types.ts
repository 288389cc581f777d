/** The shape every tool has: a zod input schema (which also yields the model's JSON schema) and a run. */
import type { z } from "zod";
import type { Sandbox } from "../sandbox/types";

export interface ToolContext {
  /** The workspace on the host, as a real path (symlinks resolved). */
  readonly root: string;
  readonly sandbox: Sandbox;
  readonly signal: AbortSignal;
}

export interface ToolResult {
  readonly output: string;
  readonly isError: boolean;
}

export interface Tool<S extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly description: string;
  readonly input: S;
  run(input: z.output<S>, ctx: ToolContext): Promise<ToolResult>;
}

/** Largest tool output the model receives; longer output is cut and says so. */
export const MAX_TOOL_OUTPUT_CHARS = 30_000;

export function capText(text: string, max = MAX_TOOL_OUTPUT_CHARS): { text: string; truncated: boolean } {
  if (text.length <= max) return { text, truncated: false };
  return {
    text: `${text.slice(0, max)}\n[truncated: showing the first ${max} of ${text.length} characters]`,
    truncated: true,
  };
}

export const ok = (output: string): ToolResult => ({ output, isError: false });
export const fail = (output: string): ToolResult => ({ output, isError: true });
