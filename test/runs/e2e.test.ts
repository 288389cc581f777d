import { GitClient } from "../git/client";
import { type AgentPlatform, type ApiClient, startAgentPlatform } from "../helpers/agents";
import { type FakeAnthropic, startFakeModelForRunners } from "../helpers/fake-anthropic";
import {
  designExample,
  type Json,
  pushMore,
  pushRepo,
  runLog,
  step,
  waitForRun,
  waitForRuns,
} from "./helpers";

let p: AgentPlatform;
let alice: ApiClient;
let fake: FakeAnthropic;
const git = new GitClient();

beforeAll(async () => {
  fake = await startFakeModelForRunners(); // the runners call it
  p = await startAgentPlatform({
    executor: false, // the app's own executor: RUNNER_MODE=local, runner processes
    env: { RUNNER_MODE: "local", PLUE_SANDBOX: "auto" },
    dispatcher: { abortGraceMs: 2000, killGraceMs: 3000 },
  });
  alice = await p.user("alice");
});

afterAll(async () => {
  await p.close();
  await fake.close();
  git.cleanup();
});

const HELLO = `from plue import workflow, push

@workflow(triggers=[push()])
def ci(ctx):
    ctx.run(name="hello", cmd='echo "Hello from CI"')
`;

it("a push with ci.py runs it: the run succeeds and its log says Hello from CI", async () => {
  const { commit } = await pushRepo(git, p.url, alice, "alice", "hello", { ".plue/workflows/ci.py": HELLO });
  const [run] = await waitForRuns(alice, "alice/hello", 1, { timeoutMs: 80_000 });
  expect(run).toMatchObject({
    workflow: "ci",
    path: ".plue/workflows/ci.py",
    status: "success",
    event: "push",
    commit,
    ref: "refs/heads/main",
    mode: "scripted",
    error: null,
  });
  const full = await alice.ok("GET", `/api/runs/${run.id}`);
  expect(full.steps).toEqual([
    expect.objectContaining({ name: "hello", kind: "run", status: "success", exit_code: 0, attempts: 1 }),
  ]);
  expect(step(full, "hello").outputs).toMatchObject({ stdout: "Hello from CI\n", exit_code: 0 });
  expect(await runLog(alice, run.id)).toContain("Hello from CI");
}, 90_000); // the first run also bundles the runner and checks the sandbox

it("a broken workflow file gives an error run with its position and does not block the other file", async () => {
  const { dir } = await pushRepo(git, p.url, alice, "alice", "mixed", { ".plue/workflows/ci.py": HELLO });
  await waitForRuns(alice, "alice/mixed", 1);
  await pushMore(git, p.url, alice, "alice", "mixed", dir, {
    ".plue/workflows/broken.py":
      "from plue import workflow, push\n\n@workflow(triggers=[push()])\ndef b(ctx):\n    while True:\n        pass\n",
  });
  const runs = await waitForRuns(alice, "alice/mixed", 3);
  const latest = runs.slice(0, 2);
  const broken = latest.find((r: Json) => r.path === ".plue/workflows/broken.py");
  const ok = latest.find((r: Json) => r.path === ".plue/workflows/ci.py");
  expect(broken).toMatchObject({ workflow: "broken", status: "error", workload_id: null });
  expect(broken.error).toMatch(/^\.plue\/workflows\/broken\.py:5:5: .*while/);
  expect(ok).toMatchObject({ status: "success" });
  expect(await runLog(alice, broken.id)).toContain(".plue/workflows/broken.py:5:5");
  // The error run's stream has nothing to replay: it answers 204 at once.
  const res = await fetch(`${p.url}/api/runs/${broken.id}/stream`, {
    headers: { authorization: `Bearer ${alice.token}` },
  });
  expect([200, 204]).toContain(res.status);
  await res.body?.cancel();
});

const PIPELINE = `from plue import workflow, push

@workflow(triggers=[push()])
def pipeline(ctx):
    flaky = ctx.run(name="flaky", cmd='if [ -f .tried ]; then echo second try; else touch .tried; echo first try; exit 3; fi', retries=1)
    build = ctx.run(name="build", cmd="echo built > out.txt && echo built")
    bad = ctx.run(name="bad", cmd="cat out.txt; echo broken >&2; exit 7")
    ctx.run(name="after", cmd="echo never")
    side = ctx.run(name="side", cmd=f"echo side saw {flaky.stdout}", needs=[flaky])
    return ctx.success(side=side.stdout, code=bad.exit_code)
`;

