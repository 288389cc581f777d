/**
 * Abort and the dispatcher's backstops: a runner that stops when its ack says so, one that
 * ignores it (the executor stops it, the app ends the run), runners that die, and a server
 * without an executor. Every case must end the stream with one terminal event.
 */
import { EventSource } from "eventsource";
import { NoExecutor } from "../../app/dispatch/executors/no-executor";
import { EVENT_TYPES, type StreamEvent } from "../../app/wire/protocol";
import { type AgentPlatform, type ApiClient, startAgentPlatform } from "../helpers/agents";
import type { ScriptedRunner } from "../helpers/scripted-runner";

let p: AgentPlatform;
let alice: ApiClient;

beforeAll(async () => {
  p = await startAgentPlatform({ dispatcher: { abortGraceMs: 300, killGraceMs: 300 } });
  alice = await p.user("alice");
});
afterAll(() => p.close());

const waitFor = async (cond: () => boolean, ms = 10_000) => {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** Streams a session until the EventSource is closed by the server's end (204 on reconnect). */
function watch(sessionId: string) {
  const es = new EventSource(`${p.url}/api/sessions/${sessionId}/stream`, { fetch: alice.fetch });
  const got: StreamEvent[] = [];
  for (const type of EVENT_TYPES) es.addEventListener(type, (m) => m.data && got.push(JSON.parse(m.data)));
  return {
    got,
    ended: () => waitFor(() => es.readyState === EventSource.CLOSED),
  };
}

/** A runner that streams tokens every 20 ms until an ack says abort, then ends as aborted. */
const cooperative = async (r: ScriptedRunner) => {
  for (let i = 1; !r.abortRequested; i++) {
    await r.tokens([`w${i} `]);
    await r.sleep(20);
  }
  await r.event("done", { reason: "aborted" });
};

async function startRun(script: (r: ScriptedRunner) => Promise<void>) {
  p.executor.script = script;
  const id = (await alice.ok("POST", "/api/sessions", {})).id as string;
  const next = p.executor.next();
  const { workload_id } = await alice.ok("POST", `/api/sessions/${id}/run`, { message: "go" });
  return { id, workloadId: workload_id as string, runner: await next };
}

const workload = async (id: string) =>
  (
    await p.ctx.db.query<{ status: string; failure_reason: string | null; exit_code: number | null }>(
      "SELECT status, failure_reason, exit_code FROM workloads WHERE id = $1",
      [id],
    )
  ).rows[0]!;

describe("abort", () => {
  it("ends a run mid-stream with done {reason: aborted}; the runner learned it from its ack", async () => {
    const { id, workloadId, runner } = await startRun(cooperative);
    const s = watch(id);
    await waitFor(() => s.got.length >= 5);
    expect(await alice.request("POST", `/api/sessions/${id}/run`, { message: "again" })).toMatchObject({
      status: 409,
      body: { error: { code: "busy" } },
    });
    const abort = await alice.request("POST", `/api/sessions/${id}/abort`);
    expect(abort).toMatchObject({ status: 202, body: { workload_id: workloadId, status: "aborting" } });
    expect((await alice.ok("GET", `/api/sessions/${id}`)).status).toMatch(/aborting|aborted/);
    // Abort is idempotent while the run is still ending.
    expect([202, 409]).toContain((await alice.request("POST", `/api/sessions/${id}/abort`)).status);
    await s.ended();

    const last = s.got[s.got.length - 1]!;
    expect(last).toMatchObject({ type: "done", data: { reason: "aborted" } });
    expect(s.got.filter((e) => e.type === "done")).toHaveLength(1);
    expect(runner.acks.some((a) => a.abort)).toBe(true);
    expect(await workload(workloadId)).toMatchObject({ status: "aborted" });
    const session = await alice.ok("GET", `/api/sessions/${id}`);
    expect(session).toMatchObject({ status: "aborted", run: { workload_id: workloadId, status: "aborted" } });
    // What the agent said before the abort is kept in the history.
    const { messages } = await alice.ok("GET", `/api/sessions/${id}/messages`);
    expect(messages[1].role).toBe("assistant");
    expect(messages[1].parts[0].text).toMatch(/^w1 w2 w3 /);
    // A finished run cannot be aborted: a clear 409, not an error.
    expect(await alice.request("POST", `/api/sessions/${id}/abort`)).toMatchObject({
      status: 409,
      body: { error: { code: "not_running" } },
    });
  });

  it("stops a runner that ignores the abort through the executor, and still ends with done aborted", async () => {
    const { id, workloadId, runner } = await startRun(async (r) => {
      await r.tokens(["thinking..."]);
      await r.sleep(60_000); // a long model call: no more batches, so no ack to see the abort in
    });
    const s = watch(id);
    await waitFor(() => s.got.length === 1);
    const started = Date.now();
    await alice.ok("POST", `/api/sessions/${id}/abort`);
    await s.ended();
    expect(runner.killed.signal.aborted).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250); // it had its grace period first
    expect(s.got.map((e) => e.type)).toEqual(["token", "done"]);
    expect(s.got[1]!.data).toEqual({ reason: "aborted" });
    expect(await workload(workloadId)).toMatchObject({ status: "aborted" });
    expect((await alice.ok("GET", `/api/sessions/${id}`)).status).toBe("aborted");
  });

  it("aborting an idle session is a 409", async () => {
    const id = (await alice.ok("POST", "/api/sessions", {})).id;
    expect(await alice.request("POST", `/api/sessions/${id}/abort`)).toMatchObject({
      status: 409,
      body: { error: { code: "not_running" } },
    });
  });
});

