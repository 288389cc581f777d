/**
 * A runner started as root drops to the sandbox's host user before it does any work: its
 * start-up (`startUp`, run in a child process as root, then the file tools, git's user and a
 * sandboxed command from there), and a real runner process of the local executor, whose ids and
 * capabilities are read from /proc while it works. Needs root (CI runs as root); as anyone else
 * there is nothing to drop and the tests only check that.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import type { ExecutorHooks, ExitInfo } from "../../app/dispatch/executor";
import { LocalExecutor } from "../../app/dispatch/executors/local";
import { RUNNER_DROP } from "../../runner/main";
import { agentAssignment } from "../helpers/assignments";
import { type EventsSink, startEventsSink } from "../helpers/events-sink";
import { type FakeAnthropic, startFakeModelForRunners } from "../helpers/fake-anthropic";

const isRoot = process.getuid?.() === 0;
const repo = path.resolve(".");
let scratch: string;

beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "plue-privileges-"));
  fs.chmodSync(scratch, 0o755);
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** The Uid, Gid, Groups and CapEff lines of /proc/<pid>/status. */
function credentials(pid: number | "self"): Record<string, string> {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Object.fromEntries(
    status
      .split("\n")
      .filter((l) => /^(Uid|Gid|Groups|CapEff|CapPrm):/.test(l))
      .map((l) => l.split(/:\s*/) as [string, string]),
  );
}

// Run as root in a child: startUp, then the tools as the agent would use them.
const CHILD = `
import fs from "node:fs";
import { startUp } from "./runner/main.ts";
import { resolveSandbox } from "./runner/sandbox/index.ts";
import { runTool } from "./runner/tools/index.ts";
const [base, ws, secret] = process.argv.slice(1);
await startUp({ workspaceBase: base, log: { info() {} } });
const sandbox = (await resolveSandbox("bwrap")).create(ws);
const ctx = { root: ws, sandbox, signal: new AbortController().signal };
const attempt = (f) => { try { f(); return "ok"; } catch (e) { return e.code ?? e.message; } };
const status = fs.readFileSync("/proc/self/status", "utf8");
const out = {
  ids: [process.getuid(), process.geteuid(), process.getgid(), process.getegid()],
  groups: process.getgroups(),
  capEff: /CapEff:\\s*(\\w+)/.exec(status)[1],
  fileOwner: sandbox.fileOwner ?? null,
  write: await runTool("write_file", { path: "made/by-tool.txt", content: "x" }, ctx),
  read: await runTool("read_file", { path: "root-only.txt" }, ctx),
  bash: await runTool("bash", { command: "id -u; echo hi > from-bash; cat /proc/self/status | grep CapEff" }, ctx),
  direct: attempt(() => fs.readFileSync(secret)),
  regain: attempt(() => process.setuid(0)),
  regainGid: attempt(() => process.setgid(0)),
};
await sandbox.dispose();
process.stdout.write(JSON.stringify(out));
`;

