/**
 * The runner callback `POST /internal/tasks/:id/events` over real HTTP: idempotent appends, the
 * seq policy (retries ignored, gaps refused with the next expected seq), every bad-input case
 * storing nothing, and what ending a workload does (token cleared, history folded, status).
 */
import { workloadForTaskToken } from "../../app/dispatch/tokens";
import { MAX_BATCH_EVENTS } from "../../app/wire/protocol";
import { type AgentPlatform, type ApiClient, startAgentPlatform } from "../helpers/agents";
import type { ScriptedRunner } from "../helpers/scripted-runner";

let p: AgentPlatform;
let alice: ApiClient;

beforeAll(async () => {
  p = await startAgentPlatform({ env: { PLUE_MAX_BODY: "64kb" } });
  alice = await p.user("alice");
});
afterAll(() => p.close());

/** Starts a run whose runner waits until the test finishes it. */
async function startRun(): Promise<{ session: string; runner: ScriptedRunner; release(): void }> {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  p.executor.script = () => held;
  const next = p.executor.next();
  const session = (await alice.ok("POST", "/api/sessions", { title: "t" })).id as string;
  await alice.ok("POST", `/api/sessions/${session}/run`, { message: "hi" });
  return { session, runner: await next, release };
}

const tok = (seq: number, text = `t${seq}`) => ({ seq, type: "token", data: { text } });
const count = async (workloadId: string) =>
  Number(
    (
      await p.ctx.db.query<{ n: string }>(
        "SELECT count(*)::text AS n FROM task_events WHERE workload_id = $1",
        [workloadId],
      )
    ).rows[0]!.n,
  );

