/**
 * The warm pool over HTTP on a real server: registration and its refusals, the long-poll as
 * heartbeat, tokens scoped to one runner, claims served by pre-started runners, the queue and
 * cold starts, abort (queued, through the ack, through the heartbeat), and the reaper (silent
 * runners, vanished runners before and after their workload started, the queue timeout).
 * Runners are the real standby client with scripted workloads (test/helpers/standby-runner.ts).
 */
import { registry } from "../../app/metrics";
import { Limits, PoolRejection, RegisterResponse } from "../../app/wire/protocol";
import type { RunnerScript, ScriptedRunner } from "../helpers/scripted-runner";
import { POOL_SECRET, type PoolPlatform, startPoolPlatform, waitFor } from "../helpers/standby-runner";

/**
 * One server for most tests (each sets the pool size, script and cold starts it needs), and one
 * with a one-second queue timeout. Short periods: runners poll for 1 s, silent after 2 s.
 */
let p: PoolPlatform;
let short: PoolPlatform;
const quick: RunnerScript = async (r) => {
  await r.tokens(["hello"]);
  await r.event("done", { reason: "end_turn" });
};
beforeAll(async () => {
  p = await startPoolPlatform({ size: 0, coldStartAfterMs: 200, abortGraceMs: 1500 });
  short = await startPoolPlatform({ size: 1, queueTimeoutSeconds: 1, name: "s" });
});
afterAll(async () => {
  await Promise.all([p?.close(), short?.close()]);
});
beforeEach(() => {
  p.backend.opts.script = quick;
  p.backend.opts.coldStarts = false;
});

/** Keeps `n` standby runners and waits until exactly that many are registered and free. */
async function standing(n: number, on = p): Promise<void> {
  on.backend.resize(n);
  await waitFor(async () => (await on.count("available")) === n, 10_000, `${n} standby runners`);
}

/** A counter's or histogram count's current value, for before/after comparisons. */
async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const m = await registry.getSingleMetric(name)!.get();
  const value = m.values.find(
    (v) =>
      (name.endsWith("_seconds") ? (v as { metricName?: string }).metricName === `${name}_count` : true) &&
      Object.entries(labels).every(([k, x]) => v.labels[k] === x),
  );
  return value?.value ?? 0;
}

