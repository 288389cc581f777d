/** Folding a run's events into chat history the model accepts back. */
import { foldEvents, mergeRoles, UNFINISHED_TOOL } from "../../app/sessions/fold";
import type { EventType, StreamEvent } from "../../app/wire/protocol";

let seq = 0;
const ev = (type: EventType, data: unknown) =>
  ({ id: ++seq, workload_id: "w", seq, type, data }) as StreamEvent;
const token = (text: string) => ev("token", { text });
const start = (id: string, name = "read_file") => ev("tool_start", { id, name, input: { path: id } });
const end = (id: string, output = `out ${id}`, is_error = false) =>
  ev("tool_end", { id, name: "read_file", output, is_error });

describe("foldEvents", () => {
  it("joins tokens into one text part and turns tool events into tool_use / tool_result turns", () => {
    const history = foldEvents([
      token("Let me "),
      token("check."),
      start("a"),
      end("a"),
      start("b"),
      end("b", "boom", true),
      token("Done."),
      ev("done", { reason: "end_turn" }),
    ]);
    expect(history).toEqual([
      {
        role: "assistant",
        parts: [
          { type: "text", text: "Let me check." },
          { type: "tool_use", id: "a", name: "read_file", input: { path: "a" } },
          { type: "tool_use", id: "b", name: "read_file", input: { path: "b" } },
        ],
      },
      {
        role: "user",
        parts: [
          { type: "tool_result", tool_use_id: "a", content: "out a", is_error: false },
          { type: "tool_result", tool_use_id: "b", content: "boom", is_error: true },
        ],
      },
      { role: "assistant", parts: [{ type: "text", text: "Done." }] },
    ]);
  });

  it("closes a tool the run never finished with an error result", () => {
    const history = foldEvents([token("x"), start("a"), ev("done", { reason: "aborted" })]);
    expect(history[1]).toEqual({
      role: "user",
      parts: [{ type: "tool_result", tool_use_id: "a", content: UNFINISHED_TOOL, is_error: true }],
    });
  });

  it("yields nothing for a run that said nothing, and ignores workflow events", () => {
    expect(foldEvents([ev("log", { stream: "stdout", text: "hi" }), ev("error", { message: "x" })])).toEqual(
      [],
    );
  });
});

describe("mergeRoles", () => {
  it("merges consecutive messages of one role, keeping part order", () => {
    const merged = mergeRoles([
      { role: "user", parts: [{ type: "tool_result", tool_use_id: "a", content: "r" }] },
      { role: "user", parts: [{ type: "text", text: "next" }] },
      { role: "assistant", parts: [{ type: "text", text: "ok" }] },
    ]);
    expect(merged).toEqual([
      {
        role: "user",
        parts: [
          { type: "tool_result", tool_use_id: "a", content: "r" },
          { type: "text", text: "next" },
        ],
      },
      { role: "assistant", parts: [{ type: "text", text: "ok" }] },
    ]);
  });
});