describe("POST /internal/tasks/:id/events", () => {
  it("stores a batch before acking, and a retried batch is stored once with the same ack", async () => {
    const { runner, release } = await startRun();
    const first = await runner.post({ events: [tok(1), tok(2), tok(3)] });
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ ack: 3, abort: false });
    expect(await count(runner.workloadId)).toBe(3);

    const retry = await runner.post({ events: [tok(1), tok(2), tok(3)] });
    expect(await retry.json()).toEqual({ ack: 3, abort: false });
    expect(await count(runner.workloadId)).toBe(3);

    // Overlapping: 2 and 3 are retries, 4 and 5 are new.
    const overlap = await runner.post({ events: [tok(2), tok(3), tok(4), tok(5)] });
    expect(await overlap.json()).toEqual({ ack: 5, abort: false });
    expect(await count(runner.workloadId)).toBe(5);
    const stored = await p.ctx.db.query<{ seq: number; data: { text: string } }>(
      "SELECT seq, data FROM task_events WHERE workload_id = $1 ORDER BY seq",
      [runner.workloadId],
    );
    expect(stored.rows.map((r) => r.data.text)).toEqual(["t1", "t2", "t3", "t4", "t5"]);

    // Concurrent retries of one batch serialise on the workload row: stored once.
    const racing = await Promise.all([1, 2, 3].map(() => runner.post({ events: [tok(6), tok(7)] })));
    expect(racing.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(await count(runner.workloadId)).toBe(7);
    release();
  });

  it("refuses a gap with 409 and the next expected seq, storing nothing", async () => {
    const { runner, release } = await startRun();
    await runner.post({ events: [tok(1), tok(2)] });
    const gap = await runner.post({ events: [tok(4), tok(5)] });
    expect(gap.status).toBe(409);
    expect((await gap.json()).error).toMatchObject({ code: "seq_gap", expected_seq: 3 });
    expect(await count(runner.workloadId)).toBe(2);
    const first = await (await startRun()).runner.post({ events: [tok(2)] });
    expect((await first.json()).error).toMatchObject({ code: "seq_gap", expected_seq: 1 });
    release();
  });

  it("rejects malformed and inconsistent batches with 400 and stores none of them", async () => {
    const { runner, release } = await startRun();
    await runner.post({ events: [tok(1)] });
    const cases: Array<[unknown, string]> = [
      [{ events: [tok(2), tok(4)] }, "invalid_batch"], // not consecutive
      [{ events: [tok(3), tok(2)] }, "invalid_batch"], // out of order
      [{ events: [tok(2), tok(2)] }, "invalid_batch"], // duplicate inside the batch
      [{ events: [{ seq: 2, type: "done", data: { reason: "end_turn" } }, tok(3)] }, "invalid_batch"],
      [{ events: [tok(2), { seq: 3, type: "nonsense", data: {} }] }, "invalid_request"],
      [{ events: [tok(2), { seq: 3, type: "token", data: { text: 5 } }] }, "invalid_request"],
      [{ events: [{ seq: 0, type: "token", data: { text: "x" } }] }, "invalid_request"],
      [{ events: [{ seq: 2.5, type: "token", data: { text: "x" } }] }, "invalid_request"],
      [{ events: [] }, "invalid_request"],
      [{}, "invalid_request"],
      [[tok(2)], "invalid_request"],
    ];
    for (const [body, code] of cases) {
      const res = await runner.post(body);
      expect([res.status, (await res.json()).error.code, JSON.stringify(body)]).toEqual([
        400,
        code,
        JSON.stringify(body),
      ]);
    }
    const notJson = await runner.post(undefined, { raw: "{events: [" });
    expect(notJson.status).toBe(400);
    expect((await notJson.json()).error.code).toBe("malformed_json");
    expect(await count(runner.workloadId)).toBe(1);
    // The workload still works after all that.
    expect(await (await runner.post({ events: [tok(2)] })).json()).toEqual({ ack: 2, abort: false });
    release();
  });

  it("rejects oversized batches with 413", async () => {
    const { runner, release } = await startRun();
    const many = Array.from({ length: MAX_BATCH_EVENTS + 1 }, (_, i) => tok(i + 1, "x"));
    const tooMany = await runner.post({ events: many });
    expect(tooMany.status).toBe(413);
    expect((await tooMany.json()).error.message).toContain(`at most ${MAX_BATCH_EVENTS}`);
    const tooBig = await runner.post({ events: [tok(1, "y".repeat(100_000))] });
    expect(tooBig.status).toBe(413);
    expect(await count(runner.workloadId)).toBe(0);
    release();
  });

  it("authenticates the task token: 401 missing or wrong, 403 another workload's, 404 unknown workload", async () => {
    const a = await startRun();
    const b = await startRun();
    const body = { events: [tok(1)] };
    const status = async (res: Promise<Response>) => {
      const r = await res;
      return [r.status, (await r.json()).error.code];
    };
    expect(await status(a.runner.post(body, { token: null }))).toEqual([401, "unauthorized"]);
    expect(await status(a.runner.post(body, { token: "plue_task_wrong" }))).toEqual([401, "unauthorized"]);
    expect(await status(a.runner.post(body, { token: alice.token }))).toEqual([401, "unauthorized"]);
    expect(await status(a.runner.post(body, { token: b.runner.assignment.token }))).toEqual([
      403,
      "forbidden",
    ]);
    const unknown = a.runner.assignment.callback_url.replace(a.runner.workloadId, crypto.randomUUID());
    expect(await status(a.runner.post(body, { url: unknown }))).toEqual([404, "not_found"]);
    const junk = a.runner.assignment.callback_url.replace(a.runner.workloadId, "not-a-uuid");
    expect(await status(a.runner.post(body, { url: junk }))).toEqual([404, "not_found"]);
    expect(await count(a.runner.workloadId)).toBe(0);
    a.release();
    b.release();
  });

  it("ends the workload on its terminal event: token cleared, history folded, session idle", async () => {
    const { session, runner, release } = await startRun();
    const grant = await workloadForTaskToken(p.ctx.db, runner.assignment.token);
    expect(grant).toMatchObject({
      workloadId: runner.workloadId,
      type: "agent",
      sessionId: session,
      repoId: null,
    });

    await runner.tokens(["Let me ", "look."]);
    await runner.event("tool_start", { id: "tu1", name: "read_file", input: { path: "README.md" } });
    await runner.event("tool_end", { id: "tu1", name: "read_file", output: "# Hello", is_error: false });
    await runner.tokens(["It says hello."]);
    const ack = await runner.event("done", {
      reason: "end_turn",
      usage: { input_tokens: 10, output_tokens: 5 },
    });
    expect(ack).toEqual({ ack: 6, abort: false });

    const w = await p.ctx.db.query<{ status: string; token_hash: unknown; ended_at: unknown }>(
      "SELECT status, token_hash, ended_at FROM workloads WHERE id = $1",
      [runner.workloadId],
    );
    expect(w.rows[0]).toMatchObject({ status: "succeeded", token_hash: null });
    expect(w.rows[0]!.ended_at).not.toBeNull();
    expect(await workloadForTaskToken(p.ctx.db, runner.assignment.token)).toBeUndefined();
    expect((await alice.ok("GET", `/api/sessions/${session}`)).status).toBe("idle");

    const { messages } = await alice.ok("GET", `/api/sessions/${session}/messages`);
    expect(messages.map((m: { role: string; parts: unknown[] }) => [m.role, m.parts])).toEqual([
      ["user", [{ type: "text", text: "hi" }]],
      [
        "assistant",
        [
          { type: "text", text: "Let me look." },
          { type: "tool_use", id: "tu1", name: "read_file", input: { path: "README.md" } },
        ],
      ],
      ["user", [{ type: "tool_result", tool_use_id: "tu1", content: "# Hello", is_error: false }]],
      ["assistant", [{ type: "text", text: "It says hello." }]],
    ]);

    // The final ack was lost: the retry learns the workload ended and what was stored.
    const retry = await runner.post({ events: [{ seq: 6, type: "done", data: { reason: "end_turn" } }] });
    expect(retry.status).toBe(409);
    expect((await retry.json()).error).toMatchObject({ code: "workload_ended", ack: 6 });
    const late = await runner.post({ events: [tok(7)] });
    expect(late.status).toBe(409);
    expect(await count(runner.workloadId)).toBe(6);
    release();
  });

  it("carries the history of earlier runs into the next assignment", async () => {
    const { session, runner, release } = await startRun();
    await runner.tokens(["first answer"]);
    await runner.event("done", { reason: "end_turn" });
    release();
    p.executor.script = async () => {};
    const next = p.executor.next();
    await alice.ok("POST", `/api/sessions/${session}/run`, { message: "again" });
    const second = await next;
    expect(second.assignment.workload).toMatchObject({
      type: "agent",
      session_id: session,
      model: p.ctx.config.PLUE_MODEL,
      limits: { max_turns: 20 },
      messages: [
        { role: "user", parts: [{ type: "text", text: "hi" }] },
        { role: "assistant", parts: [{ type: "text", text: "first answer" }] },
        { role: "user", parts: [{ type: "text", text: "again" }] },
      ],
    });
    expect(second.assignment.callback_url).toBe(`${p.url}/internal/tasks/${second.workloadId}/events`);
  });
});

