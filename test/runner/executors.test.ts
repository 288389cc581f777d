/**
 * The local executor (runner child processes) and the in-process executor, against the fake
 * model and stand-in event endpoints: completion, the concurrency queue, abort, and a runner
 * that is killed mid-run.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import type { ExecutorHooks, ExitInfo } from "../../app/dispatch/executor";
import { InProcessExecutor } from "../../app/dispatch/executors/in-process";
import { LocalExecutor } from "../../app/dispatch/executors/local";
import { ExitCode } from "../../app/wire/protocol";
import { agentAssignment } from "../helpers/assignments";
import { type EventsSink, startEventsSink } from "../helpers/events-sink";
import { type FakeAnthropic, startFakeModelForRunners } from "../helpers/fake-anthropic";

const log = pino({ level: "silent" });
let fake: FakeAnthropic;
const sinks: EventsSink[] = [];
beforeAll(async () => {
  // The in-process runner reads the SDK's standard variables from this process.
  fake = await startFakeModelForRunners();
});
afterAll(async () => {
  await fake.close();
  await Promise.all(sinks.map((s) => s.close()));
});

async function sink() {
  const s = await startEventsSink();
  sinks.push(s);
  return s;
}

/** Hooks that record exits and let a test wait for one. */
function exits() {
  const seen = new Map<string, ExitInfo>();
  const waiting = new Map<string, (e: ExitInfo) => void>();
  const hooks: ExecutorHooks = {
    onExit(id, exit) {
      seen.set(id, exit);
      waiting.get(id)?.(exit);
    },
  };
  const of = (id: string) =>
    seen.has(id) ? Promise.resolve(seen.get(id)!) : new Promise<ExitInfo>((r) => waiting.set(id, r));
  return { hooks, of, seen };
}

const hang = { content: [{ type: "text" as const, text: "Working on it" }], hang: true };

