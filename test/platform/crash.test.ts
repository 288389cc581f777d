/**
 * Crash recovery of the real server (`plue serve`, embedded PGlite on disk, the local executor
 * with real sandboxed runners and the fake model), run as a process group of its own:
 *
 * a workflow run in a long step and a chat session that stays running, then SIGKILL of the whole
 * group. The runners (process groups of their own) exit with their parent; their directories
 * stay behind. A restart on the same data dir then, within two reaper periods: the run and its
 * steps have ended, the session failed with `runner lost: server restarted` and takes a new
 * message, the old workload's stream ends with that error, the repository can be deleted, and the
 * dead server's directories are gone.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { jest } from "@jest/globals";
import { thisInstance } from "../../app/dispatch/instance";
import { GitClient } from "../git/client";
import { ApiClient } from "../helpers/agents";
import { type FakeAnthropic, startFakeModelForRunners } from "../helpers/fake-anthropic";
import { ENDED, type Json, pushRepo } from "../runs/helpers";

jest.setTimeout(180_000);

const BIN = path.resolve("bin/plue.js");
const REAPER_MS = 1000;
const boot = thisInstance.split("-")[0]!;
// A restart must come back on the same port, so it is chosen here: below the kernel's ephemeral
// range (32768–60999), where no outgoing connection of another test can be holding it.
let nextPort = 20000 + (process.pid % 4000) * 2;

const SLOW = `from plue import workflow, manual

@workflow(triggers=[manual()])
def slow(ctx):
    ctx.run(name="wait", cmd="echo started; sleep 300")
    ctx.run(name="later", cmd="echo later")
`;

const servers: ChildProcess[] = [];
let fake: FakeAnthropic;
const git = new GitClient();
let dataDir: string;
/** The servers' own temp dir: any other server on this host (another test file's) would sweep a
 * dead server's directories out of the shared one before this test looks for them. */
let tmpDir: string;

beforeAll(async () => {
  fake = await startFakeModelForRunners(); // the servers' runners inherit its URL
  fake.respond(() => ({ content: [{ type: "text", text: "Working on it" }], hang: true }));
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-crash-"));
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-crash-tmp-"));
  fs.chmodSync(tmpDir, 0o755); // runners drop to another user, who must reach their directories
});
afterAll(async () => {
  for (const s of servers) killGroup(s);
  for (const s of servers) for (const pid of runnersOf(s.pid!)) kill(pid);
  for (const s of servers)
    for (const d of dirsOf(s.pid!)) fs.rmSync(path.join(tmpDir, d), { recursive: true, force: true });
  await fake?.close();
  git.cleanup();
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {}
}
function killGroup(s: ChildProcess): void {
  try {
    process.kill(-s.pid!, "SIGKILL");
  } catch {}
}

/** A process that exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Runner processes a server started (titled plue-runner:<boot>-<server pid>-<start>:n). */
function runnersOf(serverPid: number): number[] {
  const prefix = `plue-runner:${boot}-${serverPid}-`;
  return fs
    .readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        return fs.readFileSync(`/proc/${n}/cmdline`, "utf8").startsWith(prefix);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Directories a server made in the temp dir (runner dirs, its runner bundle). */
function dirsOf(serverPid: number): string[] {
  const mark = new RegExp(`^plue-(run|bundle)-${boot}-${serverPid}-\\d+-`);
  return fs.readdirSync(tmpDir).filter((n) => mark.test(n));
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startServer(
  port: number,
): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    PLUE_DATA_DIR: dataDir,
    PLUE_SEED_DEMO: "false",
    LOG_LEVEL: "warn",
    RUNNER_MODE: "local",
    PLUE_WARM_POOL: "0",
    PLUE_REAPER_INTERVAL_MS: String(REAPER_MS),
    TMPDIR: tmpDir,
  };
  delete env.DATABASE_URL; // the embedded database, on disk
  delete env.PLUE_WORKSPACE;
  const child = spawn(process.execPath, [BIN, "serve"], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // a process group of its own, killed whole below
  });
  servers.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  await until(
    "healthy",
    async () => {
      if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}: ${out}`);
      return fetch(`${url}/api/health`).then(
        (r) => r.ok,
        () => false,
      );
    },
    90_000,
  );
  return { child, url, output: () => out };
}

/** The SSE frames of a stream until it ends (or `ms` passes). */
async function readStream(client: ApiClient, p: string, lastEventId: string | undefined, ms: number) {
  const res = await fetch(client.url + p, {
    headers: {
      authorization: `Bearer ${client.token}`,
      ...(lastEventId ? { "last-event-id": lastEventId } : {}),
    },
    signal: AbortSignal.timeout(ms),
  });
  const text = await res.text();
  return {
    status: res.status,
    frames: text
      .split("\n\n")
      .filter((f) => f.includes("event:"))
      .map((f) => ({
        id: /^id: ?(.*)$/m.exec(f)?.[1],
        event: /^event: ?(.*)$/m.exec(f)?.[1],
        data: /^data: ?(.*)$/m.exec(f)?.[1],
      })),
  };
}

/** The first frame of a live stream, then the connection is dropped (a client that lost it). */
async function firstFrameId(client: ApiClient, p: string): Promise<string> {
  const ctl = new AbortController();
  const res = await fetch(client.url + p, {
    headers: { authorization: `Bearer ${client.token}` },
    signal: ctl.signal,
  });
  const reader = res.body!.getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended early: ${text}`);
    text += Buffer.from(value).toString("utf8");
    const id = /^id: ?(\d+)$/m.exec(text)?.[1];
    if (id && text.includes("\n\n")) {
      ctl.abort();
      return id;
    }
  }
}

