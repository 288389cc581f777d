/**
 * Runs API, webhooks, concurrency and folding, with real git pushes and a runner double that speaks
 * the real wire protocol (test/helpers/scripted-runner.ts): what the app does with a run, fast.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { EventSource } from "eventsource";
import type { z } from "zod";
import { createApp } from "../../app/http/app";
import { signDelivery, TIMESTAMP_HEADER } from "../../app/http/webhooks";
import { mentions } from "../../app/runs/triggers";
import type { Plan } from "../../app/wire/plan";
import type { StreamEvent, WorkflowWorkload } from "../../app/wire/protocol";

type Workflow = z.output<typeof WorkflowWorkload> & { plan: Plan };

import { cloneUrl, GitClient } from "../git/client";
import { type AgentPlatform, type ApiClient, startAgentPlatform } from "../helpers/agents";
import type { RunnerScript, ScriptedRunner } from "../helpers/scripted-runner";
import { type Json, pushMore, pushRepo, step, waitForRun, waitForRuns } from "./helpers";

const SECRET = "webhook-secret-for-tests-0123456789";
let p: AgentPlatform;
let alice: ApiClient;
let bob: ApiClient;
const git = new GitClient();

/** Plays every step of the plan (reused ones excepted) as a success, then `done: completed`. */
const completeAll: RunnerScript = async (r) => {
  const w = r.assignment.workload as Workflow;
  for (const s of w.plan.steps) {
    if (w.completed_steps?.[s.name]) continue;
    const out = { stdout: `ran ${s.name}\n`, stderr: "", exit_code: 0 };
    await r.send([
      { type: "step_start", data: { step: s.name, kind: s.kind, attempt: 1 } },
      { type: "log", data: { step: s.name, stream: "stdout", text: out.stdout } },
      {
        type: "step_end",
        data: { step: s.name, status: "success", exit_code: 0, outputs: out, duration_ms: 5 },
      },
    ]);
  }
  await r.event("done", { reason: "completed", outputs: { steps: w.plan.steps.length } });
};

/** Starts the first step and keeps reporting until released or told to abort. */
function holdUntil(release: Promise<void>): RunnerScript {
  return async (r) => {
    const w = r.assignment.workload as Workflow;
    const first = w.plan.steps[0]!.name;
    await r.event("step_start", { step: first, kind: "run", attempt: 1 });
    let released = false;
    void release.then(() => (released = true));
    while (!released && !r.abortRequested) {
      await r.event("log", { step: first, stream: "stdout", text: "working\n" });
      await r.sleep(30);
    }
    if (r.abortRequested) {
      await r.event("step_end", { step: first, status: "cancelled", error: "the run was cancelled" });
      await r.event("done", { reason: "aborted" });
      return;
    }
    await r.event("step_end", { step: first, status: "success", exit_code: 0, outputs: {} });
    await r.event("done", { reason: "completed", outputs: {} });
  };
}

beforeAll(async () => {
  p = await startAgentPlatform({ env: { PLUE_WEBHOOK_SECRET: SECRET } });
  p.executor.script = completeAll;
  alice = await p.user("alice");
  bob = await p.user("bob");
});
afterAll(async () => {
  await p.close();
  git.cleanup();
});

const nowSeconds = () => Math.floor(Date.now() / 1000);

async function hook(
  name: "push" | "pr" | "issue" | "mention",
  payload: unknown,
  opts: { delivery?: string | null; signature?: string | null; body?: string; base?: string } = {},
) {
  const body = opts.body ?? JSON.stringify(payload);
  const headers: Record<string, string> = { "content-type": "application/json" };
  const delivery = opts.delivery === undefined ? crypto.randomUUID() : opts.delivery;
  const timestamp = nowSeconds();
  headers[TIMESTAMP_HEADER] = String(timestamp);
  const signature =
    opts.signature === undefined
      ? signDelivery(SECRET, { timestamp, delivery: delivery ?? "", body })
      : opts.signature;
  if (delivery !== null) headers["x-plue-delivery"] = delivery;
  if (signature !== null) headers["x-plue-signature-256"] = signature;
  const res = await fetch(`${opts.base ?? p.url}/api/webhooks/${name}`, { method: "POST", headers, body });
  return { status: res.status, body: (await res.json()) as Json };
}

