/**
 * Full agent runs: the real SDK against the fake Messages API, tools in the real sandbox, events
 * through the real callback client into a stand-in events endpoint.
 */
import Anthropic from "@anthropic-ai/sdk";
import pino from "pino";
import { ExitCode } from "../../app/wire/protocol";
import { runAssignment } from "../../runner/run";
import { type ResolvedSandbox, resolveSandbox } from "../../runner/sandbox/index";
import { agentAssignment } from "../helpers/assignments";
import { type EventsSink, startEventsSink } from "../helpers/events-sink";
import { type FakeAnthropic, startFakeAnthropic } from "../helpers/fake-anthropic";

const log = pino({ level: "silent" });
let fake: FakeAnthropic;
let sink: EventsSink;
let sandbox: ResolvedSandbox;

beforeAll(async () => {
  fake = await startFakeAnthropic();
  sandbox = await resolveSandbox("auto");
});
afterAll(() => fake.close());
beforeEach(async () => {
  sink = await startEventsSink();
  fake.reset(); // a run that ended before its model call leaves its script queued
  fake.requests.length = 0;
});
afterEach(() => sink.close());

const client = (maxRetries = 2) => new Anthropic({ apiKey: "sk-test", baseURL: fake.url, maxRetries });
const run = (a = agentAssignment({ callbackUrl: sink.url }), signal?: AbortSignal, retries = 2) =>
  runAssignment(a, { log, sandbox, client: client(retries), signal });
// `log` events carry sandbox notes (e.g. why auto did not pick gVisor); the rest is the conversation.
const types = () => sink.events.filter((e) => e.type !== "log").map((e) => e.type);
const text = () =>
  sink.events
    .filter((e) => e.type === "token")
    .map((e) => e.data.text)
    .join("");

it("runs a multi-turn tool-using conversation in the sandbox and streams every event", async () => {
  fake.enqueue(
    {
      content: [
        { type: "text", text: "Let me set up and look." },
        { type: "tool_use", name: "bash", input: { command: "mkdir src && echo hi > src/a.txt && id -u" } },
      ],
    },
    { content: [{ type: "tool_use", name: "list_files", input: { path: ".", recursive: true } }] },
    {
      content: [{ type: "text", text: "There is one file, src/a.txt." }],
      usage: { input_tokens: 40, output_tokens: 9 },
    },
  );
  expect(await run()).toBe(ExitCode.ok);

  expect(types()[0]).toBe("token");
  expect(types().filter((t) => t === "tool_start")).toHaveLength(2);
  expect(types().at(-1)).toBe("done");
  expect(text()).toBe("Let me set up and look.There is one file, src/a.txt.");
  const ends = sink.events.filter((e) => e.type === "tool_end").map((e) => e.data);
  expect(ends[0]).toMatchObject({ name: "bash", is_error: false });
  expect(ends[0]!.output).toContain("1000"); // the sandbox user
  expect(ends[1]).toMatchObject({ name: "list_files", is_error: false, output: "src/\nsrc/a.txt" });
  expect(sink.events.at(-1)!.data).toMatchObject({ reason: "end_turn", stop_reason: "end_turn" });
  expect((sink.events.at(-1)!.data.usage as { output_tokens: number }).output_tokens).toBeGreaterThan(9);

  // The model saw the tool results on its next turns, and the conversation grew each time.
  expect(fake.requests).toHaveLength(3);
  const last = fake.requests[2]!.body;
  expect(last.messages).toHaveLength(5);
  expect(last.messages[4].content[0]).toMatchObject({ type: "tool_result", content: "src/\nsrc/a.txt" });
  expect(last.tools.map((t: { name: string }) => t.name)).toEqual(
    expect.arrayContaining(["read_file", "write_file", "edit_file", "list_files", "grep", "bash"]),
  );
  // Sequence numbers are dense and start at 1.
  expect(sink.events.map((e) => e.seq)).toEqual(sink.events.map((_, i) => i + 1));
});

it("aborts mid-stream: the model request is cancelled and the run ends with done(aborted)", async () => {
  fake.enqueue({ content: [{ type: "text", text: "Thinking about it" }], hang: true });
  const controller = new AbortController();
  const running = run(undefined, controller.signal);
  await sink.waitFor("token");
  controller.abort();
  expect(await running).toBe(ExitCode.aborted);
  expect(sink.events.at(-1)).toMatchObject({ type: "done", data: { reason: "aborted" } });
  await new Promise((r) => setTimeout(r, 100));
  expect(fake.open).toBe(0);
});

it("stops when the app's ack says abort", async () => {
  fake.enqueue({ content: [{ type: "text", text: "Working on it" }], hang: true });
  sink.abort();
  expect(await run()).toBe(ExitCode.aborted);
  expect(sink.events.at(-1)).toMatchObject({ type: "done", data: { reason: "aborted" } });
});

it("reports a model API error as an error event", async () => {
  fake.enqueue({
    error: { status: 400, type: "invalid_request_error", message: "model: claude-test does not exist" },
  });
  expect(await run()).toBe(ExitCode.failed);
  expect(sink.events.at(-1)).toMatchObject({ type: "error", data: { code: "model_error" } });
  expect(sink.events.at(-1)!.data.message).toContain("claude-test does not exist");
});