it("after SIGKILL of the whole server group, a restart ends what was running within two reaper periods", async () => {
  const port = nextPort++;
  const first = await startServer(port);
  const token = fs.readFileSync(path.join(dataDir, "admin-token"), "utf8").trim();
  const admin = new ApiClient(first.url, token);

  await pushRepo(git, first.url, admin, "admin", "crash", { ".plue/workflows/slow.py": SLOW });
  const run = await admin.ok("POST", "/api/repos/admin/crash/workflows/slow/dispatch", {});
  const session = (await admin.ok("POST", "/api/sessions", { title: "crash" })).id as string;
  await admin.ok("POST", `/api/sessions/${session}/run`, { message: "keep working" });
  await until(
    "the step runs",
    async () => {
      const r = await admin.ok("GET", `/api/runs/${run.id}`);
      return r.steps.find((s: Json) => s.key === "wait" || s.name === "wait")?.status === "running";
    },
    60_000,
  );
  const seen = await firstFrameId(admin, `/api/sessions/${session}/stream`); // a token of the hung turn
  const runners = runnersOf(first.child.pid!);
  expect(runners.length).toBeGreaterThanOrEqual(2); // the run's and the session's (and a spare)

  process.kill(-first.child.pid!, "SIGKILL");
  // Runners lead groups of their own: they outlive the group kill, and exit with their parent.
  await until("the runners exit with their server", () => runners.every((pid) => !alive(pid)), 10_000);
  const left = dirsOf(first.child.pid!);
  expect(left.some((d) => d.startsWith("plue-run-"))).toBe(true);

  const second = await startServer(port);
  const restarted = Date.now();
  const after = new ApiClient(second.url, token);
  const ended = await until(
    "the run ends",
    async () => {
      const r = await after.ok("GET", `/api/runs/${run.id}`);
      return ENDED.includes(r.status) ? r : undefined;
    },
    2 * REAPER_MS,
  );
  const s = await after.ok("GET", `/api/sessions/${session}`);
  expect(Date.now() - restarted).toBeLessThan(2 * REAPER_MS + 1000);
  expect(ended.status).toBe("error");
  for (const step of ended.steps)
    expect(["success", "failure", "cancelled", "error", "skipped"]).toContain(step.status);
  expect(s.status).toBe("failed");

  // The old workload's stream, resumed after the last event seen, ends with the error.
  const stream = await readStream(after, `/api/sessions/${session}/stream`, seen, 10_000);
  expect(stream.status).toBe(200);
  const last = stream.frames.at(-1)!;
  expect(last.event).toBe("error");
  expect(JSON.parse(last.data!).data).toEqual({
    code: "runner_lost",
    message: "runner lost: server restarted",
  });

  // The session takes a new message; the repository can be deleted.
  expect((await after.request("POST", `/api/sessions/${session}/run`, { message: "again" })).status).toBe(
    202,
  );
  expect((await after.request("DELETE", "/api/repos/admin/crash")).status).toBe(204);
  // What the killed server left in the temp dir is gone.
  expect(left.filter((d) => fs.existsSync(path.join(tmpDir, d)))).toEqual([]);

  killGroup(second.child);
});
