/**
 * The runner's events client against a stand-in endpoint that keeps the contract (idempotent
 * on seq, `{ack, abort}`): numbering, coalescing, retries with backoff, rejections, abort.
 */
import { CallbackError, EventClient } from "../../runner/events";
import { type EventsSink, startEventsSink } from "../helpers/events-sink";

let sink: EventsSink;
beforeEach(async () => {
  sink = await startEventsSink();
});
afterEach(() => sink.close());

const client = (opts: Partial<ConstructorParameters<typeof EventClient>[0]> = {}) =>
  new EventClient({ url: sink.url, token: "task-token", initialBackoffMs: 20, ...opts });

it("numbers events from 1 and coalesces a burst of token deltas into one event", async () => {
  const c = client();
  for (let i = 0; i < 50; i++) c.token(`${i},`);
  c.emit("tool_start", { id: "t1", name: "list_files", input: {} });
  c.token("after");
  await c.flush();
  expect(sink.events.map((e) => [e.seq, e.type])).toEqual([
    [1, "token"],
    [2, "tool_start"],
    [3, "token"],
  ]);
  expect(sink.events[0]!.data.text).toBe(Array.from({ length: 50 }, (_, i) => `${i},`).join(""));
  expect(sink.batches).toHaveLength(1); // one request for all of it
  expect(c.lastAcked).toBe(3);
});

it("coalesces deltas that arrive over time within the ~30 ms window", async () => {
  const c = client({ coalesceMs: 30 });
  for (let i = 0; i < 20; i++) {
    c.token("x");
    await new Promise((r) => setTimeout(r, 3));
  }
  await c.flush();
  const tokens = sink.events.filter((e) => e.type === "token");
  expect(tokens.map((e) => e.data.text).join("")).toBe("x".repeat(20));
  expect(tokens.length).toBeLessThan(8); // not one request per delta
});

it("retries with growing backoff until the endpoint recovers, storing each event once", async () => {
  sink.failNext(3, 503);
  const c = client({ initialBackoffMs: 40 });
  c.emit("log", { stream: "system", text: "hello" });
  const started = Date.now();
  await c.flush();
  const took = Date.now() - started;
  expect(sink.batches).toHaveLength(4); // three failures, then success
  expect(sink.batches.every((b) => b[0]!.seq === 1)).toBe(true); // the same seq resent
  expect(sink.events).toHaveLength(1);
  expect(took).toBeGreaterThanOrEqual(40 * 0.75 + 80 * 0.75 + 160 * 0.75);
});

it("keeps later events in order while retrying", async () => {
  sink.failNext(2, 500);
  const c = client();
  c.token("a");
  c.emit("tool_start", { id: "1", name: "bash", input: { command: "true" } });
  await new Promise((r) => setTimeout(r, 10));
  c.emit("tool_end", { id: "1", name: "bash", output: "ok", is_error: false });
  c.emit("done", { reason: "end_turn" });
  await c.flush();
  expect(sink.events.map((e) => e.type)).toEqual(["token", "tool_start", "tool_end", "done"]);
  expect(sink.events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
});

it("gives up at once on a permanent rejection and aborts its signal", async () => {
  const c = new EventClient({ url: sink.url, token: "wrong-token" });
  c.token("hello");
  await expect(c.flush()).rejects.toMatchObject({ name: "CallbackError", permanent: true });
  expect(c.signal.aborted).toBe(true);
  expect(c.failed).toBeInstanceOf(CallbackError);
  expect(sink.batches).toHaveLength(0); // 401 before the batch was read
});

it("gives up after its deadline when the endpoint stays down", async () => {
  sink.failNext(1000, 502);
  const c = client({ giveUpAfterMs: 250, initialBackoffMs: 20, maxBackoffMs: 50 });
  c.token("hello");
  await expect(c.flush()).rejects.toThrow(/event callback failed for 250 ms/);
  expect(sink.batches.length).toBeGreaterThan(2);
});

it("surfaces abort from an ack as an aborted signal", async () => {
  const c = client();
  c.token("one");
  await c.flush();
  expect(c.signal.aborted).toBe(false);
  sink.abort();
  c.token("two");
  await c.flush();
  expect(c.signal.aborted).toBe(true);
});

it("refuses an event whose data breaks the wire schema, before sending it", () => {
  const c = client();
  expect(() => c.emit("tool_end", { id: "1" } as never)).toThrow();
});

it("treats workload_ended carrying an ack that covers everything as delivered (a lost final ack)", async () => {
  const answers = [{ status: 409, body: { error: { code: "workload_ended", message: "ended", ack: 2 } } }];
  const fetch: typeof globalThis.fetch = async () => {
    const a = answers.shift()!;
    return new Response(JSON.stringify(a.body), { status: a.status });
  };
  const c = new EventClient({ url: "http://127.0.0.1:1/x", token: "t", fetch });
  c.token("a");
  c.emit("done", { reason: "end_turn" });
  await expect(c.flush()).resolves.toBeUndefined();
  expect(c.lastAcked).toBe(2);
});

it("resends from the seq the app expects after a seq_gap", async () => {
  const seen: number[][] = [];
  const fetch: typeof globalThis.fetch = async (_url, init) => {
    const seqs = (JSON.parse(String(init!.body)).events as { seq: number }[]).map((e) => e.seq);
    seen.push(seqs);
    if (seen.length === 1) {
      return new Response(JSON.stringify({ error: { code: "seq_gap", message: "gap", expected_seq: 2 } }), {
        status: 409,
      });
    }
    return new Response(JSON.stringify({ ack: seqs.at(-1), abort: false }), { status: 200 });
  };
  const c = new EventClient({ url: "http://127.0.0.1:1/x", token: "t", fetch });
  c.token("a");
  c.emit("log", { stream: "system", text: "b" });
  await c.flush();
  expect(seen).toEqual([[1, 2], [2]]);
});
