/**
 * The warm pool over HTTP on a real server: registration and its refusals, the long-poll as
 * heartbeat, tokens scoped to one runner, claims served by pre-started runners, the queue and
 * cold starts, abort (queued, through the ack, through the heartbeat), and the reaper (silent
 * runners, vanished runners before and after their workload started, the queue timeout).
 * Runners are the real standby client with scripted workloads (test/helpers/standby-runner.ts).
 */
import { registry } from "../../app/metrics";
import { PoolRejection, RegisterResponse } from "../../app/wire/protocol";
import type { ScriptedRunner } from "../helpers/scripted-runner";
import {
  POOL_SECRET,
  type PoolPlatform,
  type PoolPlatformOptions,
  startPoolPlatform,
  waitFor,
} from "../helpers/standby-runner";

const platforms: PoolPlatform[] = [];
afterAll(async () => {
  await Promise.all(platforms.map((p) => p.close()));
});

async function platform(opts: PoolPlatformOptions = {}): Promise<PoolPlatform> {
  const p = await startPoolPlatform(opts);
  platforms.push(p);
  return p;
}

async function register(p: PoolPlatform, body: unknown, secret: string | null = POOL_SECRET) {
  const res = await fetch(`${p.url}/internal/runners/register`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(secret ? { authorization: `Bearer ${secret}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const call = (p: PoolPlatform, method: string, path: string, token?: string) =>
  fetch(p.url + path, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

const refusal = async (res: Response) => PoolRejection.parse(await res.json()).error.code;

/** Starts a session run; returns its workload id. */
async function run(p: PoolPlatform, user = "alice"): Promise<string> {
  const client = await p.user(`${user}-${Math.random().toString(36).slice(2, 8)}`);
  const session = await client.ok("POST", "/api/sessions", {});
  return (await client.ok("POST", `/api/sessions/${session.id}/run`, { message: "hi" })).workload_id;
}

/** A gate a script waits on. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe("registration and the long-poll", () => {
  let p: PoolPlatform;
  beforeAll(async () => {
    p = await platform({ size: 0 });
  });

  it("refuses a missing or wrong pool secret before looking at the body, and a malformed registration", async () => {
    const none = await register(p, { pod_name: "a" }, null);
    expect(none.status).toBe(401);
    expect(PoolRejection.parse(none.body).error.code).toBe("unauthorized");
    expect((await register(p, { pod_name: "a" }, "wrong-secret-wrong-secret")).status).toBe(401);
    expect((await register(p, { pod_name: "bad name!" }, "wrong-secret-wrong-secret")).status).toBe(401);
    const bad = await register(p, { pod_name: "bad name!", task_id: "nope" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/pod_name/);
    expect(bad.body.error.message).toMatch(/task_id/);
  });

  it("long-polls as a heartbeat and accepts only the runner's own token", async () => {
    const a = RegisterResponse.parse((await register(p, { pod_name: "manual-a", pod_ip: "10.0.0.7" })).body);
    const b = RegisterResponse.parse((await register(p, { pod_name: "manual-b" })).body);
    expect(a.poll_seconds).toBe(1);
    expect(a.token).not.toBe(b.token);
    const stored = await p.ctx.db.query<{ token_hash: Uint8Array; pod_ip: string }>(
      "SELECT token_hash, pod_ip FROM runner_pool WHERE id = $1",
      [a.runner_id],
    );
    expect(Buffer.from(stored.rows[0]!.token_hash).includes(Buffer.from(a.token))).toBe(false); // hashed
    expect(stored.rows[0]!.pod_ip).toBe("10.0.0.7");

    const beatBefore = await heartbeatOf(p, a.runner_id);
    const started = Date.now();
    const poll = await call(p, "GET", `/internal/runners/${a.runner_id}/assignment?wait=1`, a.token);
    expect(poll.status).toBe(204);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900); // it waited
    expect((await heartbeatOf(p, a.runner_id)).getTime()).toBeGreaterThan(beatBefore.getTime());

    const path = `/internal/runners/${a.runner_id}/assignment?wait=0`;
    const other = await call(p, "GET", path, b.token);
    expect([other.status, await refusal(other)]).toEqual([403, "forbidden"]);
    const forged = await call(p, "GET", path, "plue_runner_forged");
    expect([forged.status, await refusal(forged)]).toEqual([401, "unauthorized"]);
    expect((await call(p, "GET", path)).status).toBe(401);
    expect((await call(p, "GET", path, "plue_task_not-a-runner-token")).status).toBe(401);
    const unknown = await call(
      p,
      "GET",
      `/internal/runners/${crypto.randomUUID()}/assignment`,
      "plue_runner_x",
    );
    expect([unknown.status, await refusal(unknown)]).toEqual([404, "not_found"]);
    const badWait = await call(p, "GET", `/internal/runners/${a.runner_id}/assignment?wait=soon`, a.token);
    expect([badWait.status, await refusal(badWait)]).toEqual([400, "invalid_request"]);

    const beat = await call(p, "POST", `/internal/runners/${a.runner_id}/heartbeat`, a.token);
    expect(await beat.json()).toEqual({ status: "available", abort: false });
    for (const r of [a, b])
      expect((await call(p, "DELETE", `/internal/runners/${r.runner_id}`, r.token)).status).toBe(204);
    const gone = await call(p, "GET", path, a.token);
    expect([gone.status, await refusal(gone)]).toEqual([410, "runner_terminated"]);
  });

  it("refuses a cold runner whose workload is not waiting", async () => {
    const r = await register(p, { pod_name: "cold-x", task_id: crypto.randomUUID() });
    expect([r.status, r.body.error.code]).toEqual([409, "task_taken"]);
    const row = await p.ctx.db.query("SELECT 1 FROM runner_pool WHERE pod_name = 'cold-x'");
    expect(row.rowCount).toBe(0); // refused registrations leave nothing behind
  });
});

async function heartbeatOf(p: PoolPlatform, id: string): Promise<Date> {
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
    const p = await platform({
      size: 2,
      script: async (r) => {
        seen = r;
        await hold.opened;
        await r.tokens(["hello"]);
        await r.event("done", { reason: "end_turn" });
      },
    });
    await waitFor(async () => (await p.count("available")) === 2, 10_000, "two standby runners");
    const standing = p.backend.all.map((r) => r.pod);
    const id = await run(p);
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
    expect(standing).toContain(claim.rows[0]!.pod_name); // started before the run existed
    expect(claim.rows[0]!.delivered_at).not.toBeNull();
    const sealed = Buffer.from(claim.rows[0]!.assignment);
    expect(sealed.includes(Buffer.from(seen!.assignment.token))).toBe(false);
    expect(sealed.includes(Buffer.from("callback_url"))).toBe(false);
    expect(seen!.assignment.workload.id).toBe(id);
    hold.open();
    expect((await p.ended(id)).status).toBe("succeeded");
    // Single-use: the runner left after its workload, and a fresh one took its place.
    await waitFor(async () => (await p.count("available")) === 2, 10_000, "the pool to refill");
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
    const used = await register(p, { pod_name: claim.rows[0]!.pod_name });
    expect([used.status, used.body.error.code]).toEqual([409, "pod_used"]);
    const metrics = await (await fetch(`${p.url}/metrics`)).text();
    expect(metrics).toMatch(/plue_runner_pool_runners\{status="available"\} \d/);
    expect(metrics).toMatch(/plue_runner_claim_seconds_count\{path="warm"\} [1-9]/);
  });

  it("queues a workload when no runner is free; the next runner to poll takes it", async () => {
    const hold = gate();
    const p = await platform({
      size: 1,
      script: async (r) => {
        await hold.opened;
        await r.tokens(["ok"]);
        await r.event("done", { reason: "end_turn" });
      },
    });
    await waitFor(async () => (await p.count("available")) === 1, 10_000, "a standby runner");
    p.backend.opts.size = 0; // no refill for now
    const first = await run(p);
    const second = await run(p);
    const queued = await p.ctx.db.query("SELECT workload_id FROM runner_queue");
    expect(queued.rows).toEqual([{ workload_id: second }]);
    p.backend.opts.size = 1; // the runner started when the first ends takes the second
    hold.open();
    expect((await p.ended(first)).status).toBe("succeeded");
    expect((await p.ended(second)).status).toBe("succeeded");
    expect(p.backend.coldStarted).toEqual([]);
    const r = await p.ctx.db.query<{ queued: boolean }>(
      "SELECT dispatched_at < claimed_at AS queued FROM runner_pool WHERE claimed_by_task_id = $1",
      [second],
    );
    expect(r.rows).toEqual([{ queued: true }]);
    const metrics = await registry.getSingleMetricAsString("plue_runner_claim_seconds");
    expect(metrics).toMatch(/plue_runner_claim_seconds_count\{path="queued"\} [1-9]/);
  });

  it("cold-starts a runner for a workload no pool runner took within the short wait", async () => {
    const p = await platform({ size: 0, coldStartAfterMs: 200 });
    const [a, b] = [await run(p), await run(p)];
    for (const id of [a, b]) expect((await p.ended(id)).status).toBe("succeeded");
    expect(p.backend.coldStarted.sort()).toEqual([a, b].sort());
    const cold = await p.ctx.db.query<{ claimed_by_task_id: string; pod_name: string }>(
      "SELECT claimed_by_task_id, pod_name FROM runner_pool WHERE cold ORDER BY claimed_at",
    );
    expect(cold.rows.map((r) => r.claimed_by_task_id).sort()).toEqual([a, b].sort());
    for (const row of cold.rows) {
      expect(p.backend.all.find((r) => r.pod === row.pod_name)?.taskId).toBe(row.claimed_by_task_id);
    }
    const metrics = await registry.getSingleMetricAsString("plue_runner_cold_starts_total");
    expect(metrics).toMatch(/plue_runner_cold_starts_total\{backend="local"\} [2-9]/);
  });
});

describe("abort", () => {
  it("drops a queued workload, and stops a claimed one through its ack or its heartbeat", async () => {
    const p = await platform({
      size: 1,
      abortGraceMs: 3000,
      script: async (r) => {
        if (r.assignment.workload.type !== "agent") return;
        // Either sends tokens until an ack says abort, or sends nothing and waits to be stopped.
        const chatty = JSON.stringify(r.assignment.workload.messages).includes('"hi"');
        while (!r.abortRequested) {
          if (chatty) await r.tokens(["."]);
          await r.sleep(50);
        }
        await r.event("done", { reason: "aborted" });
      },
    });
    await waitFor(async () => (await p.count("available")) === 1, 10_000, "a standby runner");
    const client = await p.user("aborter");
    const start = async (message: string) => {
      const s = await client.ok("POST", "/api/sessions", {});
      const { workload_id } = await client.ok("POST", `/api/sessions/${s.id}/run`, { message });
      return { session: s.id as string, id: workload_id as string };
    };
    const chatty = await start("hi");
    await waitFor(async () => (await p.workload(chatty.id)).status === "running", 5000, "the first token");
    const quiet = await start("quiet"); // the refilled runner takes it, and sends nothing
    await waitFor(() => p.backend.holding(quiet.id) !== undefined, 5000, "the second claim");
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
    let first = true;
    let p!: PoolPlatform;
    p = await platform({
      size: 1,
      script: async (r) => {
        const me = p.backend.holding(r.workloadId)!;
        if (r.assignment.workload.type === "agent" && first) {
          first = false;
          p.backend.vanish(me.pod); // lost before sending anything
          return;
        }
        await r.tokens(["hi"]);
        await r.event("done", { reason: "end_turn" });
      },
    });
    await waitFor(async () => (await p.count("available")) === 1, 10_000, "a standby runner");
    const requeued = await run(p);
    expect((await p.ended(requeued, 15_000)).status).toBe("succeeded");
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
    const lost = await run(p);
    const end = await p.ended(lost, 15_000);
    expect(end.status).toBe("failed");
    expect(end.failure_reason).toMatch(/runner r-\d+ stopped responding \(no heartbeat for 2 s\)/);
    await waitFor(async () => (await p.count("available")) === 1, 10_000, "the pool to refill");
    const metrics = await registry.getSingleMetricAsString("plue_runner_reaped_total");
    expect(metrics).toMatch(/reason="silent"\} [2-9]/);
  });

  it("reaps idle runners that stopped polling, and fails what no runner took in time", async () => {
    const p = await platform({ size: 1, queueTimeoutSeconds: 1 });
    await waitFor(async () => (await p.count("available")) === 1, 10_000, "a standby runner");
    const idle = p.backend.all[0]!;
    p.backend.opts.size = 0;
    p.backend.vanish(idle.pod);
    await waitFor(async () => (await p.count("available")) === 0, 6000, "the silent runner to be reaped");
    const row = await p.ctx.db.query<{ terminated_reason: string }>(
      "SELECT terminated_reason FROM runner_pool WHERE pod_name = $1",
      [idle.pod],
    );
    expect(row.rows[0]!.terminated_reason).toMatch(/stopped responding/);
    const id = await run(p);
    const end = await p.ended(id, 6000);
    expect(end).toMatchObject({ status: "failed" });
    expect(end.failure_reason).toMatch(/no runner became available within 1 s/);
  });
});