const HOOKED = `from plue import workflow, push, pull_request, issue

@workflow(triggers=[push(branches=["release/*"])])
def release(ctx):
    ctx.run(name="ship", cmd="echo ship")

@workflow(triggers=[pull_request(branches=["main"])])
def review(ctx):
    ctx.run(name="check", cmd="echo check")

@workflow(triggers=[issue(types=["opened"], labels=["bug"])])
def triage(ctx):
    ctx.run(name="label", cmd="echo triage")
`;

describe("webhooks", () => {
  let commit: string;
  beforeAll(async () => {
    ({ commit } = await pushRepo(git, p.url, alice, "alice", "hooked", {
      ".plue/workflows/hooks.py": HOOKED,
    }));
  });

  it("start the workflows whose triggers match, at the event's commit", async () => {
    const push = await hook("push", {
      repository: "alice/hooked",
      ref: "refs/heads/release/1.0",
      before: "0".repeat(40),
      after: commit,
    });
    expect(push.status).toBe(202);
    expect(push.body.runs).toEqual([expect.objectContaining({ workflow: "release", status: "queued" })]);
    const pr = await hook("pr", {
      repository: "alice/hooked",
      action: "opened",
      number: 3,
      base: "main",
      head: "main",
    });
    expect(pr.body.runs.map((r: Json) => r.workflow)).toEqual(["review"]);
    const feature = await hook("issue", {
      repository: "alice/hooked",
      action: "opened",
      labels: ["feature"],
    });
    expect(feature.body.runs).toEqual([]); // the label filter says no
    const bug = await hook("issue", {
      repository: "alice/hooked",
      action: "opened",
      number: 9,
      labels: ["bug"],
    });
    expect(bug.body.runs.map((r: Json) => r.workflow)).toEqual(["triage"]);

    const run = await waitForRun(alice, pr.body.runs[0].id);
    expect(run).toMatchObject({ status: "success", event: "pull_request", commit, ref: "refs/heads/main" });
    expect(run.trigger_context).toMatchObject({ kind: "pull_request", action: "opened", number: 3 });
    const issueRun = await waitForRun(alice, bug.body.runs[0].id);
    expect(issueRun).toMatchObject({ event: "issue", commit, status: "success" });
  });

  it("refuse a missing or wrong signature, and a body changed after signing", async () => {
    const payload = { repository: "alice/hooked", action: "opened", labels: ["bug"] };
    const missing = await hook("issue", payload, { signature: null });
    expect(missing).toMatchObject({ status: 401, body: { error: { code: "missing_signature" } } });
    expect(missing.body.error.message).toContain("x-plue-signature-256");
    const sign = (secret: string, delivery: string, body: string) =>
      signDelivery(secret, { timestamp: nowSeconds(), delivery, body });
    const wrong = await hook("issue", payload, {
      delivery: "d-wrong",
      signature: sign("another-secret-0123456789", "d-wrong", JSON.stringify(payload)),
    });
    expect(wrong.status).toBe(401);
    const garbled = await hook("issue", payload, { signature: "sha256=xyz" });
    expect(garbled.status).toBe(401);
    const tampered = JSON.stringify({ ...payload, labels: ["bug", "urgent"] });
    const changed = await hook("issue", payload, {
      body: tampered,
      delivery: "d-tampered",
      signature: sign(SECRET, "d-tampered", JSON.stringify(payload)),
    });
    expect(changed.status).toBe(401);
    // Signed with whitespace the JSON parser would ignore: the signature covers the raw bytes.
    const spaced = `${JSON.stringify(payload)} `;
    expect((await hook("issue", payload, { body: spaced })).status).toBe(202);
  });

  it("accept each delivery id once: a replay is refused and starts nothing", async () => {
    const payload = { repository: "alice/hooked", action: "opened", labels: ["bug"] };
    const before = (await alice.ok("GET", "/api/repos/alice/hooked/runs?workflow=triage&limit=100")).runs
      .length;
    const first = await hook("issue", payload, { delivery: "delivery-42" });
    expect(first.status).toBe(202);
    const replay = await hook("issue", payload, { delivery: "delivery-42" });
    expect(replay).toMatchObject({ status: 409, body: { error: { code: "duplicate_delivery" } } });
    const after = (await alice.ok("GET", "/api/repos/alice/hooked/runs?workflow=triage&limit=100")).runs
      .length;
    expect(after).toBe(before + 1);
    expect((await hook("issue", payload, { delivery: null })).status).toBe(400);
    expect((await hook("issue", payload, { delivery: "bad id with spaces" })).status).toBe(400);
  });

  it("say what is wrong with a payload, a repository or a commit", async () => {
    expect((await hook("issue", {}, { body: "{not json" })).body.error.code).toBe("malformed_json");
    expect((await hook("push", { repository: "alice/hooked", ref: "refs/heads/x" })).status).toBe(400);
    expect((await hook("issue", { repository: "alice/nope", action: "opened" })).status).toBe(404);
    const unknown = await hook("push", {
      repository: "alice/hooked",
      ref: "refs/heads/release/2",
      before: "0".repeat(40),
      after: "1".repeat(40),
    });
    expect(unknown).toMatchObject({ status: 422, body: { error: { code: "unknown_commit" } } });
    // A refused event does not use up its delivery id.
    const id = crypto.randomUUID();
    expect(
      (await hook("issue", { repository: "alice/nope", action: "opened" }, { delivery: id })).status,
    ).toBe(404);
    expect(
      (await hook("issue", { repository: "alice/hooked", action: "opened" }, { delivery: id })).status,
    ).toBe(202);
  });

  it("answer 503 when no webhook secret is configured", async () => {
    const ctx = { ...p.ctx, config: { ...p.ctx.config, PLUE_WEBHOOK_SECRET: undefined } };
    const server = createServer(createApp(ctx)).listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const res = await hook("issue", { repository: "alice/hooked", action: "opened" }, { base });
      expect(res).toMatchObject({ status: 503, body: { error: { code: "webhooks_disabled" } } });
      expect(res.body.error.message).toContain("PLUE_WEBHOOK_SECRET");
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe("runs", () => {
  it("lists newest first with filters, shows steps folded from the runner's events, and streams them", async () => {
    const { dir } = await pushRepo(git, p.url, alice, "alice", "listed", {
      ".plue/workflows/a.py": `from plue import workflow, push\n\n@workflow(triggers=[push()])\ndef a(ctx):\n    one = ctx.run(name="one", cmd="echo 1")\n    ctx.run(name="two", cmd=f"echo {one.stdout}")\n`,
    });
    await pushMore(git, p.url, alice, "alice", "listed", dir, { "x.txt": "x" });
    let runs: Json[] = [];
    for (let i = 0; i < 100 && !(runs.length === 2 && runs.every((r) => r.status === "success")); i++) {
      runs = (await alice.ok("GET", "/api/repos/alice/listed/runs")).runs;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(runs).toHaveLength(2);
    expect(new Date(runs[0].created_at) >= new Date(runs[1].created_at)).toBe(true);
    const run = await alice.ok("GET", `/api/runs/${runs[0].id}`);
    expect(run.steps).toEqual([
      expect.objectContaining({ name: "one", status: "success", exit_code: 0, attempts: 1, needs: [] }),
      expect.objectContaining({ name: "two", status: "success", needs: ["one"] }),
    ]);
    expect(step(run, "one").outputs.stdout).toBe("ran one\n");
    expect(run.outputs).toEqual({ steps: 2 });

    const page = await alice.ok("GET", "/api/repos/alice/listed/runs?limit=1");
    expect(page.runs.map((r: Json) => r.id)).toEqual([runs[0].id]);
    const next = await alice.ok("GET", `/api/repos/alice/listed/runs?limit=1&before=${runs[0].id}`);
    expect(next.runs.map((r: Json) => r.id)).toEqual([runs[1].id]);
    expect((await alice.ok("GET", "/api/repos/alice/listed/runs?status=failure")).runs).toEqual([]);
    expect((await alice.ok("GET", "/api/repos/alice/listed/runs?event=push")).runs).toHaveLength(2);
    expect((await alice.request("GET", "/api/repos/alice/listed/runs?status=nope")).status).toBe(400);
    // Public repository: anyone reads its runs; only its owner changes them.
    expect((await fetch(`${p.url}/api/runs/${run.id}`)).status).toBe(200);
    expect((await bob.request("POST", `/api/runs/${run.id}/rerun`, {})).status).toBe(403);
    expect((await bob.request("POST", `/api/runs/${run.id}/cancel`)).status).toBe(403);

    // The stream replays the run's events up to `done`, and resumes after a Last-Event-ID.
    const events = await collect(run.id);
    expect(events.map((e) => e.type)).toEqual([
      "step_start",
      "log",
      "step_end",
      "step_start",
      "log",
      "step_end",
      "done",
    ]);
    const resumed = await collect(run.id, events[3]!.id);
    expect(resumed.map((e) => e.id)).toEqual(events.slice(4).map((e) => e.id));
    const after = await fetch(`${p.url}/api/runs/${run.id}/stream`, {
      headers: { "last-event-id": String(events.at(-1)!.id) },
    });
    expect(after.status).toBe(204);
  });

  it("keeps private repositories' runs private", async () => {
    await alice.ok("POST", "/api/repos", { name: "secret", visibility: "private" });
    const dir = await git.repoWith("secret", {
      ".plue/workflows/s.py": `from plue import workflow, push\n\n@workflow(triggers=[push()])\ndef s(ctx):\n    ctx.run(name="s", cmd="true")\n`,
    });
    await git.ok(["push", "-q", cloneUrl(p.url, "alice", "secret", alice.token), "main"], dir);
    const [run] = await waitForRuns(alice, "alice/secret", 1);
    expect((await bob.request("GET", `/api/runs/${run.id}`)).status).toBe(404);
    expect((await bob.request("GET", "/api/repos/alice/secret/runs")).status).toBe(404);
    expect((await fetch(`${p.url}/api/runs/${run.id}/log`)).status).toBe(404);
    expect((await alice.request("GET", `/api/runs/${run.id}`)).status).toBe(200);
  });

  it("queues a run behind its concurrency group, starts it when the group is free, cancels a waiting run", async () => {
    const QUEUED = `from plue import workflow, manual\n\n@workflow(triggers=[manual()], concurrency="deploy")\ndef deploy(ctx):\n    ctx.run(name="go", cmd="echo go")\n`;
    await pushRepo(git, p.url, alice, "alice", "queue", { ".plue/workflows/d.py": QUEUED });
    let release!: () => void;
    p.executor.script = holdUntil(new Promise<void>((r) => (release = r)));
    try {
      const first = await alice.ok("POST", "/api/repos/alice/queue/workflows/deploy/dispatch", {});
      await waitForRun(alice, first.id, (r) => r.status === "running");
      p.executor.script = completeAll;
      const second = await alice.ok("POST", "/api/repos/alice/queue/workflows/deploy/dispatch", {});
      const third = await alice.ok("POST", "/api/repos/alice/queue/workflows/deploy/dispatch", {});
      const waiting = await alice.ok("GET", `/api/runs/${second.id}`);
      expect(waiting).toMatchObject({ status: "queued", workload_id: null, concurrency_group: "deploy" });
      expect(await alice.ok("POST", `/api/runs/${third.id}/cancel`)).toEqual({
        id: third.id,
        status: "cancelled",
      });
      expect((await alice.ok("GET", `/api/runs/${third.id}`)).steps[0].status).toBe("cancelled");
      release();
      expect((await waitForRun(alice, first.id)).status).toBe("success");
      const started = await waitForRun(alice, second.id);
      expect(started.status).toBe("success");
      expect(
        new Date(started.started_at) >= new Date((await alice.ok("GET", `/api/runs/${first.id}`)).ended_at),
      ).toBe(true);
      expect((await alice.ok("GET", `/api/runs/${third.id}`)).workload_id).toBeNull();
    } finally {
      p.executor.script = completeAll;
    }
  });

  it("cancels the older run of a cancel_in_progress group when a newer one starts", async () => {
    const CANCELLING = `from plue import workflow, manual\n\n@workflow(triggers=[manual()], concurrency={"group": "ci-{ref}", "cancel_in_progress": True})\ndef ci(ctx):\n    ctx.run(name="go", cmd="echo go")\n`;
    await pushRepo(git, p.url, alice, "alice", "newest", { ".plue/workflows/ci.py": CANCELLING });
    p.executor.script = holdUntil(new Promise<void>(() => {}));
    try {
      const older = await alice.ok("POST", "/api/repos/alice/newest/workflows/ci/dispatch", {});
      await waitForRun(alice, older.id, (r) => r.status === "running");
      p.executor.script = completeAll;
      const newer = await alice.ok("POST", "/api/repos/alice/newest/workflows/ci/dispatch", {});
      expect((await waitForRun(alice, older.id)).status).toBe("cancelled");
      const done = await waitForRun(alice, newer.id);
      expect(done).toMatchObject({ status: "success", concurrency_group: "ci-refs/heads/main" });
    } finally {
      p.executor.script = completeAll;
    }
  });

  it("ends a run whose runner dies as an error, and reruns it in full", async () => {
    await pushRepo(git, p.url, alice, "alice", "lost", {
      ".plue/workflows/l.py": `from plue import workflow, push\n\n@workflow(triggers=[push()])\ndef l(ctx):\n    ctx.run(name="a", cmd="true")\n    ctx.run(name="b", cmd="true")\n`,
    });
    // (the push's run was played by completeAll; the next one dies after its first step started)
    const [pushed] = await waitForRuns(alice, "alice/lost", 1);
    p.executor.script = async (r: ScriptedRunner) => {
      await r.event("step_start", { step: "a", kind: "run", attempt: 1 });
      throw new Error("crash");
    };
    try {
      const again = await alice.ok("POST", `/api/runs/${pushed.id}/rerun`, {});
      const lost = await waitForRun(alice, again.id);
      expect(lost.status).toBe("error");
      expect(lost.error).toContain("runner ended without reporting an outcome");
      expect(step(lost, "a")).toMatchObject({
        status: "failure",
        error: "the runner stopped during this step",
      });
      expect(step(lost, "b").status).toBe("skipped");
      p.executor.script = completeAll;
      const full = await alice.ok("POST", `/api/runs/${lost.id}/rerun`, { failed_only: false });
      expect((await waitForRun(alice, full.id)).status).toBe("success");
      const nothing = await alice.request("POST", `/api/runs/${full.id}/rerun`, { failed_only: true });
      expect(nothing).toMatchObject({ status: 409, body: { error: { code: "nothing_failed" } } });
    } finally {
      p.executor.script = completeAll;
    }
  });

  it("refuses dispatches a workflow does not accept", async () => {
    await pushRepo(git, p.url, alice, "alice", "manual", {
      ".plue/workflows/m.py": `from plue import workflow, manual, push\n\n@workflow(triggers=[manual(inputs={"n": 1})])\ndef m(ctx):\n    ctx.run(name="m", cmd="true")\n\n@workflow(triggers=[push(branches=["x"])])\ndef p(ctx):\n    ctx.run(name="p", cmd="true")\n`,
    });
    const r = (path: string, body: unknown) =>
      alice.request("POST", `/api/repos/alice/manual/workflows/${path}`, body);
    expect((await r("nope/dispatch", {})).status).toBe(404);
    expect((await r("p/dispatch", {})).body.error).toMatchObject({ code: "not_dispatchable" });
    expect((await r("m/dispatch", { inputs: { z: 1 } })).body.error.message).toContain("unknown input z");
    expect((await r("m/dispatch", { ref: "no-such-branch" })).status).toBe(404);
    expect((await bob.request("POST", "/api/repos/alice/manual/workflows/m/dispatch", {})).status).toBe(403);
    const ok = await r("m/dispatch", { inputs: { n: 5 } });
    expect(ok.status).toBe(201);
    expect((await waitForRun(alice, ok.body.id)).trigger_context.inputs).toEqual({ n: 5 });
  });

  it("starts chat and mention workflows from a chat message on the repository, in agent mode with its session", async () => {
    await pushRepo(git, p.url, alice, "alice", "chatty", {
      ".plue/workflows/c.py": `from plue import workflow, chat, mention

@workflow(triggers=[chat()])
def answer(ctx):
    ctx.run(name="a", cmd="true")

@workflow(triggers=[mention(handle="plue")])
def summoned(ctx):
    ctx.run(name="s", cmd="true")
`,
      // Reported by its push; a chat message or mention does not make an error run of it each time.
      ".plue/workflows/broken.py": "def (:\n",
    });
    // The chat's own agent answers too: the runner double plays it as one token and done.
    p.executor.script = async (r) => {
      if (r.assignment.workload.type === "workflow") return completeAll(r);
      await r.tokens(["ok"]);
      await r.event("done", { reason: "end_turn" });
    };
    try {
      const session = await alice.ok("POST", "/api/sessions", { repo: "alice/chatty" });
      const sent = await alice.ok("POST", `/api/sessions/${session.id}/run`, {
        message: "@Plue please look, and @bob too (mail bob@example.com)",
      });
      expect(sent.workload_id).toEqual(expect.any(String));
      expect(sent.runs.map((r: Json) => r.workflow).sort()).toEqual(["answer", "summoned"]);
      for (const created of sent.runs) {
        const run = await waitForRun(alice, created.id);
        expect(run).toMatchObject({ mode: "agent", session_id: session.id, status: "success" });
      }
      const byWorkflow = Object.fromEntries(
        await Promise.all(
          sent.runs.map(async (r: Json) => [r.workflow, await alice.ok("GET", `/api/runs/${r.id}`)]),
        ),
      );
      expect(byWorkflow.answer).toMatchObject({
        event: "chat",
        trigger_context: { message: expect.any(String) },
      });
      expect(byWorkflow.summoned).toMatchObject({ event: "mention", trigger_context: { handle: "plue" } });

      // Bob may open a session about alice's public repository (read), but posting to it starts a
      // runner and needs write (docs/accounts.md): refused, and no run starts.
      const bobs = await bob.ok("POST", "/api/sessions", { repo: "alice/chatty" });
      const before = (await alice.ok("GET", "/api/repos/alice/chatty/runs?limit=100")).runs.length;
      const refused = await bob.request("POST", `/api/sessions/${bobs.id}/run`, { message: "@plue hi" });
      expect(refused).toMatchObject({ status: 403, body: { error: { code: "forbidden" } } });
      expect((await alice.ok("GET", "/api/repos/alice/chatty/runs?limit=100")).runs).toHaveLength(before);
      // A write collaborator's message does start them.
      await alice.ok("PUT", "/api/repos/alice/chatty/collaborators/bob", { permission: "write" });
      const bobRuns = (await bob.ok("POST", `/api/sessions/${bobs.id}/run`, { message: "@plue hi" })).runs;
      expect(bobRuns.map((r: Json) => r.workflow).sort()).toEqual(["answer", "summoned"]);
      for (const created of bobRuns) await waitForRun(alice, created.id);
      await alice.ok("DELETE", "/api/repos/alice/chatty/collaborators/bob");
      // A session on no repository starts no workflow.
      const loose = await alice.ok("POST", "/api/sessions", {});
      expect((await alice.ok("POST", `/api/sessions/${loose.id}/run`, { message: "@plue hi" })).runs).toEqual(
        [],
      );
    } finally {
      p.executor.script = completeAll;
    }
  });

  it("starts mention workflows from the mention webhook", async () => {
    const mentioned = await hook("mention", { repository: "alice/chatty", handle: "@plue", body: "see #3" });
    expect(mentioned.status).toBe(202);
    expect(mentioned.body.runs.map((r: Json) => r.workflow)).toEqual(["summoned"]);
    const other = await hook("mention", { repository: "alice/chatty", handle: "bob" });
    expect(other.body.runs).toEqual([]);
    const bad = await hook("mention", { repository: "alice/chatty" });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: "invalid_request" } } });
  });
});

describe("mentions", () => {
  it("finds each @handle once, in lower case, and not in e-mail addresses", () => {
    expect(mentions("@Plue look; @bob, @plue again (a@b.c) @-no @x_y-z")).toEqual(["plue", "bob", "x_y-z"]);
    expect(mentions("@a @b @c @d @e @f @g")).toHaveLength(5);
  });
});

/** The run's SSE events until the stream ends. */
function collect(runId: string, lastEventId?: number): Promise<StreamEvent[]> {
  const url = `${p.url}/api/runs/${runId}/stream${lastEventId ? `?lastEventId=${lastEventId}` : ""}`;
  const es = new EventSource(url, { fetch: alice.fetch });
  const got: StreamEvent[] = [];
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`stream did not end: ${got.map((e) => e.type)}`)), 10_000);
    for (const type of ["step_start", "step_end", "log", "done", "error"]) {
      es.addEventListener(type, (m) => {
        if (m.data === undefined) return;
        const e = JSON.parse(m.data) as StreamEvent;
        got.push(e);
        if (e.type === "done" || e.type === "error") {
          clearTimeout(t);
          es.close();
          resolve(got);
        }
      });
    }
  });
}