function runChild(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", CHILD, ...args], {
      cwd: repo,
      env: { PATH: process.env.PATH, LOG_LEVEL: "silent" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("startUp as root", () => {
  it("drops to the sandbox's host user for good before any file tool runs", async () => {
    if (!isRoot) return; // nothing to drop; CI runs as root
    const base = path.join(scratch, "base"); // root's, 0755, empty: handed over to the runner's user
    const ws = path.join(scratch, "ws");
    const secret = path.join(scratch, "root-secret.txt");
    fs.mkdirSync(base, { mode: 0o755 });
    fs.mkdirSync(ws, { mode: 0o755 });
    fs.chownSync(ws, RUNNER_DROP.uid, RUNNER_DROP.gid);
    fs.writeFileSync(secret, "root only\n", { mode: 0o600 });
    fs.writeFileSync(path.join(ws, "root-only.txt"), "root only\n", { mode: 0o600 }); // root's, in the workspace

    const r = await runChild([base, ws, secret]);
    expect(r.stderr.replace(/.*ExperimentalWarning.*\n?/g, "")).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    const { uid, gid } = RUNNER_DROP;
    expect(out.ids).toEqual([uid, uid, gid, gid]);
    expect(out.groups.filter((g: number) => g !== gid)).toEqual([]);
    expect(out.capEff).toBe("0000000000000000");
    expect(out.regain).toBe("EPERM");
    expect(out.regainGid).toBe("EPERM");
    // The sandbox needs no ownership dance any more: the runner is the sandbox's host user.
    expect(out.fileOwner).toBeNull();
    expect(out.write).toMatchObject({ isError: false, output: "wrote 1 bytes to made/by-tool.txt" });
    for (const p of ["made", "made/by-tool.txt", "from-bash"]) {
      const st = fs.statSync(path.join(ws, p));
      expect([p, st.uid, st.gid]).toEqual([p, uid, gid]);
    }
    expect(out.read).toMatchObject({
      isError: true,
      output: "read_file failed: root-only.txt: permission denied",
    });
    expect(out.direct).toBe("EACCES");
    expect(out.bash).toMatchObject({ isError: false });
    expect(out.bash.output).toMatch(/^1000\nCapEff:\s*0+\n\[exit code 0\]$/);
    expect(fs.statSync(base).uid).toBe(uid);
  }, 60_000);

  it("stops with what to change when its workspace base is not its to write", async () => {
    if (!isRoot) return;
    const base = path.join(scratch, "busy"); // root's, 0755, not empty: not handed over
    fs.mkdirSync(base, { mode: 0o755 });
    fs.writeFileSync(path.join(base, "someone-elses"), "");
    const ws = path.join(scratch, "ws2");
    fs.mkdirSync(ws);
    const r = await runChild([base, ws, "/nonexistent"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      `${base} is not writable by uid ${RUNNER_DROP.uid}, the user a root runner drops to`,
    );
    expect(fs.statSync(base).uid).toBe(0);
  }, 60_000);
});

describe("a runner process of the local executor", () => {
  let fake: FakeAnthropic;
  let sink: EventsSink;
  beforeAll(async () => {
    fake = await startFakeModelForRunners();
    sink = await startEventsSink();
  });
  afterAll(async () => {
    await fake.close();
    await sink.close();
  });

  it("works as the sandbox's host user, with no capabilities, while its tools run", async () => {
    const exits = new Map<string, (e: ExitInfo) => void>();
    const hooks: ExecutorHooks = { onExit: (id, e) => exits.get(id)?.(e) };
    const executor = new LocalExecutor(hooks, pino({ level: "silent" }), {
      concurrency: 1,
      sandbox: "auto",
      env: { ANTHROPIC_API_KEY: "sk-test", ANTHROPIC_BASE_URL: fake.url },
    });
    fake.enqueue(
      { content: [{ type: "tool_use", name: "write_file", input: { path: "owned.txt", content: "x" } }] },
      { content: [{ type: "tool_use", name: "bash", input: { command: "stat -c %u owned.txt" } }] },
      { content: [{ type: "text", text: "Working on it" }], hang: true },
    );
    const a = agentAssignment({ callbackUrl: sink.url });
    const exited = new Promise<ExitInfo>((r) => exits.set(a.workload.id, r));
    try {
      await executor.dispatch(a);
      await sink.waitFor("token", 30_000); // the third turn: both tools have run, the runner is working
      const pid = executor.pids.get(a.workload.id)!;
      const creds = credentials(pid);
      const tools = sink.events.filter((e) => e.type === "tool_end").map((e) => e.data);
      expect(tools[0]).toMatchObject({ output: "wrote 1 bytes to owned.txt" });
      // Inside, the sandbox's own uid 1000 is the runner's host user: the file is the sandbox's.
      expect(tools[1]!.output).toMatch(/^1000\n/);
      if (isRoot) {
        const { uid, gid } = RUNNER_DROP;
        expect(creds.Uid!.split(/\s+/)).toEqual([uid, uid, uid, uid].map(String));
        expect(creds.Gid!.split(/\s+/)).toEqual([gid, gid, gid, gid].map(String));
        expect(creds.CapEff).toBe("0000000000000000");
        expect(creds.CapPrm).toBe("0000000000000000");
      } else {
        expect(creds.Uid!.split(/\s+/)[1]).toBe(String(process.geteuid!()));
      }
      await executor.abort(a.workload.id);
      await exited;
    } finally {
      await executor.close();
    }
  }, 90_000);
});
