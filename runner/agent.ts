/**
 * The agent loop: stream a turn from the Messages API, run the tools it asks for in the
 * sandbox, send the results back, until the model ends its turn or a budget runs out (turns,
 * output tokens, wall time). Text deltas become `token` events, each tool call a `tool_start`
 * and `tool_end`. The caller emits the one terminal event from the returned outcome.
 */
import Anthropic from "@anthropic-ai/sdk";
import type { z } from "zod";
import type { AgentWorkload, ChatMessage, EventDataOf, EventType } from "../app/wire/protocol";
import { hasModelCredentials } from "./model";
import { SANDBOX_WORKDIR } from "./sandbox/types";
import { runTool, TOOLS, type ToolContext, type ToolDefinition, toolDefinitions } from "./tools/index";
import type { Tool } from "./tools/types";

type Workload = z.output<typeof AgentWorkload>;
type Usage = { input_tokens: number; output_tokens: number };

export interface EventSink {
  emit<T extends EventType>(type: T, data: EventDataOf<T>): void;
  token(text: string): void;
}

export type AgentOutcome =
  | {
      kind: "done";
      reason: "end_turn" | "max_turns" | "max_tokens";
      stopReason: string | null;
      usage: Usage;
      /** The accepted input of the finish tool (runs with `finish` only). */
      output?: unknown;
    }
  | { kind: "aborted"; usage: Usage }
  | { kind: "error"; code: string; message: string; usage: Usage };

export interface AgentOptions {
  readonly workload: Workload;
  readonly events: EventSink;
  readonly tools: ToolContext;
  readonly signal: AbortSignal;
  /** A client to use instead of one built from ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL. */
  readonly client?: Anthropic;
  /** The tools the model may use (default: all of them). */
  readonly toolset?: readonly Tool[];
  /** A structured ending: the run ends when the model calls this tool with an accepted input. */
  readonly finish?: FinishTool;
}

/** How an agent hands in a structured result (workflow agent steps: the prompt's output schema). */
export interface FinishTool {
  readonly definition: ToolDefinition;
  /** What is wrong with an input; empty when it is accepted. */
  check(input: unknown): string[];
  /** Said to the model when it ends its turn without calling the tool. */
  readonly reminder: string;
}

/** Tool output shown in `tool_end` events (the model gets more; see MAX_TOOL_OUTPUT_CHARS). */
export const EVENT_OUTPUT_CHARS = 8000;

export const DEFAULT_SYSTEM_PROMPT =
  `You are Plue's coding agent. You work in a project checked out at ${SANDBOX_WORKDIR}; ` +
  "use the tools to read, search and change files and to run commands there. Commands run in a " +
  "sandbox without network access. Be concise, and say what you changed.";

/** The stored conversation in the Messages API's shape (empty text parts are dropped: the API refuses them). */
export function toMessageParams(messages: readonly ChatMessage[]): Anthropic.MessageParam[] {
  const out: Anthropic.MessageParam[] = [];
  for (const m of messages) {
    const content: Anthropic.ContentBlockParam[] = [];
    for (const p of m.parts) {
      if (p.type === "text") {
        if (p.text.trim()) content.push({ type: "text", text: p.text });
      } else if (p.type === "tool_use") {
        content.push({ type: "tool_use", id: p.id, name: p.name, input: p.input ?? {} });
      } else {
        content.push({
          type: "tool_result",
          tool_use_id: p.tool_use_id,
          content: p.content,
          is_error: p.is_error,
        });
      }
    }
    if (content.length > 0) out.push({ role: m.role, content });
  }
  return out;
}

/** A model failure as an `error` event: which kind, and a message a user can act on. */
export function describeModelError(err: unknown): { code: string; message: string } {
  if (err instanceof Anthropic.APIConnectionError) {
    return { code: "model_unreachable", message: `cannot reach the model API: ${err.message}` };
  }
  if (err instanceof Anthropic.APIError) {
    const detail = err.apiMessage ?? err.message;
    if (err.status === 429) {
      return {
        code: "rate_limited",
        message: `the model API is rate limiting (429) and retries ran out: ${detail}`,
      };
    }
    if (err.status === 401 || err.status === 403) {
      return {
        code: "model_auth",
        message: `the model API refused the credentials (${err.status}): ${detail}`,
      };
    }
    const status = err.status ? `${err.status} ` : "";
    return {
      code: "model_error",
      message: `the model API failed: ${status}${err.type ?? "error"}: ${detail}`,
    };
  }
  return { code: "model_error", message: `the model call failed: ${(err as Error)?.message ?? String(err)}` };
}

