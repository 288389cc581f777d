/**
 * `GET /api/sessions/:id/stream` with the real `eventsource` client and raw HTTP: start-of-stream
 * semantics, proxy-friendly framing, resuming after dropped connections with no gap and no
 * duplicate, `?lastEventId=`, `?follow=1`, visibility, and shutdown.
 */
import { EventSource } from "eventsource";
import { EVENT_TYPES, type StreamEvent } from "../../app/wire/protocol";
import { type AgentPlatform, type ApiClient, startAgentPlatform, startProxy } from "../helpers/agents";

let p: AgentPlatform;
let alice: ApiClient;

beforeAll(async () => {
  p = await startAgentPlatform({ sse: { heartbeatMs: 100 } });
  alice = await p.user("alice");
});
afterAll(() => p.close());

const newSession = async () => (await alice.ok("POST", "/api/sessions", {})).id as string;
const waitFor = async (cond: () => boolean, ms = 10_000) => {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
};

async function waitStatus(id: string, status: string) {
  const start = Date.now();
  while ((await alice.ok("GET", `/api/sessions/${id}`)).status !== status) {
    if (Date.now() - start > 10_000) throw new Error(`session never became ${status}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** An EventSource collecting every event; `opens` counts (re)connections. */
function collect(url: string, user = alice) {
  const es = new EventSource(url, { fetch: user.fetch });
  const got: StreamEvent[] = [];
  const state = { opens: 0, es, got };
  es.onopen = () => state.opens++;
  // `error` is also the EventSource's connection error (without data): only frames count.
  for (const type of EVENT_TYPES) es.addEventListener(type, (m) => m.data && got.push(JSON.parse(m.data)));
  return state;
}

/** Reads a raw stream until `until` matches the text so far (or it ends). */
async function readRaw(
  res: Response,
  until: (text: string) => boolean,
): Promise<{ text: string; ended: boolean }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return { text, ended: true };
    text += decoder.decode(value, { stream: true });
    if (until(text)) {
      void reader.cancel();
      return { text, ended: false };
    }
  }
}

describe("session stream", () => {
  it("waits with heartbeats for a first run, with proxy-safe headers, then streams it and ends", async () => {
    const id = await newSession();
    const res = await fetch(`${p.url}/api/sessions/${id}/stream`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(res.headers.get("cache-control")).toBe("no-cache, no-transform");
    expect(res.headers.get("x-accel-buffering")).toBe("no");
    expect(res.headers.get("content-encoding")).toBeNull();
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes(": heartbeat")) text += decoder.decode((await reader.read()).value);
    expect(text).toMatch(/^retry: 50\n/);

    await alice.ok("POST", `/api/sessions/${id}/run`, { message: "hi" });
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    const frames = text.split("\n\n").filter((f) => f.startsWith("id: "));
    expect(frames.map((f) => f.split("\n")[1])).toEqual(["event: token", "event: done"]);
    const token = JSON.parse(frames[0]!.split("\n")[2]!.slice("data: ".length));
    expect(token).toMatchObject({ type: "token", seq: 1, data: { text: "hello" } });
    expect(frames[0]!.startsWith(`id: ${token.id}\n`)).toBe(true);
  });

  it("replays a run that already finished from its start; a reconnect after its end gets 204", async () => {
    const id = await newSession();
    const next = p.executor.next();
    await alice.ok("POST", `/api/sessions/${id}/run`, { message: "hi" });
    await next;
    await waitStatus(id, "idle");
    const s = collect(`${p.url}/api/sessions/${id}/stream`);
    // The server ends the stream after `done`; the EventSource reconnects with Last-Event-ID, gets
    // 204 and stops for good.
    await waitFor(() => s.es.readyState === EventSource.CLOSED);
    expect(s.got.map((e) => [e.type, e.seq])).toEqual([
      ["token", 1],
      ["done", 2],
    ]);
    const again = await fetch(`${p.url}/api/sessions/${id}/stream?lastEventId=${s.got[1]!.id}`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    expect(again.status).toBe(204);
  });

  it("delivers every event of a burst exactly once, in order, across dropped connections", async () => {
    const proxy = await startProxy(p.url);
    const id = await newSession();
    const N = 200;
    p.executor.script = async (r) => {
      for (let i = 0; i < N; i += 5) {
        await r.tokens(Array.from({ length: 5 }, (_, k) => `t${i + k + 1} `));
        await r.sleep(4);
      }
      await r.event("done", { reason: "end_turn" });
    };
    const next = p.executor.next();
    await alice.ok("POST", `/api/sessions/${id}/run`, { message: "burst" });
    const s = collect(`${proxy.url}/api/sessions/${id}/stream`);
    await next;
    await waitFor(() => s.got.length >= 40);
    expect(proxy.cut()).toBeGreaterThan(0);
    await waitFor(() => s.got.length >= 130);
    expect(proxy.cut()).toBeGreaterThan(0);
    await waitFor(() => s.got.some((e) => e.type === "done"));
    s.es.close();
    await proxy.close();

    expect(s.opens).toBeGreaterThanOrEqual(3);
    expect(s.got.map((e) => e.seq)).toEqual(Array.from({ length: N + 1 }, (_, i) => i + 1));
    const ids = s.got.map((e) => e.id);
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("resumes a fresh EventSource from ?lastEventId= and ends after the run", async () => {
    const id = await newSession();
    p.executor.script = async (r) => {
      await r.tokens(Array.from({ length: 20 }, (_, i) => `${i + 1}`));
      await r.event("done", { reason: "end_turn" });
    };
    const first = collect(`${p.url}/api/sessions/${id}/stream`);
    await alice.ok("POST", `/api/sessions/${id}/run`, { message: "x" });
    await waitFor(() => first.got.length === 21);
    first.es.close();

    const tenth = first.got[9]!;
    const resumed = collect(`${p.url}/api/sessions/${id}/stream?lastEventId=${tenth.id}`);
    await waitFor(() => resumed.es.readyState === EventSource.CLOSED);
    expect(resumed.got.map((e) => e.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 11));
    expect(resumed.got.map((e) => e.id)).toEqual(first.got.slice(10).map((e) => e.id));
  });

  it("with ?follow=1 stays open and streams each later run", async () => {
    const id = await newSession();
    p.executor.script = async (r) => {
      await r.tokens([r.assignment.workload.type === "agent" ? "ok" : "?"]);
      await r.event("done", { reason: "end_turn" });
    };
    const s = collect(`${p.url}/api/sessions/${id}/stream?follow=1`);
    await waitFor(() => s.opens === 1);
    await alice.ok("POST", `/api/sessions/${id}/run`, { message: "one" });
    // The session is idle once `done` is visible: both are written in one transaction.
    await waitFor(() => s.got.filter((e) => e.type === "done").length === 1);
    await alice.ok("POST", `/api/sessions/${id}/run`, { message: "two" });
    await waitFor(() => s.got.filter((e) => e.type === "done").length === 2);
    expect(s.es.readyState).toBe(EventSource.OPEN);
    expect(s.opens).toBe(1);
    s.es.close();
    const runs = [...new Set(s.got.map((e) => e.workload_id))];
    expect(runs).toHaveLength(2);
    expect(s.got.map((e) => e.type)).toEqual(["token", "done", "token", "done"]);
  });

  it("refuses a Last-Event-ID of another session, and hides sessions from other users", async () => {
    const id = await newSession();
    const other = await newSession();
    const next = p.executor.next();
    await alice.ok("POST", `/api/sessions/${other}/run`, { message: "x" });
    await next;
    await waitStatus(other, "idle");
    const ev = await p.ctx.db.query<{ id: string }>(
      "SELECT e.id::text AS id FROM task_events e JOIN workloads w ON w.id = e.workload_id WHERE w.session_id = $1 LIMIT 1",
      [other],
    );
    const bad = await alice.request("GET", `/api/sessions/${id}/stream?lastEventId=${ev.rows[0]!.id}`);
    expect(bad.status).toBe(400);
    expect((await alice.request("GET", `/api/sessions/${id}/stream?lastEventId=abc`)).status).toBe(400);

    const bob = await p.user("bob");
    for (const [method, path] of [
      ["GET", ""],
      ["GET", "/messages"],
      ["GET", "/stream"],
      ["POST", "/abort"],
    ] as const) {
      expect([method, path, (await bob.request(method, `/api/sessions/${id}${path}`)).status]).toEqual([
        method,
        path,
        404,
      ]);
    }
    expect((await bob.request("POST", `/api/sessions/${id}/run`, { message: "x" })).status).toBe(404);
    expect((await bob.request("GET", "/api/sessions/not-a-uuid")).status).toBe(404);
    const anon = await fetch(`${p.url}/api/sessions/${id}`);
    expect(anon.status).toBe(401);
  });

  // Last: it closes the platform (afterAll's close is then a no-op).
  it("ends open streams cleanly on shutdown, so the server stops without waiting for them", async () => {
    const id = await newSession();
    const res = await fetch(`${p.url}/api/sessions/${id}/stream?follow=1`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    const reading = readRaw(res, () => false);
    const started = Date.now();
    await p.close();
    const { ended, text } = await reading;
    expect(ended).toBe(true);
    expect(text).toContain("retry:");
    // PLUE_SHUTDOWN_GRACE_MS is 10 s: a stream left open would have held close() that long.
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
