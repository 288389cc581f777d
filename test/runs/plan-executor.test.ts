/**
 * The runner's plan executor on its own: real sandbox, a real git workspace, the fake model for
 * agent steps, and an in-memory event sink in place of the app.
 */
import fs from "node:fs";
import Anthropic from "@anthropic-ai/sdk";
import { PLAN_VERSION, type Plan, type PlanValue, type Step } from "../../app/wire/plan";
import type { EventDataOf, EventType } from "../../app/wire/protocol";
import { type PlanOutcome, runWorkflow, StepLog } from "../../runner/plan";
import { chownTree, resolveSandbox, type Sandbox } from "../../runner/sandbox/index";
import { GitClient } from "../git/client";
import { type FakeAnthropic, startFakeAnthropic } from "../helpers/fake-anthropic";

type Emitted = { type: EventType; data: Record<string, unknown> };

const git = new GitClient();
let dir: string;
let sandbox: Sandbox;
let fake: FakeAnthropic;
let base: string;

beforeAll(async () => {
  fake = await startFakeAnthropic();
  fs.chmodSync(git.home, 0o755); // a root runner's sandbox user must reach the workspace inside it
  dir = await git.repoWith("ws", { "README.md": "# ws\n", "src/a.txt": "one\n" });
  base = await git.ok(["rev-parse", "HEAD"], dir);
  await git.ok(["checkout", "-q", "-b", "feature"], dir);
  fs.writeFileSync(`${dir}/src/a.txt`, "one\ntwo\n");
  await git.ok(["commit", "-qam", "two"], dir);
  sandbox = (await resolveSandbox("auto")).create(dir);
  chownTree(dir, sandbox.fileOwner);
});
afterAll(async () => {
  await sandbox.dispose();
  await fake.close();
  git.cleanup();
});

const run = (name: string, cmd: PlanValue, more: Partial<Step> = {}): Step =>
  ({ kind: "run", name, needs: [], timeout_seconds: 60, retries: 0, cmd, env: {}, ...more }) as Step;

function plan(steps: Step[], result: Partial<Plan["result"]> = {}): Plan {
  return {
    version: PLAN_VERSION,
    name: "test",
    triggers: [{ kind: "push" }],
    timeout_seconds: 600,
    concurrency: null,
    steps,
    result: { status: "success", message: null, outputs: {}, ...result },
  };
}

async function execute(
  p: unknown,
  opts: {
    signal?: AbortSignal;
    parallelism?: number;
    completed?: Record<string, Record<string, unknown>>;
  } = {},
): Promise<{ outcome: PlanOutcome; events: Emitted[] }> {
  const events: Emitted[] = [];
  const sink = {
    emit<T extends EventType>(type: T, data: EventDataOf<T>) {
      events.push({ type, data: data as Record<string, unknown> });
    },
    token(text: string) {
      events.push({ type: "token", data: { text } });
    },
  };
  const signal = opts.signal ?? new AbortController().signal;
  const outcome = await runWorkflow({
    workload: {
      id: crypto.randomUUID(),
      type: "workflow",
      run_id: crypto.randomUUID(),
      repo: { owner: "o", name: "r", clone_url: "http://x/o/r.git", commit: base },
      model: "claude-test",
      plan: p,
      trigger: { event: "push", context: { ref: "refs/heads/feature" } },
      ...(opts.completed ? { completed_steps: opts.completed } : {}),
      limits: { max_turns: 20, max_output_tokens: 4096, wall_time_ms: 600_000 },
    },
    events: sink,
    tools: { root: fs.realpathSync(dir), sandbox, signal },
    signal,
    client: new Anthropic({ apiKey: "sk-test", baseURL: fake.url, maxRetries: 0 }),
    parallelism: opts.parallelism,
  });
  return { outcome, events };
}

const ends = (events: Emitted[]) =>
  Object.fromEntries(events.filter((e) => e.type === "step_end").map((e) => [e.data.step, e.data]));

it("runs independent steps in parallel up to the bound, and a step only after its needs", async () => {
  const { outcome, events } = await execute(
    plan([
      run("a", "sleep 0.3"),
      run("b", "sleep 0.3"),
      run("c", "echo c"),
      run("d", "echo d", { needs: ["c"] }),
    ]),
    { parallelism: 2 },
  );
  expect(outcome).toMatchObject({ kind: "done", reason: "completed" });
  const order = events.filter((e) => e.type.startsWith("step_")).map((e) => `${e.type}:${e.data.step}`);
  expect(order.slice(0, 2)).toEqual(["step_start:a", "step_start:b"]);
  // c waited for a free slot; d waited for c.
  expect(order.indexOf("step_start:c")).toBeGreaterThan(order.findIndex((s) => s.startsWith("step_end:")));
  expect(order.indexOf("step_start:d")).toBeGreaterThan(order.indexOf("step_end:c"));
});

