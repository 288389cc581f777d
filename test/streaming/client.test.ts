/**
 * The client library (app/client/agent-client.ts) in Node with the `eventsource` package against
 * a real server: typed events three ways, abort with a cancelled state, resuming across dropped
 * connections and across HTTP failures, and failures that must not hang.
 */
import { EventSource } from "eventsource";
import { AgentClient, type AgentStream } from "../../app/client/agent-client";
import { RunFailedError, StreamError, type StreamState } from "../../app/client/event-stream";
import type { StreamEvent } from "../../app/wire/protocol";
import { type AgentPlatform, type ApiClient, startAgentPlatform, startProxy } from "../helpers/agents";

let p: AgentPlatform;
let alice: ApiClient;

beforeAll(async () => {
  p = await startAgentPlatform();
  alice = await p.user("alice");
});
afterAll(() => p.close());

const client = (baseUrl = p.url, fetchFn?: typeof fetch) =>
  new AgentClient({ baseUrl, token: alice.token, EventSource, fetch: fetchFn, retryDelayMs: 20 });

const states = (s: AgentStream) => {
  const seen: StreamState[] = [s.state];
  s.on("state", (st) => seen.push(st));
  return seen;
};

describe("AgentClient", () => {
  it("runs and streams typed events to listeners, for await and done()", async () => {
    p.executor.script = async (r) => {
      await r.tokens(["Hel", "lo"]);
      await r.event("tool_start", { id: "t1", name: "list_files", input: {} });
      await r.event("tool_end", { id: "t1", name: "list_files", output: "a.txt", is_error: false });
      await r.event("done", { reason: "end_turn", usage: { input_tokens: 3, output_tokens: 2 } });
    };
    const c = client();
    const session = await c.createSession({ title: "demo" });
    expect(session).toMatchObject({ title: "demo", status: "idle", run: null });
    const stream = await c.run(session.id, "hello");
    const seen = states(stream);
    const texts: string[] = [];
    stream.on("token", (e) => texts.push(e.data.text));
    const tools: string[] = [];
    stream.on("tool_end", (e) => tools.push(`${e.data.name}:${e.data.output}`));

    const iterated: StreamEvent[] = [];
    for await (const e of stream) iterated.push(e);
    const done = await stream.done();

    expect(iterated.map((e) => e.type)).toEqual(["token", "token", "tool_start", "tool_end", "done"]);
    expect(texts.join("")).toBe("Hello");
    expect(tools).toEqual(["list_files:a.txt"]);
    expect(done.data).toEqual({ reason: "end_turn", usage: { input_tokens: 3, output_tokens: 2 } });
    expect(stream.workloadId).toBe(done.workload_id);
    expect(stream.lastEventId).toBe(done.id);
    expect(seen).toEqual(["connecting", "open", "done"]);
    const messages = await c.messages(session.id);
    expect(messages.map((m) => m.role)).toEqual(["user", "assistant", "user"]);
  });

  it("abort() stops the run, ends with done {reason: aborted} and a cancelled state", async () => {
    p.executor.script = async (r) => {
      for (let i = 1; !r.abortRequested; i++) {
        await r.tokens([`w${i}`]);
        await r.sleep(20);
      }
      await r.event("done", { reason: "aborted" });
    };
    const c = client();
    const session = await c.createSession();
    const stream = await c.run(session.id, "go");
    const seen = states(stream);
    await new Promise<void>((resolve) => stream.on("token", (e) => e.seq === 3 && resolve()));
    await stream.abort();
    expect(stream.state).toBe("cancelled");
    expect(seen).toEqual(expect.arrayContaining(["open", "cancelling", "cancelled"]));
    expect((await stream.done()).data).toEqual({ reason: "aborted" });
    expect((await c.session(session.id)).status).toBe("aborted");
    // Nothing is running any more: abort is a no-op, not an error.
    expect(await c.abort(session.id)).toBe(false);
  });

  it("resumes across dropped connections and HTTP failures, every event once", async () => {
    const proxy = await startProxy(p.url);
    let failStreams = 0;
    const requested: string[] = [];
    // A balancer answering 503 while the app restarts: the EventSource gives up on it, the client reopens.
    const flaky: typeof fetch = async (input, init) => {
      const url = String(input);
      if (url.includes("/stream")) requested.push(url);
      if (url.includes("/stream") && failStreams > 0) {
        failStreams--;
        return new Response("unavailable", { status: 503 });
      }
      return fetch(input, init);
    };
    p.executor.script = async (r) => {
      for (let i = 1; i <= 100; i += 2) {
        await r.tokens([`${i}`, `${i + 1}`]);
        if (i % 10 === 9) await r.sleep(10);
      }
      await r.event("done", { reason: "end_turn" });
    };
    const c = client(proxy.url, flaky);
    const session = await c.createSession();
    const stream = await c.run(session.id, "go");
    const seen = states(stream);
    const seqs: number[] = [];
    stream.on("event", (e) => {
      seqs.push(e.seq);
      if (e.seq === 25) proxy.cut(); // network drop: the EventSource reconnects with Last-Event-ID
      if (e.seq === 60) {
        failStreams = 2;
        proxy.cut();
      }
    });
    await stream.done();
    await proxy.close();
    expect(seqs).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
    expect(seen.filter((s) => s === "reconnecting").length).toBeGreaterThanOrEqual(2);
    expect(requested.some((u) => /lastEventId=\d+/.test(u))).toBe(true);
    expect(stream.state).toBe("done");
  });

  it("fails clearly: unknown session, a run that errors, close()", async () => {
    const c = client();
    const missing = c.stream(crypto.randomUUID());
    await expect(missing.done()).rejects.toMatchObject({ name: "StreamError", status: 404 });
    expect(missing.state).toBe("failed");

    p.executor.script = async (r) => {
      await r.event("error", { message: "model overloaded", code: "overloaded" });
    };
    const session = await c.createSession();
    const failing = await c.run(session.id, "x");
    await expect(failing.done()).rejects.toBeInstanceOf(RunFailedError);
    expect(failing.state).toBe("failed");
    const events: StreamEvent[] = [];
    for await (const e of failing) events.push(e);
    expect(events.map((e) => e.type)).toEqual(["error"]);

    p.executor.script = (r) => r.sleep(5_000).catch(() => {});
    const idle = await c.createSession();
    const open = await c.run(idle.id, "x");
    open.close();
    expect(open.state).toBe("closed");
    await expect(open.done()).rejects.toBeInstanceOf(StreamError);
    await c.abort(idle.id);
  });
});
