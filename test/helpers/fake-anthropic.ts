/**
 * A local stand-in for the Anthropic Messages API that speaks its real streaming format:
 * `message_start`, `content_block_start` / `content_block_delta` (text_delta, input_json_delta)
 * / `content_block_stop`, `message_delta` (stop_reason, usage), `message_stop`, and `ping`;
 * errors use the real `{"type":"error","error":{type,message}}` body. Each request takes the
 * next scripted reply from a queue, or asks a function; every request is recorded. The SDK
 * reaches it through `baseURL` (or ANTHROPIC_BASE_URL).
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export type ScriptedBlock =
  | { type: "text"; text: string }
  | { type: "tool_use"; name: string; input: unknown; id?: string };

export interface StreamReply {
  content: ScriptedBlock[];
  /** Defaults to `tool_use` when a block is a tool call, else `end_turn`. */
  stop_reason?: string;
  usage?: { input_tokens: number; output_tokens: number };
  /** Pause between stream events. */
  delayMs?: number;
  /** Stop after the content blocks and never finish (until the client goes away). */
  hang?: boolean;
  /** Send an `error` event after the content instead of finishing. */
  streamError?: { type: string; message: string };
}

export interface ErrorReply {
  error: { status: number; type: string; message: string };
  headers?: Record<string, string>;
}

export type Script = StreamReply | ErrorReply;

export interface RecordedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  // biome-ignore lint/suspicious/noExplicitAny: the request body is whatever the SDK sent
  body: any;
}

export interface FakeAnthropic {
  readonly url: string;
  readonly requests: RecordedRequest[];
  enqueue(...replies: Script[]): void;
  /** Drops replies still queued (a failed test must not leave its script to the next one). */
  reset(): void;
  /** Answers every request with a function of it (used when the queue is empty). */
  respond(fn: (req: RecordedRequest, index: number) => Script): void;
  /** Requests that are still streaming (hung or slow). */
  readonly open: number;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Splits text into word-sized deltas, as the real API streams it. */
function chunks(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? [text];
}

export async function startFakeAnthropic(): Promise<FakeAnthropic> {
  const requests: RecordedRequest[] = [];
  const queue: Script[] = [];
  let fn: ((req: RecordedRequest, index: number) => Script) | undefined;
  let open = 0;

  const server = http.createServer(async (req, res) => {
    const raw: Buffer[] = [];
    for await (const c of req) raw.push(c as Buffer);
    const recorded: RecordedRequest = {
      path: req.url ?? "",
      headers: req.headers,
      body: raw.length ? JSON.parse(Buffer.concat(raw).toString("utf8")) : undefined,
    };
    const index = requests.push(recorded) - 1;
    const requestId = `req_${randomBytes(8).toString("hex")}`;
    if (req.method !== "POST" || !recorded.path.startsWith("/v1/messages")) {
      return sendError(res, requestId, {
        status: 404,
        type: "not_found_error",
        message: `${req.method} ${req.url}`,
      });
    }
    const script = queue.shift() ?? fn?.(recorded, index);
    if (!script) {
      return sendError(res, requestId, {
        status: 500,
        type: "api_error",
        message: "fake anthropic: nothing scripted",
      });
    }
    if ("error" in script) return sendError(res, requestId, script.error, script.headers);
    open++;
    try {
      await stream(res, requestId, recorded.body?.model ?? "claude-test", script);
    } finally {
      open--;
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    enqueue: (...r) => void queue.push(...r),
    reset: () => void queue.splice(0),
    respond: (f) => {
      fn = f;
    },
    get open() {
      return open;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function sendError(
  res: http.ServerResponse,
  requestId: string,
  error: ErrorReply["error"],
  headers: Record<string, string> = {},
): void {
  res.writeHead(error.status, { "content-type": "application/json", "request-id": requestId, ...headers });
  res.end(
    JSON.stringify({
      type: "error",
      error: { type: error.type, message: error.message },
      request_id: requestId,
    }),
  );
}

async function stream(
  res: http.ServerResponse,
  requestId: string,
  model: string,
  script: StreamReply,
): Promise<void> {
  let gone = false;
  res.on("close", () => {
    gone = true;
  });
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
    "request-id": requestId,
  });
  const send = async (type: string, data: unknown) => {
    if (gone) return;
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...(data as object) })}\n\n`);
    if (script.delayMs) await sleep(script.delayMs);
  };
  const usage = script.usage ?? { input_tokens: 25, output_tokens: 0 };
  await send("message_start", {
    message: {
      id: `msg_${randomBytes(8).toString("hex")}`,
      type: "message",
      role: "assistant",
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: usage.input_tokens, output_tokens: 1 },
    },
  });
  await send("ping", {});
  let outputTokens = 0;
  for (const [index, block] of script.content.entries()) {
    if (block.type === "text") {
      await send("content_block_start", { index, content_block: { type: "text", text: "" } });
      for (const text of chunks(block.text)) {
        outputTokens++;
        await send("content_block_delta", { index, delta: { type: "text_delta", text } });
      }
    } else {
      const id = block.id ?? `toolu_${randomBytes(10).toString("hex")}`;
      await send("content_block_start", {
        index,
        content_block: { type: "tool_use", id, name: block.name, input: {} },
      });
      const json = JSON.stringify(block.input);
      const half = Math.ceil(json.length / 2);
      for (const partial_json of [json.slice(0, half), json.slice(half)]) {
        outputTokens++;
        await send("content_block_delta", { index, delta: { type: "input_json_delta", partial_json } });
      }
    }
    await send("content_block_stop", { index });
  }
  if (script.hang) {
    // Until the client goes away (`req.destroyed` is no sign of that: it is set once the body is read).
    while (!gone) await sleep(20);
    return;
  }
  if (script.streamError) {
    await send("error", { error: script.streamError });
    res.end();
    return;
  }
  const stop =
    script.stop_reason ?? (script.content.some((b) => b.type === "tool_use") ? "tool_use" : "end_turn");
  await send("message_delta", {
    delta: { stop_reason: stop, stop_sequence: null },
    usage: { output_tokens: script.usage?.output_tokens ?? outputTokens },
  });
  await send("message_stop", {});
  res.end();
}

/**
 * The fake model for runner processes: they inherit the SDK's standard variables from the server's
 * environment, so ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL point at the fake until `close`, which
 * also puts the environment back as it was.
 */
export async function startFakeModelForRunners(): Promise<FakeAnthropic> {
  const fake = await startFakeAnthropic();
  const stop = fake.close;
  const saved = {
    ANTHROPIC_API_KEY: process.env.ANTHROPIC_API_KEY,
    ANTHROPIC_BASE_URL: process.env.ANTHROPIC_BASE_URL,
  };
  process.env.ANTHROPIC_API_KEY = "sk-test";
  process.env.ANTHROPIC_BASE_URL = fake.url;
  return Object.assign(fake, {
    async close() {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await stop();
    },
  });
}