describe("backstops", () => {
  it("fails a run whose runner exits without a terminal event, with the reason in the stream", async () => {
    const { id, workloadId } = await startRun(async (r) => {
      await r.tokens(["partial"]);
      throw new Error("runner crashed");
    });
    const s = watch(id);
    await s.ended();
    expect(s.got.map((e) => e.type)).toEqual(["token", "error"]);
    expect(s.got[1]!.data).toMatchObject({ code: "runner_lost" });
    expect((s.got[1]!.data as { message: string }).message).toContain("exit code 1");
    const w = await workload(workloadId);
    expect(w).toMatchObject({ status: "failed", exit_code: 1 });
    expect(w.failure_reason).toContain("without reporting an outcome");
    expect((await alice.ok("GET", `/api/sessions/${id}`)).status).toBe("failed");
    // A failed session takes the next message.
    expect((await alice.request("POST", `/api/sessions/${id}/run`, { message: "retry" })).status).toBe(202);
  });

  it("records the exit code of a runner that ended properly, without a second terminal event", async () => {
    const { id, workloadId } = await startRun(async (r) => {
      await r.event("done", { reason: "end_turn" });
    });
    const s = watch(id);
    await s.ended();
    let w = await workload(workloadId);
    for (let i = 0; i < 200 && w.exit_code === null; i++) {
      await new Promise((r) => setTimeout(r, 10));
      w = await workload(workloadId);
    }
    expect(s.got.map((e) => e.type)).toEqual(["done"]);
    expect(w).toMatchObject({ status: "succeeded", exit_code: 0, failure_reason: null });
  });

  it("fails a run at once when the executor refuses it, with the reason in the stream", async () => {
    p.executor.refuse = "no runner slots on this replica";
    try {
      const id = (await alice.ok("POST", "/api/sessions", {})).id;
      await alice.ok("POST", `/api/sessions/${id}/run`, { message: "hello?" });
      const res = await fetch(`${p.url}/api/sessions/${id}/stream`, {
        headers: { authorization: `Bearer ${alice.token}` },
      });
      const text = await res.text(); // the stream ends after the error event
      expect(text).toContain("event: error");
      expect(text).toContain("dispatch failed: no runner slots on this replica");
      expect(text).toContain('"code":"dispatch_failed"');
      expect((await alice.ok("GET", `/api/sessions/${id}`)).status).toBe("failed");
    } finally {
      p.executor.refuse = undefined;
    }
  });

  it("the app's NoExecutor refuses with a reason users understand", async () => {
    await expect(new NoExecutor().dispatch()).rejects.toThrow("no executor configured");
  });
});