it("fills references in commands and env, resolves the outputs, and gives the environment", async () => {
  const { outcome, events } = await execute(
    plan(
      [
        run("name", "printf plue"),
        run(
          "greet",
          { $concat: ["echo hello ", { $ref: "name.stdout" }, " $WHO $PLUE_STEP $PLUE_SHA $CI"] },
          { needs: ["name"], env: { WHO: { $concat: ["<", { $ref: "name" }, ">"] } } },
        ),
      ],
      { outputs: { greeting: { $ref: "greet.stdout" }, code: { $ref: "greet.exit_code" } } },
    ),
  );
  expect(outcome).toMatchObject({
    kind: "done",
    reason: "completed",
    outputs: { greeting: `hello plue <plue> greet ${base} true\n`, code: 0 },
  });
  const logs = events.filter((e) => e.type === "log" && e.data.step === "greet").map((e) => e.data.text);
  expect(logs.join("")).toBe(`hello plue <plue> greet ${base} true\n`);
});

it("fails a step that runs past its timeout and skips what needs it", async () => {
  const started = Date.now();
  const { outcome, events } = await execute(
    plan([
      run("slow", "echo started; sleep 30", { timeout_seconds: 1 }),
      run("next", "true", { needs: ["slow"] }),
    ]),
  );
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(outcome).toMatchObject({
    kind: "done",
    reason: "failed",
    message: expect.stringContaining("timed out after 1s"),
  });
  expect(ends(events).slow).toMatchObject({ status: "failure", error: "timed out after 1s" });
  expect(ends(events).next).toMatchObject({ status: "skipped", error: 'needs "slow", which failed' });
});

it("reports ctx.failure with its message, and reuses completed steps without running them", async () => {
  const { outcome, events } = await execute(
    plan(
      [
        run("build", "echo fresh"),
        run("check", { $concat: ["echo got ", { $ref: "build" }] }, { needs: ["build"] }),
      ],
      {
        status: "failure",
        message: { $concat: ["check said: ", { $ref: "check.stdout" }] },
      },
    ),
    { completed: { build: { stdout: "cached", stderr: "", exit_code: 0 } } },
  );
  expect(events.some((e) => e.type === "step_start" && e.data.step === "build")).toBe(false);
  expect(outcome).toMatchObject({ kind: "done", reason: "failed", message: "check said: got cached\n" });
});

it("diffs the workspace's commits, from a branch, a commit or nothing", async () => {
  const diff = (baseValue: string, name = "diff"): Step =>
    ({
      kind: "git_diff",
      name,
      needs: [],
      timeout_seconds: 60,
      retries: 0,
      base: baseValue,
      head: null,
    }) as Step;
  const { outcome, events } = await execute(
    plan([
      diff("main", "from_branch"),
      diff(base, "from_commit"),
      diff("0".repeat(40), "from_nothing"),
      diff("nope", "bad"),
    ]),
  );
  const e = ends(events);
  expect((e.from_branch!.outputs as { diff: string }).diff).toContain("+two");
  expect((e.from_commit!.outputs as { diff: string }).diff).toBe(
    (e.from_branch!.outputs as { diff: string }).diff,
  );
  expect((e.from_nothing!.outputs as { diff: string }).diff).toContain("+# ws");
  expect(e.bad).toMatchObject({ status: "failure", error: "nope is not a commit in the repository" });
  expect(outcome).toMatchObject({ reason: "failed" });
});

const REVIEW: Step = {
  kind: "agent",
  name: "review",
  needs: [],
  timeout_seconds: 60,
  retries: 0,
  prompt: {
    name: "Review",
    model: "claude-review",
    tools: ["read_file"],
    max_turns: 5,
    template: "Review {{what}}.",
    output_schema: {
      type: "object",
      properties: { approved: { type: "boolean" }, notes: { type: "string" } },
      required: ["approved"],
    },
  },
  inputs: { what: "src/a.txt" },
};