it("retries a flaky step, skips the dependents of a failed step, and reruns only the failed steps", async () => {
  await pushRepo(git, p.url, alice, "alice", "pipeline", { ".plue/workflows/ci.py": PIPELINE });
  const [first] = await waitForRuns(alice, "alice/pipeline", 1);
  const run = await alice.ok("GET", `/api/runs/${first.id}`);
  expect(run.status).toBe("failure");
  expect(run.error).toMatch(/"bad" failed.*exit code 7/);
  expect(step(run, "flaky")).toMatchObject({ status: "success", attempts: 2, exit_code: 0 });
  expect(step(run, "build")).toMatchObject({ status: "success" });
  expect(step(run, "bad")).toMatchObject({ status: "failure", exit_code: 7 });
  expect(step(run, "bad").outputs.stderr).toBe("broken\n");
  expect(step(run, "after")).toMatchObject({ status: "skipped", error: expect.stringContaining('"bad"') });
  expect(step(run, "side")).toMatchObject({ status: "success" });
  expect(step(run, "side").outputs.stdout).toBe("side saw second try\n");
  expect(run.outputs).toEqual({ side: "side saw second try\n", code: 7 });
  const log = await runLog(alice, run.id);
  expect(log).toContain("attempt 1 of 2 failed (exit code 3); retrying");
  expect(log).toContain("==> flaky (attempt 2)");

  const again = await alice.ok("POST", `/api/runs/${run.id}/rerun`, { failed_only: true });
  const rerun = await waitForRun(alice, again.id);
  expect(rerun).toMatchObject({ rerun_of: run.id, status: "failure", commit: run.commit });
  // Succeeded steps were not run again: their outputs were reused.
  for (const name of ["flaky", "build", "side"]) {
    expect(step(rerun, name)).toMatchObject({
      status: "success",
      attempts: 0,
      outputs: step(run, name).outputs,
    });
  }
  expect(step(rerun, "bad")).toMatchObject({ status: "failure", attempts: 1 });
  const rerunLog = await runLog(alice, rerun.id);
  expect(rerunLog).toContain("==> bad");
  expect(rerunLog).not.toContain("==> flaky");
  expect(rerun.outputs.side).toBe("side saw second try\n");
});

const SLOW = `from plue import workflow, manual

@workflow(triggers=[manual(inputs={"seconds": "30", "label": None})])
def slow(ctx):
    ctx.run(name="wait", cmd=f"echo waiting for {ctx.event.inputs['label']}; sleep {ctx.event.inputs['seconds']}")
    ctx.run(name="later", cmd="echo later")
`;

it("dispatches a manual run with inputs, and cancels it mid-step", async () => {
  await pushRepo(git, p.url, alice, "alice", "slow", { ".plue/workflows/slow.py": SLOW });
  const missing = await alice.request("POST", "/api/repos/alice/slow/workflows/slow/dispatch", {
    inputs: {},
  });
  expect(missing.status).toBe(422);
  expect(missing.body.error.message).toContain("input label is required");
  const created = await alice.ok("POST", "/api/repos/alice/slow/workflows/slow/dispatch", {
    inputs: { label: "godot" },
  });
  const running = await waitForRun(alice, created.id, (r) => step(r, "wait")?.status === "running");
  expect(running).toMatchObject({ event: "manual", status: "running", ref: "refs/heads/main" });
  expect(running.trigger_context.inputs).toEqual({ seconds: "30", label: "godot" });
  const started = Date.now();
  expect((await alice.request("POST", `/api/runs/${created.id}/cancel`)).status).toBe(202);
  const ended = await waitForRun(alice, created.id, undefined, 15_000);
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(ended.status).toBe("cancelled");
  expect(step(ended, "wait").status).toBe("cancelled");
  expect(step(ended, "later").status).toBe("cancelled");
  expect(await runLog(alice, created.id)).toContain("waiting for godot");
  expect((await alice.request("POST", `/api/runs/${created.id}/cancel`)).status).toBe(409);
  // The push started nothing (no push trigger): the dispatched run is the only one.
  expect((await alice.ok("GET", "/api/repos/alice/slow/runs")).runs.map((r: Json) => r.id)).toEqual([
    created.id,
  ]);
});

it("runs the DESIGN example (two steps + CodeReview) against the fake model", async () => {
  const files = designExample("demo", { "src/add.js": "export const add = (a, b) => a + b;\n" });
  fake.respond((req) => {
    const tools = (req.body.tools as Json[]).map((t) => t.name);
    if (req.body.messages.length === 1) {
      return { content: [{ type: "tool_use", name: "read_file", input: { path: "src/add.js" } }] };
    }
    return {
      content: [
        { type: "text", text: `I read it; tools: ${tools.join(",")}` },
        { type: "tool_use", name: "submit_output", input: { approved: true, summary: "adds add()" } },
      ],
    };
  });
  await pushRepo(git, p.url, alice, "alice", "review", files);
  const [run] = await waitForRuns(alice, "alice/review", 1, { timeoutMs: 60_000 });
  const full = await alice.ok("GET", `/api/runs/${run.id}`);
  expect(full.steps.map((s: Json) => [s.name, s.kind, s.status])).toEqual([
    ["install", "run", "success"],
    ["test", "run", "success"],
    ["git_diff", "git_diff", "success"],
    ["CodeReview", "agent", "success"],
  ]);
  expect(full).toMatchObject({ status: "success", outputs: { approved: true } });
  expect(step(full, "test").outputs.stdout).toContain("all tests pass");
  expect(step(full, "git_diff").outputs.diff).toContain("+export const add");
  expect(step(full, "CodeReview").outputs).toEqual({ approved: true, summary: "adds add()" });
  // The model got the rendered prompt with the diff, only the prompt's tools plus submit_output.
  const first = fake.requests.find((r) => JSON.stringify(r.body.messages).includes("The diff:"))!;
  expect(JSON.stringify(first.body.messages)).toContain("+export const add");
  const model = /^model: (.+)$/m.exec(files[".plue/prompts/CodeReview.md"]!)![1];
  expect(first.body.model).toBe(model);
  expect(first.body.tools.map((t: Json) => t.name).sort()).toEqual([
    "grep",
    "list_files",
    "read_file",
    "submit_output",
  ]);
  expect(first.body.tools.find((t: Json) => t.name === "submit_output").input_schema.required).toEqual([
    "approved",
    "summary",
  ]);
}, 90_000);