export async function runAgent(opts: AgentOptions): Promise<AgentOutcome> {
  const { workload, events, signal } = opts;
  const usage: Usage = { input_tokens: 0, output_tokens: 0 };
  if (!opts.client && !hasModelCredentials()) {
    return {
      kind: "error",
      code: "no_api_key",
      message:
        "ANTHROPIC_API_KEY is not set, so the runner cannot call the model. Set it in the environment of the Plue server (and ANTHROPIC_BASE_URL for a proxy).",
      usage,
    };
  }
  const client = opts.client ?? new Anthropic({ maxRetries: 3 });
  const messages = toMessageParams(workload.messages);
  const { finish } = opts;
  const toolset = opts.toolset ?? TOOLS;
  const allowed = new Set(toolset.map((t) => t.name));
  const tools = [...toolDefinitions(toolset), ...(finish ? [finish.definition] : [])] as Anthropic.Tool[];
  const { max_turns, max_output_tokens } = workload.limits;

  for (let turn = 1; ; turn++) {
    if (signal.aborted) return { kind: "aborted", usage };
    if (turn > max_turns) return { kind: "done", reason: "max_turns", stopReason: "tool_use", usage };
    const remaining = max_output_tokens - usage.output_tokens;
    if (remaining <= 0) return { kind: "done", reason: "max_tokens", stopReason: null, usage };

    let message: Anthropic.Message;
    try {
      const stream = client.messages.stream(
        {
          model: workload.model,
          max_tokens: remaining,
          system: workload.system_prompt ?? DEFAULT_SYSTEM_PROMPT,
          messages,
          tools,
        },
        { signal },
      );
      stream.on("text", (delta) => events.token(delta));
      message = await stream.finalMessage();
    } catch (err) {
      if (signal.aborted) return { kind: "aborted", usage };
      return { kind: "error", ...describeModelError(err), usage };
    }
    usage.input_tokens += message.usage.input_tokens;
    usage.output_tokens += message.usage.output_tokens;
    messages.push({ role: "assistant", content: message.content as Anthropic.ContentBlockParam[] });

    if (message.stop_reason !== "tool_use") {
      const reason = message.stop_reason === "max_tokens" ? "max_tokens" : "end_turn";
      if (!finish || reason === "max_tokens")
        return { kind: "done", reason, stopReason: message.stop_reason, usage };
      messages.push({ role: "user", content: finish.reminder });
      continue;
    }
    const results: Anthropic.ToolResultBlockParam[] = [];
    for (const block of message.content) {
      if (block.type !== "tool_use") continue;
      if (signal.aborted) return { kind: "aborted", usage };
      events.emit("tool_start", { id: block.id, name: block.name, input: block.input });
      if (finish && block.name === finish.definition.name) {
        const problems = finish.check(block.input);
        const output = problems.length ? `not accepted:\n${problems.join("\n")}` : "accepted";
        events.emit("tool_end", { id: block.id, name: block.name, output, is_error: problems.length > 0 });
        if (problems.length === 0) {
          return { kind: "done", reason: "end_turn", stopReason: "tool_use", usage, output: block.input };
        }
        results.push({ type: "tool_result", tool_use_id: block.id, content: output, is_error: true });
        continue;
      }
      const r =
        !opts.toolset || allowed.has(block.name)
          ? await runTool(block.name, block.input, opts.tools)
          : {
              output: `tool ${block.name} is not available here; available: ${[...allowed].join(", ") || "none"}`,
              isError: true,
              truncated: false,
            };
      const shown = r.output.length > EVENT_OUTPUT_CHARS;
      events.emit("tool_end", {
        id: block.id,
        name: block.name,
        output: shown ? `${r.output.slice(0, EVENT_OUTPUT_CHARS)}\n[truncated …]` : r.output,
        is_error: r.isError,
        truncated: shown || r.truncated,
      });
      results.push({ type: "tool_result", tool_use_id: block.id, content: r.output, is_error: r.isError });
    }
    messages.push({ role: "user", content: results });
  }
}