it("ends an agent step with output valid against its schema, after telling the model what was wrong", async () => {
  const before = fake.requests.length;
  fake.enqueue(
    { content: [{ type: "text", text: "Looks fine." }] },
    { content: [{ type: "tool_use", name: "bash", input: { command: "rm -rf /" } }] },
    { content: [{ type: "tool_use", name: "submit_output", input: { approved: "yes" } }] },
    { content: [{ type: "tool_use", name: "submit_output", input: { approved: true, notes: "ok" } }] },
  );
  const { outcome, events } = await execute(plan([REVIEW], { outputs: { ok: { $ref: "review.approved" } } }));
  expect(outcome).toMatchObject({ kind: "done", reason: "completed", outputs: { ok: true } });
  expect(ends(events).review).toMatchObject({ status: "success", outputs: { approved: true, notes: "ok" } });
  const requests = fake.requests.slice(before);
  expect(requests[0]!.body).toMatchObject({ model: "claude-review" });
  expect(requests[0]!.body.messages[0].content[0].text).toBe("Review src/a.txt.");
  expect(requests[0]!.body.tools.map((t: { name: string }) => t.name)).toEqual([
    "read_file",
    "submit_output",
  ]);
  const said = (i: number) => JSON.stringify(requests[i]!.body.messages.at(-1));
  expect(said(1)).toContain("Call the submit_output tool"); // it ended its turn without submitting
  expect(said(2)).toContain("tool bash is not available here");
  expect(said(3)).toContain("output.approved: expected boolean, got string");
});

it("fails an agent step whose prompt asks for an unknown tool, or that never submits", async () => {
  const unknown = { ...REVIEW, prompt: { ...REVIEW.prompt, tools: ["read_file", "teleport"] } } as Step;
  const first = await execute(plan([unknown]));
  expect(ends(first.events).review.error).toContain("unknown tools teleport");
  const stubborn = { ...REVIEW, prompt: { ...REVIEW.prompt, max_turns: 2 } } as Step;
  fake.enqueue(
    { content: [{ type: "text", text: "no" }] },
    { content: [{ type: "text", text: "still no" }] },
  );
  const second = await execute(plan([stubborn]));
  expect(ends(second.events).review).toMatchObject({
    status: "failure",
    error: "the agent ended (max_turns) without submitting its output",
  });
});

it("cancels the running step and the rest when aborted", async () => {
  const controller = new AbortController();
  const pending = execute(
    plan([run("long", "echo go; sleep 30"), run("then", "true", { needs: ["long"] })]),
    {
      signal: controller.signal,
    },
  );
  await new Promise((r) => setTimeout(r, 500));
  controller.abort();
  const { outcome, events } = await pending;
  expect(outcome.kind).toBe("aborted");
  expect(ends(events).long).toMatchObject({ status: "cancelled" });
  expect(ends(events).then).toMatchObject({ status: "cancelled" });
});

it("refuses an invalid plan", async () => {
  const { outcome } = await execute({ ...plan([run("a", "true", { needs: ["missing"] })]) });
  expect(outcome).toMatchObject({
    kind: "error",
    code: "invalid_plan",
    message: expect.stringContaining("missing"),
  });
});

it("streams logs line by line, splits long lines, decodes UTF-8 across chunks, and caps the total", () => {
  const sent: Emitted[] = [];
  const sink = {
    emit: (type: EventType, data: unknown) => void sent.push({ type, data: data as Record<string, unknown> }),
    token: () => {},
  };
  const log = new StepLog(sink, "s", 20_000);
  log.write("stdout", Buffer.from("one\ntw"));
  log.write("stdout", Buffer.from("o\n"));
  const euro = Buffer.from("€\n");
  log.write("stderr", euro.subarray(0, 1));
  log.write("stderr", euro.subarray(1));
  log.write("stdout", Buffer.from("x".repeat(9000)));
  log.write("stdout", Buffer.from("y".repeat(20_000)));
  log.close();
  const texts = sent.map((e) => [e.data.stream, e.data.text]);
  expect(texts.slice(0, 3)).toEqual([
    ["stdout", "one\n"],
    ["stdout", "two\n"],
    ["stderr", "€\n"],
  ]);
  expect(sent.every((e) => (e.data.text as string).length <= 8192)).toBe(true);
  const body = sent
    .filter((e) => e.data.stream === "stdout")
    .map((e) => e.data.text)
    .join("");
  // 20 000 bytes in all ("€\n" took 4 of them); the last, unfinished line gets its newline.
  expect(body).toBe(`one\ntwo\n${"x".repeat(9000)}${"y".repeat(20_000 - 9012)}\n`);
  expect(sent.at(-1)!.data).toMatchObject({
    stream: "system",
    text: expect.stringContaining("9012 more bytes"),
  });
});