it("retries a rate limit, then reports it clearly", async () => {
  fake.respond(() => ({
    error: {
      status: 429,
      type: "rate_limit_error",
      message: "Number of requests has exceeded your rate limit",
    },
    headers: { "retry-after-ms": "5" },
  }));
  try {
    expect(await run(undefined, undefined, 2)).toBe(ExitCode.failed);
  } finally {
    fake.respond(() => ({ error: { status: 500, type: "api_error", message: "unscripted" } }));
  }
  expect(fake.requests).toHaveLength(3); // the first try and two retries
  expect(sink.events.at(-1)).toMatchObject({ type: "error", data: { code: "rate_limited" } });
  expect(sink.events.at(-1)!.data.message).toMatch(/rate limit/);
});

it("recovers when a retry succeeds after a 529 overload", async () => {
  fake.enqueue(
    {
      error: { status: 529, type: "overloaded_error", message: "Overloaded" },
      headers: { "retry-after-ms": "5" },
    },
    { content: [{ type: "text", text: "Fine now." }] },
  );
  expect(await run()).toBe(ExitCode.ok);
  expect(text()).toBe("Fine now.");
  expect(types().at(-1)).toBe("done");
});

it("reports an error event sent in the middle of a stream", async () => {
  fake.enqueue({
    content: [{ type: "text", text: "Partial" }],
    streamError: { type: "overloaded_error", message: "Overloaded" },
  });
  expect(await run()).toBe(ExitCode.failed);
  expect(sink.events.at(-1)).toMatchObject({ type: "error", data: { code: "model_error" } });
  expect(sink.events.at(-1)!.data.message).toContain("Overloaded");
});

it("says clearly when there is no API key", async () => {
  const saved = { key: process.env.ANTHROPIC_API_KEY, token: process.env.ANTHROPIC_AUTH_TOKEN };
  delete process.env.ANTHROPIC_API_KEY;
  delete process.env.ANTHROPIC_AUTH_TOKEN;
  try {
    expect(await runAssignment(agentAssignment({ callbackUrl: sink.url }), { log, sandbox })).toBe(
      ExitCode.failed,
    );
  } finally {
    if (saved.key !== undefined) process.env.ANTHROPIC_API_KEY = saved.key;
    if (saved.token !== undefined) process.env.ANTHROPIC_AUTH_TOKEN = saved.token;
  }
  expect(sink.events.at(-1)).toMatchObject({ type: "error", data: { code: "no_api_key" } });
  expect(sink.events.at(-1)!.data.message).toContain("ANTHROPIC_API_KEY");
  expect(fake.requests).toHaveLength(0);
});

it("gives a tool call with bad arguments an error result and carries on", async () => {
  fake.enqueue(
    { content: [{ type: "tool_use", name: "read_file", input: { path: 42 } }] },
    { content: [{ type: "tool_use", name: "read_file", input: { path: "../../etc/passwd" } }] },
    { content: [{ type: "text", text: "I could not read it." }] },
  );
  expect(await run()).toBe(ExitCode.ok);
  const ends = sink.events.filter((e) => e.type === "tool_end").map((e) => e.data);
  expect(ends[0]).toMatchObject({ is_error: true });
  expect(ends[0]!.output).toContain("invalid arguments for read_file");
  expect(ends[1]).toMatchObject({ is_error: true });
  expect(ends[1]!.output).toContain("'..' is not allowed");
  expect(fake.requests[1]!.body.messages[2].content[0]).toMatchObject({
    type: "tool_result",
    is_error: true,
  });
});

it("ends with done(max_turns) when the model keeps calling tools", async () => {
  fake.respond(() => ({ content: [{ type: "tool_use", name: "list_files", input: {} }] }));
  try {
    expect(await run(agentAssignment({ callbackUrl: sink.url, limits: { max_turns: 2 } }))).toBe(ExitCode.ok);
  } finally {
    fake.respond(() => ({ error: { status: 500, type: "api_error", message: "unscripted" } }));
  }
  expect(fake.requests).toHaveLength(2);
  expect(sink.events.at(-1)).toMatchObject({ type: "done", data: { reason: "max_turns" } });
});

it("ends with done(timeout) when the wall-time budget runs out", async () => {
  fake.enqueue({ content: [{ type: "text", text: "Slow" }], hang: true });
  const started = Date.now();
  expect(await run(agentAssignment({ callbackUrl: sink.url, limits: { wall_time_ms: 1000 } }))).toBe(
    ExitCode.timeout,
  );
  expect(Date.now() - started).toBeLessThan(4000);
  expect(sink.events.at(-1)).toMatchObject({ type: "done", data: { reason: "timeout" } });
});

it("stops at the output-token budget", async () => {
  fake.enqueue({
    content: [{ type: "text", text: "a b c" }],
    stop_reason: "max_tokens",
    usage: { input_tokens: 5, output_tokens: 3 },
  });
  expect(await run(agentAssignment({ callbackUrl: sink.url, limits: { max_output_tokens: 3 } }))).toBe(
    ExitCode.ok,
  );
  expect(fake.requests[0]!.body.max_tokens).toBe(3);
  expect(sink.events.at(-1)).toMatchObject({ type: "done", data: { reason: "max_tokens" } });
});