describe("plue run", () => {
  it("dispatches a workflow with inputs and follows its log to the end", async () => {
    const { run } = await import("../../app/cli/run");
    await pushRepo(git, p.url, alice, "alice", "cli", {
      ".plue/workflows/d.py": `from plue import workflow, manual\n\n@workflow(triggers=[manual(inputs={"target": None})])\ndef deploy(ctx):\n    ctx.run(name="push", cmd=f"echo {ctx.event.inputs['target']}")\n    ctx.run(name="verify", cmd="true")\n`,
    });
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) };
    const env = { PLUE_URL: p.url, PLUE_TOKEN: alice.token };
    const code = await run(["alice/cli", "deploy", "--input", "target=prod", "--follow"], io, env);
    const text = out.join("");
    expect(err.join("")).toBe("");
    expect(code).toBe(0);
    expect(text).toMatch(/^run [0-9a-f-]{36} of deploy in alice\/cli: http:\/\/.+\/runs\/[0-9a-f-]{36}\n/);
    expect(text).toContain("==> push\nran push\n<== push: success (exit code 0, 5 ms)\n==> verify\n");
    expect(text.endsWith("run success\n")).toBe(true);
    const id = /^run ([0-9a-f-]{36})/.exec(text)![1];
    expect((await alice.ok("GET", `/api/runs/${id}`)).trigger_context.inputs).toEqual({ target: "prod" });

    expect(await run(["alice/cli", "deploy"], io, env)).toBe(2); // the required input is missing
    expect(err.join("")).toContain("422: cannot dispatch deploy: input target is required");
    expect(await run(["alice-cli", "deploy"], io, env)).toBe(2);
    expect(await run(["alice/cli", "deploy"], io, { PLUE_URL: p.url, PLUE_DATA_DIR: "/nonexistent" })).toBe(
      2,
    );
    expect(err.join("")).toContain("no token");
  });
});
