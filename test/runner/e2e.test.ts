/**
 * "Done when" of the runner: on the local platform (real app, local executor, runner processes,
 * bubblewrap), `POST /api/sessions/:id/run {"message":"List files in current directory"}` with
 * a fake model that calls `list_files` streams tool_start, tool_end, tokens and done to an SSE
 * client; the runner clones the session's repository with its task token; abort mid-run ends
 * the run gracefully; a runner killed mid-run fails the workload with a reason and the session
 * stays usable.
 */
import { EventSource } from "eventsource";
import type { LocalExecutor } from "../../app/dispatch/executors/local";
import { EVENT_TYPES, type StreamEvent } from "../../app/wire/protocol";
import { cloneUrl, createRepo, GitClient } from "../git/client";
import { type AgentPlatform, type ApiClient, startAgentPlatform } from "../helpers/agents";
import { type FakeAnthropic, startFakeModelForRunners } from "../helpers/fake-anthropic";

let p: AgentPlatform;
let alice: ApiClient;
let fake: FakeAnthropic;
const git = new GitClient();

beforeAll(async () => {
  fake = await startFakeModelForRunners(); // the runners call it
  p = await startAgentPlatform({
    executor: false, // the app's own executor: RUNNER_MODE=local
    env: { RUNNER_MODE: "local", PLUE_SANDBOX: "auto" },
    dispatcher: { abortGraceMs: 1000, killGraceMs: 3000 },
  });
  alice = await p.user("alice");
  await createRepo(p.url, alice.token, { name: "demo", visibility: "private" });
  const dir = await git.repoWith("demo", { "README.md": "# demo\n", "src/index.ts": "export {};\n" });
  await git.ok(["push", "-q", cloneUrl(p.url, "alice", "demo", alice.token), "main"], dir);
});
afterAll(async () => {
  await p.close();
  await fake.close();
  git.cleanup();
});

/**
 * An SSE client on the session's stream (opened after `run`: a stream shows the latest run from
 * its first event), collecting events until the run's terminal event.
 */
function stream(sessionId: string) {
  const es = new EventSource(`${p.url}/api/sessions/${sessionId}/stream`, { fetch: alice.fetch });
  const got: StreamEvent[] = [];
  const waiters: Array<[(e: StreamEvent) => boolean, (e: StreamEvent) => void]> = [];
  for (const type of EVENT_TYPES) {
    es.addEventListener(type, (m) => {
      if (m.data === undefined) return; // the EventSource's own "error" (a reconnect), not a run event
      const e = JSON.parse(m.data) as StreamEvent;
      got.push(e);
      for (const w of waiters.filter(([match]) => match(e))) {
        waiters.splice(waiters.indexOf(w), 1);
        w[1](e);
      }
    });
  }
  const until = (match: (e: StreamEvent) => boolean, ms = 20_000) =>
    got.find(match) ??
    new Promise<StreamEvent>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`event not seen; got ${got.map((e) => e.type)}`)), ms);
      waiters.push([
        match,
        (e) => {
          clearTimeout(t);
          resolve(e);
        },
      ]);
    });
  const end = () => until((e) => e.type === "done" || e.type === "error");
  return { got, until, end, close: () => es.close() };
}

async function run(sessionId: string, message: string) {
  return alice.ok("POST", `/api/sessions/${sessionId}/run`, { message });
}

it("streams tool_start, tool_end, tokens and done for 'List files in current directory'", async () => {
  fake.enqueue(
    {
      content: [
        { type: "text", text: "I'll list the files." },
        { type: "tool_use", name: "list_files", input: { path: "." } },
      ],
    },
    { content: [{ type: "text", text: "The repository has README.md and src/." }] },
  );
  const session = (await alice.ok("POST", "/api/sessions", { repo: "alice/demo" })).id as string;
  await run(session, "List files in current directory");
  const s = stream(session);
  try {
    const done = await s.end();
    expect(done).toMatchObject({ type: "done", data: { reason: "end_turn" } });
    const types = s.got.map((e) => e.type).filter((t) => t !== "log");
    expect(types[0]).toBe("token");
    expect(types).toEqual(expect.arrayContaining(["token", "tool_start", "tool_end", "done"]));
    expect(types.indexOf("tool_start")).toBeLessThan(types.indexOf("tool_end"));
    const start = s.got.find((e) => e.type === "tool_start")!;
    expect(start.data).toMatchObject({ name: "list_files", input: { path: "." } });
    const end = s.got.find((e) => e.type === "tool_end")!;
    expect(end.data).toMatchObject({ name: "list_files", is_error: false });
    // The runner worked in a clone of the session's private repository, made with its task token.
    expect((end.data as { output: string }).output.split("\n")).toEqual([".git/", "README.md", "src/"]);
    const text = s.got
      .filter((e) => e.type === "token")
      .map((e) => (e.data as { text: string }).text)
      .join("");
    expect(text).toBe("I'll list the files.The repository has README.md and src/.");
    expect(done.data).toMatchObject({ usage: { input_tokens: 50 } });
    // The model was asked with the user's message and the session's history.
    expect(JSON.stringify(fake.requests.at(-2)!.body.messages)).toContain("List files in current directory");
    expect((await alice.ok("GET", `/api/sessions/${session}`)).status).toBe("idle");
  } finally {
    s.close();
  }
});

