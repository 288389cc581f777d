/**
 * The agent's tools: their definitions for the model, and `runTool`, which never throws —
 * bad arguments, refused paths and failures all become an error result the model can read.
 */
import { z } from "zod";
import { SANDBOX_WORKDIR } from "../sandbox/types";
import { bash, grep } from "./commands";
import { editFile, listFiles, readFile, writeFile } from "./files";
import { ToolInputError } from "./paths";
import { capText, type Tool, type ToolContext, type ToolResult } from "./types";

export type { ToolContext, ToolResult } from "./types";
export { MAX_TOOL_OUTPUT_CHARS } from "./types";

export const TOOLS: readonly Tool[] = [readFile, writeFile, editFile, listFiles, grep, bash] as Tool[];
const byName = new Map(TOOLS.map((t) => [t.name, t]));

export interface ToolDefinition {
  name: string;
  description: string;
  input_schema: { type: "object"; [key: string]: unknown };
}

/** Tool definitions in the Messages API format, generated from the zod schemas. */
export function toolDefinitions(tools: readonly Tool[] = TOOLS): ToolDefinition[] {
  if (tools !== TOOLS) return describe(tools);
  defaultDefinitions ??= describe(TOOLS);
  return defaultDefinitions;
}
let defaultDefinitions: ToolDefinition[] | undefined;

function describe(tools: readonly Tool[]): ToolDefinition[] {
  return tools.map((t) => {
    const { $schema: _ignored, ...schema } = z.toJSONSchema(t.input) as Record<string, unknown>;
    return { name: t.name, description: t.description, input_schema: { ...schema, type: "object" } };
  });
}

export async function runTool(
  name: string,
  input: unknown,
  ctx: ToolContext,
): Promise<ToolResult & { truncated: boolean }> {
  const result = await dispatch(name, input, ctx);
  const capped = capText(result.output);
  return { output: capped.text, isError: result.isError, truncated: capped.truncated };
}

async function dispatch(name: string, input: unknown, ctx: ToolContext): Promise<ToolResult> {
  const tool = byName.get(name);
  if (!tool)
    return {
      output: `unknown tool ${JSON.stringify(name)}; available: ${[...byName.keys()].join(", ")}`,
      isError: true,
    };
  const parsed = tool.input.safeParse(input);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "input"}: ${i.message}`).join("; ");
    return { output: `invalid arguments for ${name}: ${detail}`, isError: true };
  }
  try {
    return await tool.run(parsed.data, ctx);
  } catch (err) {
    if (err instanceof ToolInputError) return { output: err.message, isError: true };
    const e = err as NodeJS.ErrnoException;
    const given = (parsed.data as { path?: unknown }).path;
    const where = typeof given === "string" ? `${given}: ` : "";
    const reason =
      e.code === "ENOENT"
        ? "no such file or directory"
        : e.code === "EACCES"
          ? "permission denied"
          : String(e.message).replaceAll(ctx.root, SANDBOX_WORKDIR); // never show host paths
    return { output: `${name} failed: ${where}${reason}`, isError: true };
  }
}
