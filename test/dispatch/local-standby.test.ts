/**
 * "Done when" of the warm pool on one machine: with `RUNNER_MODE=local PLUE_WARM_POOL=2` the app
 * keeps two standby runner processes (real `runner/main.ts`, sandboxed, the fake model) that
 * register and long-poll over HTTP; sessions are served by runners started before the run; a
 * claimed runner killed with SIGKILL fails its workload with a reason and the pool refills;
 * abort stops a claimed runner gracefully.
 */

import type { LocalStandbyRunners } from "../../app/dispatch/executors/local-standby";
import type { WarmPoolExecutor } from "../../app/dispatch/executors/warm-pool-executor";
import { isLiveWorkload } from "../../app/dispatch/status";
import { registry } from "../../app/metrics";
import { ExitCode } from "../../app/wire/protocol";
import { GitClient } from "../git/client";
import { type AgentPlatform, type ApiClient, startAgentPlatform } from "../helpers/agents";
import { type FakeAnthropic, startFakeModelForRunners } from "../helpers/fake-anthropic";
import { waitFor } from "../helpers/standby-runner";
import { pushRepo, waitForRuns } from "../runs/helpers";

let p: AgentPlatform;
let alice: ApiClient;
let fake: FakeAnthropic;
let executor: WarmPoolExecutor;
const git = new GitClient();

beforeAll(async () => {
  fake = await startFakeModelForRunners(); // the runners call it
  p = await startAgentPlatform({
    executor: false, // the app's own: RUNNER_MODE=local with a warm pool
    env: {
      RUNNER_MODE: "local",
      PLUE_WARM_POOL: "2",
      PLUE_RUNNER_CONCURRENCY: "2",
      PLUE_RUNNER_POLL_SECONDS: "2",
      PLUE_SANDBOX: "auto",
    },
    dispatcher: { abortGraceMs: 2000, killGraceMs: 3000 },
  });
  executor = p.ctx.dispatcher.executor as WarmPoolExecutor;
  await executor.warmUp(); // what `plue dev` does at start
  alice = await p.user("alice");
}, 60_000);
afterAll(async () => {
  await p?.close();
  await fake?.close();
  git.cleanup();
});

const available = async () =>
  (
    await p.ctx.db.query<{ pod_name: string }>(
      "SELECT pod_name FROM runner_pool WHERE status = 'available' ORDER BY registered_at",
    )
  ).rows.map((r) => r.pod_name);

const workload = async (id: string) =>
  (
    await p.ctx.db.query<{ status: string; failure_reason: string | null; exit_code: number | null }>(
      "SELECT status, failure_reason, exit_code FROM workloads WHERE id = $1",
      [id],
    )
  ).rows[0]!;

async function start(message: string): Promise<{ session: string; id: string }> {
  const s = await alice.ok("POST", "/api/sessions", {});
  const { workload_id } = await alice.ok("POST", `/api/sessions/${s.id}/run`, { message });
  return { session: s.id, id: workload_id };
}

const ended = (id: string) =>
  waitFor(async () => !isLiveWorkload((await workload(id)).status), 20_000, "the end");
/** The runner's exit code reaches the workload when its process has exited (after the run ended). */
const exited = (id: string) =>
  waitFor(async () => (await workload(id)).exit_code !== null, 10_000, "the exit");

const hang = { content: [{ type: "text" as const, text: "Working on it" }], hang: true };

describe("local warm pool (RUNNER_MODE=local PLUE_WARM_POOL=2)", () => {
  it("serves a session from a runner started before the run, and refills", async () => {
    expect(executor.name).toBe("local");
    await waitFor(async () => (await available()).length === 2, 20_000, "two standby runners");
    const standing = await available();
    fake.enqueue({ content: [{ type: "text", text: "Served warm." }] });
    const { session, id } = await start("hello");
    await ended(id);
    await exited(id);
    expect(await workload(id)).toMatchObject({ status: "succeeded", exit_code: ExitCode.ok });
    const claimed = await p.ctx.db.query<{ pod_name: string }>(
      "SELECT pod_name FROM runner_pool WHERE claimed_by_task_id = $1",
      [id],
    );
    expect(standing).toContain(claimed.rows[0]!.pod_name);
    const messages = await alice.ok("GET", `/api/sessions/${session}/messages`);
    expect(JSON.stringify(messages)).toContain("Served warm.");
    await waitFor(async () => (await available()).length === 2, 20_000, "the pool to refill");
    expect(await available()).not.toContain(claimed.rows[0]!.pod_name);
    expect(await registry.getSingleMetricAsString("plue_runner_claim_seconds")).toMatch(
      /plue_runner_claim_seconds_count\{path="warm"\} [1-9]/,
    );
  });

  it("serves a workflow run from a pre-started runner", async () => {
    await waitFor(async () => (await available()).length === 2, 20_000, "two standby runners");
    const standing = await available();
    const ci = `from plue import workflow, push

@workflow(triggers=[push()])
def ci(ctx):
    ctx.run(name="hello", cmd='echo "Hello from the pool"')
`;
    await pushRepo(git, p.url, alice, "alice", "pooled", { ".plue/workflows/ci.py": ci });
    const [run] = await waitForRuns(alice, "alice/pooled", 1, { timeoutMs: 30_000 });
    expect(run).toMatchObject({ workflow: "ci", status: "success" });
    const claimed = await p.ctx.db.query<{ pod_name: string; type: string }>(
      `SELECT r.pod_name, w.type FROM runner_pool r JOIN workloads w ON w.id = r.claimed_by_task_id
        WHERE w.workflow_run_id = $1`,
      [run.id],
    );
    expect(claimed.rows).toEqual([{ pod_name: expect.any(String), type: "workflow" }]);
    expect(standing).toContain(claimed.rows[0]!.pod_name);
  });

  it("fails the workload of a claimed runner killed with SIGKILL, with the reason, and refills", async () => {
    fake.respond(() => hang);
    await waitFor(async () => (await available()).length === 2, 20_000, "two standby runners");
    const { id } = await start("hang, please");
    await waitFor(async () => (await workload(id)).status === "running", 20_000, "the first token");
    const backend = executor.backend as LocalStandbyRunners;
    const pid = backend.pidFor(id);
    expect(pid).toBeDefined();
    process.kill(pid!, "SIGKILL");
    await ended(id);
    const w = await workload(id);
    expect(w.status).toBe("failed");
    expect(w.failure_reason).toMatch(/runner local-\S+: runner was killed by SIGKILL/);
    await waitFor(async () => (await available()).length === 2, 20_000, "the pool to refill");
  });

  it("aborts a claimed runner gracefully", async () => {
    fake.respond(() => hang);
    await waitFor(async () => (await available()).length === 2, 20_000, "two standby runners");
    const { session, id } = await start("hang until aborted");
    await waitFor(async () => (await workload(id)).status === "running", 20_000, "the first token");
    await alice.ok("POST", `/api/sessions/${session}/abort`);
    await ended(id);
    await exited(id);
    expect(await workload(id)).toMatchObject({ status: "aborted", exit_code: ExitCode.aborted });
  });
});