it("ends a run gracefully when aborted mid-stream, and the session stays usable", async () => {
  fake.enqueue({ content: [{ type: "text", text: "Let me think about this for a long while" }], hang: true });
  const session = (await alice.ok("POST", "/api/sessions", {})).id as string;
  await run(session, "Take your time");
  const s = stream(session);
  try {
    await s.until((e) => e.type === "token");
    const started = Date.now();
    expect((await alice.request("POST", `/api/sessions/${session}/abort`)).status).toBe(202);
    const done = await s.end();
    expect(done).toMatchObject({ type: "done", data: { reason: "aborted" } });
    expect(Date.now() - started).toBeLessThan(6000);
  } finally {
    s.close();
  }
  await new Promise((r) => setTimeout(r, 200));
  expect(fake.open).toBe(0); // the model request was cancelled, not left streaming

  fake.enqueue({ content: [{ type: "text", text: "Back again." }] });
  await run(session, "Hello again");
  const again = stream(session);
  try {
    expect(await again.end()).toMatchObject({ type: "done", data: { reason: "end_turn" } });
  } finally {
    again.close();
  }
});

it("hears an abort on its long-poll while the model says nothing, before the executor signals it", async () => {
  fake.enqueue({ content: [], hang: true }); // the model starts its answer and goes quiet
  const executor = p.ctx.dispatcher.executor;
  const signalled: string[] = [];
  const abort = executor.abort.bind(executor);
  executor.abort = (id) => {
    signalled.push(id);
    return abort(id);
  };
  try {
    const session = (await alice.ok("POST", "/api/sessions", {})).id as string;
    const { workload_id } = await run(session, "Think hard");
    await waitUntil(async () => fake.open === 1, "the model request");
    const s = stream(session);
    try {
      expect((await alice.request("POST", `/api/sessions/${session}/abort`)).status).toBe(202);
      expect(await s.end()).toMatchObject({ type: "done", data: { reason: "aborted" } });
    } finally {
      s.close();
    }
    // The runner ended it itself, within the dispatcher's grace: the executor was never asked to.
    expect(signalled).not.toContain(workload_id);
    await waitUntil(async () => fake.open === 0, "the model request to be cancelled");
  } finally {
    executor.abort = abort;
  }
});

/** Polls `check` every 20 ms for up to 10 s. */
async function waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

it("fails the workload with a reason when its runner is killed mid-run", async () => {
  fake.enqueue({ content: [{ type: "text", text: "Working" }], hang: true });
  const session = (await alice.ok("POST", "/api/sessions", {})).id as string;
  const { workload_id } = await run(session, "Do something");
  const s = stream(session);
  try {
    await s.until((e) => e.type === "token");
    const executor = p.ctx.dispatcher.executor as LocalExecutor;
    process.kill(executor.pids.get(workload_id)!, "SIGKILL");
    const end = await s.end();
    expect(end.type).toBe("error");
    expect((end.data as { message: string }).message).toContain("killed by SIGKILL");
  } finally {
    s.close();
  }
  expect((await alice.ok("GET", `/api/sessions/${session}`)).status).toBe("failed");
  fake.enqueue({ content: [{ type: "text", text: "Recovered." }] });
  await run(session, "Try again");
  const again = stream(session);
  try {
    expect(await again.end()).toMatchObject({ type: "done" });
  } finally {
    again.close();
  }
});