async function register(body: unknown, secret: string | null = POOL_SECRET) {
  const res = await fetch(`${p.url}/internal/runners/register`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(secret ? { authorization: `Bearer ${secret}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const call = (method: string, path: string, token?: string) =>
  fetch(p.url + path, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

const refusal = async (res: Response) => PoolRejection.parse(await res.json()).error.code;

/** Starts a session run; returns its workload id. */
async function run(on = p, message = "hi"): Promise<string> {
  const client = await on.user(`u-${Math.random().toString(36).slice(2, 8)}`);
  const session = await client.ok("POST", "/api/sessions", {});
  return (await client.ok("POST", `/api/sessions/${session.id}/run`, { message })).workload_id;
}

/** A gate a script waits on. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe("registration and the long-poll", () => {
  beforeAll(() => standing(0));

  it("refuses a missing or wrong pool secret before looking at the body, and a malformed registration", async () => {
    const none = await register({ pod_name: "a" }, null);
    expect(none.status).toBe(401);
    expect(PoolRejection.parse(none.body).error.code).toBe("unauthorized");
    expect((await register({ pod_name: "a" }, "wrong-secret-wrong-secret")).status).toBe(401);
    expect((await register({ pod_name: "bad name!" }, "wrong-secret-wrong-secret")).status).toBe(401);
    const bad = await register({ pod_name: "bad name!", task_id: "nope" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/pod_name/);
    expect(bad.body.error.message).toMatch(/task_id/);
  });

  it("long-polls as a heartbeat and accepts only the runner's own token", async () => {
    const a = RegisterResponse.parse((await register({ pod_name: "manual-a", pod_ip: "10.0.0.7" })).body);
    const b = RegisterResponse.parse((await register({ pod_name: "manual-b" })).body);
    expect(a.poll_seconds).toBe(1);
    expect(a.token).not.toBe(b.token);
    const stored = await p.ctx.db.query<{ token_hash: Uint8Array; pod_ip: string }>(
      "SELECT token_hash, pod_ip FROM runner_pool WHERE id = $1",
      [a.runner_id],
    );
    expect(Buffer.from(stored.rows[0]!.token_hash).includes(Buffer.from(a.token))).toBe(false); // hashed
    expect(stored.rows[0]!.pod_ip).toBe("10.0.0.7");

    const beatBefore = await heartbeatOf(a.runner_id);
    const started = Date.now();
    const poll = await call("GET", `/internal/runners/${a.runner_id}/assignment?wait=1`, a.token);
    expect(poll.status).toBe(204);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900); // it waited
    expect((await heartbeatOf(a.runner_id)).getTime()).toBeGreaterThan(beatBefore.getTime());

    const path = `/internal/runners/${a.runner_id}/assignment?wait=0`;
    const other = await call("GET", path, b.token);
    expect([other.status, await refusal(other)]).toEqual([403, "forbidden"]);
    const forged = await call("GET", path, "plue_runner_forged");
    expect([forged.status, await refusal(forged)]).toEqual([401, "unauthorized"]);
    expect((await call("GET", path)).status).toBe(401);
    expect((await call("GET", path, "plue_task_not-a-runner-token")).status).toBe(401);
    const unknown = await call("GET", `/internal/runners/${crypto.randomUUID()}/assignment`, "plue_runner_x");
    expect([unknown.status, await refusal(unknown)]).toEqual([404, "not_found"]);
    const badWait = await call("GET", `/internal/runners/${a.runner_id}/assignment?wait=soon`, a.token);
    expect([badWait.status, await refusal(badWait)]).toEqual([400, "invalid_request"]);

    const beat = await call("POST", `/internal/runners/${a.runner_id}/heartbeat`, a.token);
    expect(await beat.json()).toEqual({ status: "available", abort: false });
    for (const r of [a, b])
      expect((await call("DELETE", `/internal/runners/${r.runner_id}`, r.token)).status).toBe(204);
    const gone = await call("GET", path, a.token);
    expect([gone.status, await refusal(gone)]).toEqual([410, "runner_terminated"]);
  });

  it("refuses a cold runner whose workload is not waiting", async () => {
    const r = await register({ pod_name: "cold-x", task_id: crypto.randomUUID() });
    expect([r.status, r.body.error.code]).toEqual([409, "task_taken"]);
    const row = await p.ctx.db.query("SELECT 1 FROM runner_pool WHERE pod_name = 'cold-x'");
    expect(row.rowCount).toBe(0); // refused registrations leave nothing behind
  });
});

async function heartbeatOf(id: string): Promise<Date> {
  const r = await p.ctx.db.query<{ last_heartbeat: Date }>(
    "SELECT last_heartbeat FROM runner_pool WHERE id = $1",
    [id],
  );
  return new Date(r.rows[0]!.last_heartbeat);
}

describe("claims", () => {
  it("serves a run from a pre-started runner, seals what it stores, and refills the pool", async () => {
    const hold = gate();
    let seen: ScriptedRunner | undefined;
    p.backend.opts.script = async (r) => {
      seen = r;
      await hold.opened;
      await quick(r);
    };
    await standing(2);
    const started = p.backend.all.map((r) => r.pod);
    const id = await run();
    await waitFor(() => seen !== undefined, 5000, "the assignment");
    const claim = await p.ctx.db.query<{
      pod_name: string;
      assignment: Uint8Array;
      delivered_at: Date | null;
    }>(
      "SELECT pod_name, assignment, delivered_at FROM runner_pool WHERE claimed_by_task_id = $1 AND status = 'claimed'",
      [id],
    );
    expect(claim.rowCount).toBe(1);
    expect(started).toContain(claim.rows[0]!.pod_name); // started before the run existed
    const sealed = Buffer.from(claim.rows[0]!.assignment);
    expect(sealed.includes(Buffer.from(seen!.assignment.token))).toBe(false);
    expect(sealed.includes(Buffer.from("callback_url"))).toBe(false);
    expect(seen!.assignment.workload.id).toBe(id);
    const delivered = () =>
      p.ctx.db.query("SELECT 1 FROM runner_pool WHERE claimed_by_task_id = $1 AND delivered_at IS NOT NULL", [
        id,
      ]);
    await waitFor(async () => (await delivered()).rowCount === 1, 5000, "the delivery to be recorded");
    hold.open();
    expect((await p.ended(id)).status).toBe("succeeded");
    // Single-use: the runner left after its workload, and a fresh one took its place.
    const usedRunner = () =>
      p.ctx.db.query<{ status: string; assignment: Uint8Array | null }>(
        "SELECT status, assignment FROM runner_pool WHERE claimed_by_task_id = $1",
        [id],
      );
    await waitFor(
      async () => (await usedRunner()).rows[0]?.status === "terminated",
      5000,
      "the runner to leave",
    );
    expect((await usedRunner()).rows).toEqual([{ status: "terminated", assignment: null }]);
    await waitFor(async () => (await p.count("available")) === 2, 10_000, "the pool to refill");
    const used = await register({ pod_name: claim.rows[0]!.pod_name });
    expect([used.status, used.body.error.code]).toEqual([409, "pod_used"]);
    const metrics = await (await fetch(`${p.url}/metrics`)).text();
    expect(metrics).toMatch(/plue_runner_pool_runners\{status="available"\} \d/);
    expect(metrics).toMatch(/plue_runner_claim_seconds_count\{path="warm"\} [1-9]\d*/);
  });

  it("claims a burst of dispatches together, one runner each", async () => {
    await standing(5);
    const assignments = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const session = crypto.randomUUID();
        await p.ctx.db.query("INSERT INTO sessions (id) VALUES ($1)", [session]);
        return p.ctx.db.transaction((tx) =>
          p.ctx.dispatcher.create(tx, {
            type: "agent",
            session_id: session,
            model: "m",
            messages: [{ role: "user", parts: [{ type: "text", text: "burst" }] }],
            limits: Limits.parse({}),
          }),
        );
      }),
    );
    // Dispatched in one tick: the first claim goes alone, the rest together while it is in flight.
    await Promise.all(assignments.map((a) => p.ctx.dispatcher.dispatch(a)));
    const ids = assignments.map((a) => a.workload.id);
    for (const id of ids) expect((await p.ended(id)).status).toBe("succeeded");
    const holders = ids.map((id) => p.backend.holding(id)!.pod);
    expect(new Set(holders).size).toBe(5);
  });

  it("delivers an assignment too large to ride in the claim signal by reading it back", async () => {
    const got: ScriptedRunner[] = [];
    p.backend.opts.script = async (r) => {
      got.push(r);
      await quick(r);
    };
    await standing(1);
    const message = "x".repeat(12_000); // sealed, well over what a NOTIFY payload may carry
    const id = await run(p, message);
    expect((await p.ended(id)).status).toBe("succeeded");
    expect(JSON.stringify(got[0]!.assignment.workload)).toContain(message);
  });

  it("queues a workload when no runner is free; the next runner to poll takes it", async () => {
    const queuedBefore = await metric("plue_runner_claim_seconds", { path: "queued" });
    const hold = gate();
    p.backend.opts.script = async (r) => {
      await hold.opened;
      await quick(r);
    };
    await standing(1);
    p.backend.opts.size = 0; // no refill for now
    const first = await run();
    const second = await run();
    const queued = await p.ctx.db.query("SELECT workload_id FROM runner_queue");
    expect(queued.rows).toEqual([{ workload_id: second }]);
    p.backend.resize(1); // the runner started now takes the second
    await waitFor(() => p.backend.holding(second) !== undefined, 5000, "the queued claim");
    hold.open();
    expect((await p.ended(first)).status).toBe("succeeded");
    expect((await p.ended(second)).status).toBe("succeeded");
    expect(p.backend.coldStarted).toEqual([]);
    const r = await p.ctx.db.query<{ queued: boolean }>(
      "SELECT dispatched_at < claimed_at AS queued FROM runner_pool WHERE claimed_by_task_id = $1",
      [second],
    );
    expect(r.rows).toEqual([{ queued: true }]);
    expect(await metric("plue_runner_claim_seconds", { path: "queued" })).toBeGreaterThan(queuedBefore);
  });

  it("cold-starts a runner for a workload no pool runner took within the short wait", async () => {
    const coldBefore = await metric("plue_runner_cold_starts_total", { backend: "local" });
    await standing(0);
    p.backend.opts.coldStarts = true;
    const [a, b] = [await run(), await run()];
    for (const id of [a, b]) expect((await p.ended(id)).status).toBe("succeeded");
    expect(p.backend.coldStarted.slice(-2).sort()).toEqual([a, b].sort());
    const cold = await p.ctx.db.query<{ claimed_by_task_id: string; pod_name: string }>(
      "SELECT claimed_by_task_id, pod_name FROM runner_pool WHERE cold ORDER BY claimed_at",
    );
    expect(cold.rows.map((r) => r.claimed_by_task_id).sort()).toEqual([a, b].sort());
    for (const row of cold.rows) {
      expect(p.backend.all.find((r) => r.pod === row.pod_name)?.taskId).toBe(row.claimed_by_task_id);
    }
    expect(await metric("plue_runner_cold_starts_total", { backend: "local" })).toBe(coldBefore + 2);
  });
});

describe("abort", () => {
  it("drops a queued workload, and stops a claimed one through its ack or its heartbeat", async () => {
    p.backend.opts.script = async (r) => {
      // Either sends tokens until an ack says abort, or sends nothing and waits to be stopped.
      const chatty = JSON.stringify(r.assignment.workload).includes('"hi"');
      while (!r.abortRequested) {
        if (chatty) await r.tokens(["."]);
        await r.sleep(50);
      }
      await r.event("done", { reason: "aborted" });
    };
    await standing(1);
    const client = await p.user("aborter");
    const start = async (message: string) => {
      const s = await client.ok("POST", "/api/sessions", {});
      const { workload_id } = await client.ok("POST", `/api/sessions/${s.id}/run`, { message });
      return { session: s.id as string, id: workload_id as string };
    };
    const chatty = await start("hi");
    await waitFor(async () => (await p.workload(chatty.id)).status === "running", 5000, "the first token");
    await waitFor(async () => (await p.count("available")) === 1, 10_000, "the refill");
    const quiet = await start("quiet"); // the refilled runner takes it, and sends nothing
    await waitFor(() => p.backend.holding(quiet.id) !== undefined, 5000, "the second claim");
    p.backend.opts.size = 0;
    await standing(0);
    const queued = await start("queued"); // nothing free: it waits in the queue
    await client.ok("POST", `/api/sessions/${queued.session}/abort`);
    await client.ok("POST", `/api/sessions/${chatty.session}/abort`);
    await client.ok("POST", `/api/sessions/${quiet.session}/abort`);
    expect(await p.ended(queued.id)).toMatchObject({ status: "aborted" });
    expect(await p.ended(chatty.id)).toMatchObject({ status: "aborted" });
    expect(await p.ended(quiet.id)).toMatchObject({ status: "aborted" });
    // The quiet runner learned it from its heartbeat and stopped before the executor had to.
    const quietRunner = p.backend.holding(quiet.id)!;
    expect(await quietRunner.done).toBe(3); // ExitCode.aborted
    expect(p.backend.stopped).not.toContain(quietRunner.pod);
  });
});

describe("reaper", () => {
  it("fails a started workload whose runner went silent, and re-queues one that never started", async () => {
    const reapedBefore = await metric("plue_runner_reaped_total", { reason: "silent" });
    const runnersOf: ScriptedRunner[] = [];
    const asked: Record<string, number> = {};
    p.backend.opts.script = async (r) => {
      runnersOf.push(r);
      if (runnersOf.length === 1) {
        p.backend.vanish(p.backend.holding(r.workloadId)!.pod); // lost before sending anything
        return;
      }
      // While the workload runs again, each runner's token is tried on its events callback.
      asked.lost = (
        await runnersOf[0]!.post({ events: [{ seq: 1, type: "token", data: { text: "x" } }] })
      ).status;
      await quick(r);
    };
    await standing(1);
    const requeued = await run();
    expect((await p.ended(requeued, 15_000)).status).toBe("succeeded");
    // The re-queued workload went out under a new task token; the lost runner's copy opened nothing.
    expect(runnersOf[1]!.assignment.token).not.toBe(runnersOf[0]!.assignment.token);
    expect(asked.lost).toBe(401);
    const held = () =>
      p.ctx.db.query<{ status: string; terminated_reason: string }>(
        "SELECT status, terminated_reason FROM runner_pool WHERE claimed_by_task_id = $1 ORDER BY claimed_at",
        [requeued],
      );
    await waitFor(
      async () => (await held()).rows.every((r) => r.status === "terminated"),
      5000,
      "runners to leave",
    );
    const runners = await held();
    expect(runners.rows.map((r) => r.status)).toEqual(["terminated", "terminated"]);
    expect(runners.rows[0]!.terminated_reason).toMatch(/stopped responding/);

    p.backend.opts.script = async (r) => {
      await r.tokens(["working"]);
      p.backend.vanish(p.backend.holding(r.workloadId)!.pod); // lost mid-run
      await r.sleep(60_000);
    };
    await waitFor(async () => (await p.count("available")) === 1, 10_000, "a standby runner");
    const lost = await run();
    const end = await p.ended(lost, 15_000);
    expect(end.status).toBe("failed");
    expect(end.failure_reason).toMatch(/runner r-\d+ stopped responding \(no heartbeat for 2 s\)/);
    await waitFor(async () => (await p.count("available")) === 1, 10_000, "the pool to refill");
    expect(await metric("plue_runner_reaped_total", { reason: "silent" })).toBeGreaterThanOrEqual(
      reapedBefore + 2,
    );
  });

  it("stops a runner that overran its workload's deadline and fails the workload", async () => {
    p.backend.opts.script = async (r) => {
      await r.tokens(["working"]);
      await r.sleep(60_000); // stuck, though still heartbeating
    };
    await standing(1);
    const id = await run();
    await waitFor(async () => (await p.workload(id)).status === "running", 5000, "the first token");
    const runner = p.backend.holding(id)!;
    // Its deadline (wall time + grace) passes: moved here rather than waited for.
    await p.ctx.db.query(
      "UPDATE runner_pool SET deadline_at = now() - interval '1 second' WHERE claimed_by_task_id = $1",
      [id],
    );
    const overdueBefore = await metric("plue_runner_reaped_total", { reason: "overdue" });
    await p.executor.reaper.sweep();
    const end = await p.ended(id);
    expect(end.status).toBe("failed");
    expect(end.failure_reason).toMatch(/runner r-\d+ overran its workload's time limit/);
    expect(p.backend.stopped).toContain(runner.pod);
    expect(await metric("plue_runner_reaped_total", { reason: "overdue" })).toBe(overdueBefore + 1);
  });

  it("reaps idle runners that stopped polling, and fails what no runner took in time", async () => {
    await standing(1, short);
    const idle = short.backend.all[0]!;
    short.backend.opts.size = 0;
    short.backend.vanish(idle.pod);
    await waitFor(async () => (await short.count("available")) === 0, 6000, "the silent runner to be reaped");
    const row = await short.ctx.db.query<{ terminated_reason: string }>(
      "SELECT terminated_reason FROM runner_pool WHERE pod_name = $1",
      [idle.pod],
    );
    expect(row.rows[0]!.terminated_reason).toMatch(/stopped responding/);
    const id = await run(short);
    const end = await short.ended(id, 6000);
    expect(end).toMatchObject({ status: "failed" });
    expect(end.failure_reason).toMatch(/no runner became available within 1 s/);
  });
});