describe("local executor", () => {
  const env = () => ({ ANTHROPIC_API_KEY: "sk-test", ANTHROPIC_BASE_URL: fake.url });

  it("runs a workload in a runner process to its end", async () => {
    const e = exits();
    const executor = new LocalExecutor(e.hooks, log, { concurrency: 2, sandbox: "auto", env: env() });
    const s = await sink();
    fake.enqueue(
      { content: [{ type: "tool_use", name: "bash", input: { command: "echo from-the-sandbox" } }] },
      { content: [{ type: "text", text: "All done." }] },
    );
    const a = agentAssignment({ callbackUrl: s.url });
    await executor.dispatch(a);
    const exit = await e.of(a.workload.id);
    expect(exit).toMatchObject({ code: ExitCode.ok, reason: expect.stringContaining("completed") });
    expect(s.events.find((x) => x.type === "tool_end")!.data.output).toContain("from-the-sandbox");
    expect(s.events.at(-1)).toMatchObject({ type: "done", data: { reason: "end_turn" } });
    await executor.close();
  });

  it("queues beyond its concurrency, aborts running and queued workloads", async () => {
    fake.respond(() => hang);
    const e = exits();
    const executor = new LocalExecutor(e.hooks, log, { concurrency: 1, sandbox: "auto", env: env() });
    const [s1, s2, s3] = [await sink(), await sink(), await sink()];
    const [a1, a2, a3] = [s1, s2, s3].map((s) => agentAssignment({ callbackUrl: s.url }));
    for (const a of [a1!, a2!, a3!]) await executor.dispatch(a);
    await s1.waitFor("token");
    expect(executor.active).toEqual([a1!.workload.id]);
    expect(executor.waiting).toEqual([a2!.workload.id, a3!.workload.id]);

    await executor.abort(a3!.workload.id); // queued: dropped, reported at once
    expect(await e.of(a3!.workload.id)).toMatchObject({ code: null, reason: "aborted before it started" });

    await executor.abort(a1!.workload.id); // running: SIGTERM, the runner ends gracefully
    expect(await e.of(a1!.workload.id)).toMatchObject({ code: ExitCode.aborted });
    expect(s1.events.at(-1)).toMatchObject({ type: "done", data: { reason: "aborted" } });

    await s2.waitFor("token"); // the slot went to the next in line
    await executor.close();
    expect(await e.of(a2!.workload.id)).toMatchObject({ code: ExitCode.aborted });
    expect(s3.events).toHaveLength(0);
  });

  it("gives each runner a directory under PLUE_WORKSPACE, its workspace a size-limited volume, and removes both", async () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), "plue-workspaces-"));
    fs.chmodSync(base, 0o755); // a root runner's sandboxes run as another user, who must reach it
    const e = exits();
    const executor = new LocalExecutor(e.hooks, log, {
      concurrency: 1,
      sandbox: "auto",
      env: { ...env(), PLUE_WORKSPACE: base },
    });
    const s = await sink();
    fake.enqueue(
      { content: [{ type: "tool_use", name: "bash", input: { command: "echo here > marker && pwd -P" } }] },
      hang,
    );
    const a = agentAssignment({ callbackUrl: s.url });
    await executor.dispatch(a);
    await s.waitFor("tool_end");
    const pid = executor.pids.get(a.workload.id)!;
    try {
      // Each runner has its own directory there, named for this server (recovery finds its owner).
      const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      const own = environ.find((v) => v.startsWith("PLUE_WORKSPACE="))!.slice("PLUE_WORKSPACE=".length);
      expect(path.dirname(own)).toBe(base);
      expect(path.basename(own)).toMatch(/^plue-run-[0-9a-f]{8}-\d+-\d+-\d+$/);
      expect(fs.existsSync(own)).toBe(true);
      // A root runner's workspace is on the volume it reserved before dropping root
      // (runner/sandbox/volume.ts); an unprivileged one (a runner pod) puts it under PLUE_WORKSPACE.
      const volume = `/var/tmp/plue-volumes/r-${pid}`;
      const ws = fs.readdirSync(volume).filter((w) => fs.existsSync(path.join(volume, w, "marker")));
      expect(ws).toHaveLength(1);
      expect(ws[0]).toMatch(/^plue-ws-/);
      expect(fs.readFileSync(path.join(volume, ws[0]!, "marker"), "utf8")).toBe("here\n");
      expect(fs.readFileSync("/proc/mounts", "utf8")).toContain(` ${volume} ext4 `);
      await executor.abort(a.workload.id);
      await e.of(a.workload.id);
      expect(fs.existsSync(own)).toBe(false);
      expect(fs.existsSync(volume)).toBe(false);
      expect(fs.readFileSync("/proc/mounts", "utf8")).not.toContain(` ${volume} `);
    } finally {
      await executor.close();
      fs.rmSync(base, { recursive: true, force: true });
    }
  });

  it("reports a runner killed mid-run (kill -9) with the signal as the reason", async () => {
    fake.respond(() => hang);
    const e = exits();
    const executor = new LocalExecutor(e.hooks, log, { concurrency: 1, sandbox: "auto", env: env() });
    const s = await sink();
    const a = agentAssignment({ callbackUrl: s.url });
    await executor.dispatch(a);
    await s.waitFor("token");
    process.kill(executor.pids.get(a.workload.id)!, "SIGKILL");
    const exit = await e.of(a.workload.id);
    expect(exit).toMatchObject({ code: null, signal: "SIGKILL", reason: "runner was killed by SIGKILL" });
    expect(s.events.some((x) => x.type === "done" || x.type === "error")).toBe(false);
    await executor.close();
  });
});

describe("in-process executor", () => {
  it("runs a workload inside this process and aborts it through its controller", async () => {
    const e = exits();
    const executor = new InProcessExecutor(e.hooks, log, { concurrency: 1, sandbox: "auto" });
    const s1 = await sink();
    fake.enqueue(
      { content: [{ type: "tool_use", name: "list_files", input: {} }] },
      { content: [{ type: "text", text: "Empty." }] },
    );
    const a1 = agentAssignment({ callbackUrl: s1.url });
    await executor.dispatch(a1);
    expect(await e.of(a1.workload.id)).toMatchObject({ code: ExitCode.ok });
    expect(s1.events.find((x) => x.type === "tool_end")!.data).toMatchObject({ output: "(. is empty)" });

    fake.respond(() => hang);
    const s2 = await sink();
    const a2 = agentAssignment({ callbackUrl: s2.url });
    await executor.dispatch(a2);
    await s2.waitFor("token");
    await executor.abort(a2.workload.id);
    expect(await e.of(a2.workload.id)).toMatchObject({ code: ExitCode.aborted });
    expect(s2.events.at(-1)).toMatchObject({ type: "done", data: { reason: "aborted" } });
    await executor.close();
  });
});
