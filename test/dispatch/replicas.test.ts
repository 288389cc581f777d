/**
 * The warm pool on real PostgreSQL with two app replicas (needs PLUE_TEST_POSTGRES_URL or
 * DATABASE_URL): 200 concurrent dispatches through both replicas against a pool of 20 single-use
 * runners — no workload claimed twice, none lost, every one ends; and an app replica restarted
 * while runners long-poll it — they carry on with the same registration and take the next workload.
 */
import { openDb } from "../../app/db";
import { isLiveWorkload } from "../../app/dispatch/status";
import { createPostgresDatabase } from "../helpers/db";
import type { ScriptedRunner } from "../helpers/scripted-runner";
import {
  type PoolPlatform,
  type PoolPlatformOptions,
  type ScriptedStandby,
  startPoolPlatform,
  startScriptedStandby,
  waitFor,
} from "../helpers/standby-runner";

/** Each test gets its own database (its runners must not serve another test's workloads). */
let database: Awaited<ReturnType<typeof createPostgresDatabase>> | undefined;
const replicas: PoolPlatform[] = [];

beforeEach(async () => {
  database = await createPostgresDatabase();
});
afterEach(async () => {
  await Promise.all(replicas.splice(0).map((r) => r.close()));
  await database?.drop();
});

const replica = async (opts: PoolPlatformOptions = {}) => {
  const r = await startPoolPlatform({ db: await openDb({ url: database!.url, poolSize: 8 }), ...opts });
  replicas.push(r);
  return r;
};

/** A tiny workload: a short pause (so runners overlap), one token, done. */
const quick = async (r: ScriptedRunner) => {
  await r.sleep(Math.random() * 30);
  await r.tokens([r.workloadId.slice(0, 8)]);
  await r.event("done", { reason: "end_turn" });
};

describe("two replicas on one Postgres", () => {
  it("200 concurrent dispatches against a pool of 20: each runs exactly once and ends", async () => {
    // A 5 s poll period: one test process plays both replicas and 200 runners, and under the burst
    // its database pools queue requests for seconds; a runner is reaped only after two periods.
    const opts = { size: 10, script: quick, coldStartAfterMs: 1500, env: { PLUE_RUNNER_POLL_SECONDS: "5" } };
    const a = await replica({ name: "a", ...opts });
    const b = await replica({ name: "b", ...opts });
    expect(a.ctx.db.kind).toBe("postgres");
    await waitFor(async () => (await a.count("available")) === 20, 15_000, "20 standby runners");
    const alice = await a.user("alice");
    const sessions = await Promise.all(
      Array.from({ length: 200 }, () => alice.ok("POST", "/api/sessions", {}) as Promise<{ id: string }>),
    );
    // All at once, half through each replica.
    const ids: string[] = await Promise.all(
      sessions.map(async (s, i) => {
        const via = i % 2 === 0 ? a : b;
        const res = await fetch(`${via.url}/api/sessions/${s.id}/run`, {
          method: "POST",
          headers: { authorization: `Bearer ${alice.token}`, "content-type": "application/json" },
          body: JSON.stringify({ message: `task ${i}` }),
        });
        expect(res.status).toBeLessThan(300);
        return (await res.json()).workload_id;
      }),
    );
    expect(new Set(ids).size).toBe(200);
    const states = async () =>
      (
        await a.ctx.db.query<{ id: string; status: string; failure_reason: string | null }>(
          "SELECT id, status, failure_reason FROM workloads WHERE id = ANY($1)",
          [ids],
        )
      ).rows;
    await waitFor(
      async () => (await states()).every((w) => !isLiveWorkload(w.status)),
      45_000,
      "all 200 to end",
    );

    const ended = await states();
    expect(ended).toHaveLength(200); // none lost
    for (const w of ended) {
      if (w.status !== "succeeded") expect(w.failure_reason).toBeTruthy(); // a failure always says why
    }
    expect(ended.filter((w) => w.status !== "succeeded")).toEqual([]);
    // No workload was claimed twice: one runner row each, one runner ran each, each runner ran one.
    const claims = await a.ctx.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM runner_pool WHERE claimed_by_task_id = ANY($1) GROUP BY claimed_by_task_id",
      [ids],
    );
    expect(claims.rows).toHaveLength(200);
    expect(claims.rows.every((r) => r.n === 1)).toBe(true);
    const runners: ScriptedStandby[] = [...a.backend.all, ...b.backend.all];
    expect(runners.every((r) => r.assignments.length <= 1)).toBe(true);
    const ran = runners.flatMap((r) => r.assignments.map((x) => x.workload.id));
    expect(ran.sort()).toEqual([...ids].sort());
    // Exactly one terminal event per workload.
    const terminals = await a.ctx.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM task_events WHERE workload_id = ANY($1) AND type IN ('done', 'error')
        GROUP BY workload_id`,
      [ids],
    );
    expect(terminals.rows.map((r) => r.n)).toEqual(Array(200).fill(1));
  }, 60_000);

  it("keeps serving runners that long-polled through an app restart", async () => {
    const first = await replica({ name: "c", size: 0, env: { PLUE_RUNNER_POLL_SECONDS: "3" } });
    const port = Number(new URL(first.url).port);
    // Runners outside the app (pods): they poll this replica's address.
    const outside = [1, 2].map((n) =>
      startScriptedStandby({ appUrl: first.url, pod: `outside-${n}`, script: quick }),
    );
    const registered = async (db = first.ctx.db) =>
      (
        await db.query<{ id: string }>(
          "SELECT id FROM runner_pool WHERE pod_name LIKE 'outside-%' AND status = 'available'",
        )
      ).rows.map((r) => r.id);
    await waitFor(async () => (await registered()).length === 2, 10_000, "the outside runners to register");

    replicas.splice(replicas.indexOf(first), 1);
    const closing = Date.now();
    await first.close(); // long-polls end; runners retry against a closed port
    expect(Date.now() - closing).toBeLessThan(3000); // polls do not hold the shutdown up
    const again = await replica({ name: "c2", size: 0, port, env: { PLUE_RUNNER_POLL_SECONDS: "3" } });
    expect(again.url).toBe(first.url);
    const alice = await again.user("bob");
    const s = await alice.ok("POST", "/api/sessions", {});
    const { workload_id } = await alice.ok("POST", `/api/sessions/${s.id}/run`, {
      message: "after the restart",
    });
    expect((await again.ended(workload_id)).status).toBe("succeeded");
    const served = outside.find((r) => r.assignments.some((x) => x.workload.id === workload_id));
    expect(served).toBeDefined(); // a runner registered before the restart
    expect((await registered(again.ctx.db)).length).toBe(1);
    // It kept the registration it made before the restart.
    const claim = await again.ctx.db.query<{ pod_name: string; registered_at: Date }>(
      "SELECT pod_name, registered_at FROM runner_pool WHERE claimed_by_task_id = $1",
      [workload_id],
    );
    expect(claim.rows[0]!.pod_name).toBe(served!.pod);
    expect(new Date(claim.rows[0]!.registered_at).getTime()).toBeLessThan(closing);
    for (const r of outside) r.stop();
    expect(await Promise.all(outside.map((r) => r.done))).toEqual([0, 0]);
  }, 30_000);
});
