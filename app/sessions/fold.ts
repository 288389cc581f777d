/**
 * Folding a run's events into chat history, in the shape the model API needs back: an assistant
 * message (text, tool_use) followed by a user message with the tool results, per turn.
 *
 * Events carry no turn boundaries, so one is inferred: text after tool results starts a new
 * turn. A tool that never finished (abort, crash) gets an error result, so the history stays a
 * valid conversation for the next run.
 */
import type { ChatMessage, ChatPart, StreamEvent } from "../wire/protocol";

export const UNFINISHED_TOOL = "the tool did not finish: the run ended first";

interface Turn {
  assistant: ChatPart[];
  results: ChatPart[];
}

export function foldEvents(events: readonly StreamEvent[]): ChatMessage[] {
  const messages: ChatMessage[] = [];
  let turn: Turn = { assistant: [], results: [] };

  const closeTurn = () => {
    const finished = new Set(turn.results.map((p) => (p.type === "tool_result" ? p.tool_use_id : "")));
    for (const p of turn.assistant) {
      if (p.type === "tool_use" && !finished.has(p.id)) {
        turn.results.push({
          type: "tool_result",
          tool_use_id: p.id,
          content: UNFINISHED_TOOL,
          is_error: true,
        });
      }
    }
    if (turn.assistant.length > 0) messages.push({ role: "assistant", parts: turn.assistant });
    if (turn.results.length > 0) messages.push({ role: "user", parts: turn.results });
    turn = { assistant: [], results: [] };
  };

  for (const e of events) {
    switch (e.type) {
      case "token": {
        const { text } = (e as StreamEvent<"token">).data;
        if (turn.results.length > 0) closeTurn();
        const last = turn.assistant[turn.assistant.length - 1];
        if (last?.type === "text") last.text += text;
        else turn.assistant.push({ type: "text", text });
        break;
      }
      case "tool_start": {
        const { id, name, input } = (e as StreamEvent<"tool_start">).data;
        turn.assistant.push({ type: "tool_use", id, name, input: input ?? {} });
        break;
      }
      case "tool_end": {
        const { id, output, is_error } = (e as StreamEvent<"tool_end">).data;
        turn.results.push({ type: "tool_result", tool_use_id: id, content: output, is_error });
        break;
      }
      default:
        break; // step_*, log, done, error are not conversation
    }
  }
  closeTurn();
  return messages;
}

/**
 * History for the model: consecutive messages of one role merged (a run that ended on tool
 * results, followed by the next user message, must become one user turn).
 */
export function mergeRoles(messages: readonly ChatMessage[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const m of messages) {
    const prev = out[out.length - 1];
    if (prev && prev.role === m.role) prev.parts = [...prev.parts, ...m.parts];
    else out.push({ role: m.role, parts: [...m.parts] });
  }
  return out;
}