describe("GET /internal/tasks/:id/abort", () => {
  const poll = (runner: ScriptedRunner, query = "", token: string | null = runner.assignment.token) =>
    fetch(`${runner.assignment.abort_url}${query}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });

  it("answers false when the wait ends, and true as soon as the workload is aborted", async () => {
    const { session, runner, release } = await startRun();
    expect(runner.assignment.abort_url).toBe(`${p.url}/internal/tasks/${runner.workloadId}/abort`);
    const quiet = await poll(runner, "?wait=0");
    expect([quiet.status, await quiet.json()]).toEqual([200, { abort: false }]);

    const waiting = poll(runner, "?wait=30");
    await new Promise((r) => setTimeout(r, 100)); // the poll is open before the abort
    await alice.ok("POST", `/api/sessions/${session}/abort`);
    const heard = await waiting; // well before its 30 s
    expect(await heard.json()).toEqual({ abort: true });
    expect(await (await poll(runner, "?wait=30")).json()).toEqual({ abort: true }); // already aborting
    release();
  });

  it("refuses a missing token, another workload's token, a bad wait and an ended workload", async () => {
    const a = await startRun();
    const b = await startRun();
    const status = async (res: Promise<Response>) => {
      const r = await res;
      return [r.status, (await r.json()).error.code];
    };
    expect(await status(poll(a.runner, "?wait=0", null))).toEqual([401, "unauthorized"]);
    expect(await status(poll(a.runner, "?wait=0", b.runner.assignment.token))).toEqual([403, "forbidden"]);
    for (const wait of ["x", "61", "-1", "1.5"]) {
      expect(await status(poll(a.runner, `?wait=${wait}`))).toEqual([400, "invalid_request"]);
    }
    await a.runner.event("done", { reason: "end_turn" });
    expect(await status(poll(a.runner, "?wait=0"))).toEqual([401, "unauthorized"]);
    a.release();
    b.release();
  });
});
