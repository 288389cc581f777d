/**
 * Two app replicas on one PostgreSQL (needs PLUE_TEST_POSTGRES_URL or DATABASE_URL): the runner
 * posts to replica A while clients stream from replica B, live, through LISTEN/NOTIFY; an abort
 * taken by B reaches the runner through A's ack; a replica restarting mid-run loses nothing.
 */
import { EventSource } from "eventsource";
import { openDb } from "../../app/db";
import { EVENT_TYPES, type StreamEvent } from "../../app/wire/protocol";
import { type AgentPlatform, ApiClient, startAgentPlatform } from "../helpers/agents";
import { createPostgresDatabase } from "../helpers/db";

let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
let a: AgentPlatform;
let b: AgentPlatform;
let aliceA: ApiClient;
let aliceB: ApiClient;

const replica = async () =>
  startAgentPlatform({
    db: await openDb({ url: database.url, poolSize: 4 }),
    dispatcher: { abortGraceMs: 3000, killGraceMs: 1000 },
  });

beforeAll(async () => {
  database = await createPostgresDatabase();
  a = await replica();
  b = await replica();
  aliceA = await a.user("alice");
  aliceB = new ApiClient(b.url, aliceA.token); // same user, same token, other replica
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await database?.drop();
});

const waitFor = async (cond: () => boolean, ms = 10_000) => {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
};

function watch(url: string, client: ApiClient) {
  const es = new EventSource(url, { fetch: client.fetch });
  const got: StreamEvent[] = [];
  for (const type of EVENT_TYPES) es.addEventListener(type, (m) => m.data && got.push(JSON.parse(m.data)));
  return { es, got, closed: () => waitFor(() => es.readyState === EventSource.CLOSED) };
}

describe("two replicas on one Postgres", () => {
  it("streams live from B what the runner posts to A, exactly once", async () => {
    expect(a.ctx.db.kind).toBe("postgres");
    const id = (await aliceA.ok("POST", "/api/sessions", {})).id;
    const seen: number[] = [];
    let latest = 0;
    a.executor.script = async (r) => {
      // One batch at a time, each only after B's client saw the previous one: delivery is live.
      for (let i = 1; i <= 20; i++) {
        await r.tokens([`t${i}`]);
        const deadline = Date.now() + 5000;
        while (latest < i && Date.now() < deadline) await r.sleep(5);
        seen.push(latest);
      }
      await r.event("done", { reason: "end_turn" });
    };
    const s = watch(`${b.url}/api/sessions/${id}/stream?follow=1`, aliceB);
    const opened = new Promise((r) => (s.es.onopen = r));
    await opened;
    for (const type of ["token"]) s.es.addEventListener(type, () => (latest = s.got.length));
    const next = a.executor.next();
    await aliceA.ok("POST", `/api/sessions/${id}/run`, { message: "go" });
    const runner = await next;
    expect(runner.assignment.callback_url.startsWith(a.url)).toBe(true);
    await waitFor(() => s.got.some((e) => e.type === "done"));
    s.es.close();
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(s.got.map((e) => e.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    expect((await aliceB.ok("GET", `/api/sessions/${id}`)).status).toBe("idle");
  });

  it("an abort taken by B reaches the runner through its ack from A", async () => {
    const id = (await aliceA.ok("POST", "/api/sessions", {})).id;
    a.executor.script = async (r) => {
      for (let i = 1; !r.abortRequested; i++) {
        await r.tokens([`w${i}`]);
        await r.sleep(20);
      }
      await r.event("done", { reason: "aborted" });
    };
    const next = a.executor.next();
    await aliceA.ok("POST", `/api/sessions/${id}/run`, { message: "go" });
    const runner = await next;
    const s = watch(`${b.url}/api/sessions/${id}/stream`, aliceB);
    await waitFor(() => s.got.length >= 3);
    await aliceB.ok("POST", `/api/sessions/${id}/abort`);
    await s.closed();
    expect(runner.killed.signal.aborted).toBe(false); // it stopped by itself, within the grace period
    expect(s.got[s.got.length - 1]).toMatchObject({ type: "done", data: { reason: "aborted" } });
    expect((await aliceA.ok("GET", `/api/sessions/${id}`)).status).toBe("aborted");
  });

  it("loses nothing when the replica a client streams from goes away mid-run", async () => {
    const c = await replica();
    const id = (await aliceA.ok("POST", "/api/sessions", {})).id;
    let release!: () => void;
    const half = new Promise<void>((r) => (release = r));
    a.executor.script = async (r) => {
      for (let i = 1; i <= 30; i++) await r.tokens([`t${i}`]);
      await half;
      for (let i = 31; i <= 60; i++) await r.tokens([`t${i}`]);
      await r.event("done", { reason: "end_turn" });
    };
    await aliceA.ok("POST", `/api/sessions/${id}/run`, { message: "go" });
    const first = watch(`${c.url}/api/sessions/${id}/stream`, aliceA);
    await waitFor(() => first.got.length === 30);
    await c.close(); // the stream ends; an EventSource would now reconnect, through a balancer, elsewhere
    first.es.close();
    release();
    const resumed = watch(`${b.url}/api/sessions/${id}/stream?lastEventId=${first.got[29]!.id}`, aliceB);
    await resumed.closed();
    expect([...first.got, ...resumed.got].map((e) => e.seq)).toEqual(
      Array.from({ length: 61 }, (_, i) => i + 1),
    );
  });
});
