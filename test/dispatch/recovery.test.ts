/**
 * Crash recovery and the executor's outside deadline, with real processes and a real database:
 * - a sweep fails exactly the workloads a dead server owned and nothing else holds (a queued one,
 *   one a live pool runner claimed, one of a live server elsewhere stay), kills the dead server's
 *   runner processes with what they started, and removes only dead servers' directories;
 * - a runner that ignores SIGTERM and never yields (a busy loop) is SIGKILLed with its helper at
 *   its deadline, its workload fails naming the limit, and the next workload gets its slot.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { jest } from "@jest/globals";
import pino from "pino";
import type { ExecutorHooks, ExitInfo } from "../../app/dispatch/executor";
import { LocalExecutor } from "../../app/dispatch/executors/local";
import { thisInstance } from "../../app/dispatch/instance";
import { agentAssignment } from "../helpers/assignments";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";

jest.setTimeout(60_000);

const boot = thisInstance.split("-")[0]!;
/** Whether a process exists and is not a zombie (a killed orphan waits for init to reap it). */
const alive = (pid: number) => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
};
const exited = (c: ChildProcess) =>
  c.exitCode !== null || c.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((r) => c.once("exit", () => r()));
const started: ChildProcess[] = [];
afterAll(() => {
  for (const c of started) if (c.pid && c.exitCode === null) c.kill("SIGKILL");
});

/** An instance id of this host whose process is gone: a server that was killed. */
async function deadHere(): Promise<string> {
  const c = spawn("true");
  await exited(c);
  return `${boot}-${c.pid}-1`;
}

describe("recovery sweep", () => {
  let p: TestPlatform;
  let base: string;
  beforeAll(async () => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), "plue-recovery-"));
    p = await startTestPlatform({ PLUE_WORKSPACE: base, PLUE_INSTANCE_LEASE_SECONDS: "5" });
  });
  afterAll(async () => {
    await p?.close();
    fs.rmSync(base, { recursive: true, force: true });
  });

  const workload = async (owner: string | null, status = "running") => {
    const id = randomUUID();
    await p.ctx.db.query(
      "INSERT INTO workloads (id, type, status, owner_instance) VALUES ($1, 'workflow', $2, $3)",
      [id, status, owner],
    );
    return id;
  };
  const statusOf = async (id: string) =>
    (
      await p.ctx.db.query<{ status: string; failure_reason: string | null }>(
        "SELECT status, failure_reason FROM workloads WHERE id = $1",
        [id],
      )
    ).rows[0]!;

  it("fails what a dead server left and nothing a live one holds; kills its runners; removes its dirs", async () => {
    const dead = await deadHere();
    const elsewhereLive = "0000000a-41-7"; // another host, heartbeat fresh
    const elsewhereStale = "0000000b-42-7"; // another host, silent past the lease
    await p.ctx.db.query(
      `INSERT INTO app_instances (id, hostname, pid, last_heartbeat) VALUES
         ($1, 'other', 41, now()), ($2, 'other', 42, now() - interval '1 minute'), ($3, 'here', 1, now())`,
      [elsewhereLive, elsewhereStale, dead],
    );
    const lost = await workload(dead);
    const pending = await workload(dead, "pending"); // was in a local executor's memory queue
    const queued = await workload(dead, "pending");
    await p.ctx.db.query("INSERT INTO runner_queue (workload_id, assignment) VALUES ($1, '\\x00')", [queued]);
    const claimed = await workload(dead);
    await p.ctx.db.query(
      `INSERT INTO runner_pool (id, pod_name, status, claimed_by_task_id, claimed_at, token_hash)
       VALUES ($1, 'plue-task-x', 'claimed', $2, now(), '\\x00')`,
      [randomUUID(), claimed],
    );
    const otherLive = await workload(elsewhereLive);
    const otherStale = await workload(elsewhereStale);
    const mine = await workload(thisInstance);

    // A runner the dead server left, stuck (it ignores SIGTERM), with a helper in its own group.
    const runner = spawn(
      process.execPath,
      [
        `--title=plue-runner:${dead}:1`,
        "-e",
        `process.on("SIGTERM", () => {});
         const h = require("child_process").spawn("sleep", ["60"], { detached: true, stdio: "ignore" });
         console.log(h.pid); setInterval(() => {}, 1000);`,
      ],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    started.push(runner);
    const helper = Number(
      await new Promise<string>((r) => runner.stdout!.once("data", (d) => r(String(d).trim()))),
    );
    expect(alive(helper)).toBe(true);

    const dirs = {
      dead: path.join(base, `plue-run-${dead}-1`),
      deadBundle: path.join(base, `plue-bundle-${dead}-abc`),
      stale: path.join(base, `plue-run-${elsewhereStale}-1`),
      live: path.join(base, `plue-run-${elsewhereLive}-1`),
      mine: path.join(base, `plue-run-${thisInstance}-999`),
      unknown: path.join(base, "plue-ws-legacy"),
    };
    for (const d of Object.values(dirs)) fs.mkdirSync(path.join(d, "inside"), { recursive: true });

    const result = await p.recovery.sweep();

    expect(await statusOf(lost)).toEqual({
      status: "failed",
      failure_reason: "runner lost: server restarted",
    });
    expect((await statusOf(pending)).status).toBe("failed");
    expect((await statusOf(otherStale)).failure_reason).toMatch(
      /^runner lost: server 0000000b-42-7 stopped responding \(no heartbeat for 5 s\)$/,
    );
    for (const held of [queued, claimed, otherLive, mine])
      expect((await statusOf(held)).status).not.toBe("failed");
    // The stream of a lost workload ends with its error event.
    const events = await p.ctx.db.query<{ type: string; data: { code: string; message: string } }>(
      "SELECT type, data FROM task_events WHERE workload_id = $1 ORDER BY seq",
      [lost],
    );
    expect(events.rows).toEqual([
      { type: "error", data: { code: "runner_lost", message: "runner lost: server restarted" } },
    ]);

    await exited(runner);
    expect(runner.signalCode).toBe("SIGKILL");
    await new Promise((r) => setTimeout(r, 100));
    expect(alive(helper)).toBe(false);

    expect(fs.existsSync(dirs.dead)).toBe(false);
    expect(fs.existsSync(dirs.deadBundle)).toBe(false);
    expect(fs.existsSync(dirs.stale)).toBe(false);
    expect(fs.existsSync(dirs.live)).toBe(true);
    expect(fs.existsSync(dirs.mine)).toBe(true);
    expect(fs.existsSync(dirs.unknown)).toBe(true);
    expect(result).toMatchObject({ failed: 3, killedRunners: 1 });

    const rows = await p.ctx.db.query<{ id: string }>("SELECT id FROM app_instances ORDER BY id");
    expect(rows.rows.map((r) => r.id).sort()).toEqual([elsewhereLive, thisInstance].sort());
    // A second sweep finds nothing more to do.
    expect(await p.recovery.sweep()).toMatchObject({ failed: 0, killedRunners: 0, removedDirs: 0 });
  });
});

describe("wall time from outside", () => {
  it("SIGKILLs a runner stuck past its deadline with what it started, fails it naming the limit, and reuses the slot", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-stuck-"));
    const pids = path.join(dir, "pids");
    // A runner that ignores SIGTERM, starts a helper in a group of its own, then never yields.
    const stub = path.join(dir, "stuck-runner.cjs");
    fs.writeFileSync(
      stub,
      `process.on("SIGTERM", () => {});
       const h = require("child_process").spawn("sleep", ["60"], { detached: true, stdio: "ignore" });
       require("fs").appendFileSync(${JSON.stringify(pids)}, process.pid + " " + h.pid + " " + process.env.TMPDIR + "\\n");
       for (;;) {}`,
    );
    const overruns: Array<[string, string]> = [];
    const exits = new Map<string, ExitInfo>();
    const hooks: ExecutorHooks = {
      onExit: (id, exit) => void exits.set(id, exit),
      onOverrun: (id, reason) => void overruns.push([id, reason]),
    };
    const executor = new LocalExecutor(hooks, pino({ level: "silent" }), {
      concurrency: 1,
      sandbox: "none",
      prewarm: false,
      command: { file: process.execPath, args: [stub], cwd: dir },
      wallTimeGraceMs: 200,
      killGraceMs: 300,
      env: { PLUE_WORKSPACE: dir },
    });
    const lines = () =>
      fs.existsSync(pids)
        ? fs
            .readFileSync(pids, "utf8")
            .trim()
            .split("\n")
            .map((l) => l.split(" "))
        : [];
    try {
      const [a, b] = [1, 2].map(() =>
        agentAssignment({ callbackUrl: "http://127.0.0.1:9/none", limits: { wall_time_ms: 1000 } }),
      );
      await executor.dispatch(a!);
      await executor.dispatch(b!);
      expect(executor.active).toEqual([a!.workload.id]);
      expect(executor.waiting).toEqual([b!.workload.id]);
      const start = Date.now();
      while (!exits.has(a!.workload.id) && Date.now() - start < 15_000)
        await new Promise((r) => setTimeout(r, 50));

      expect(overruns[0]).toEqual([
        a!.workload.id,
        "runner exceeded the workload's wall time limit of 1 s (stopped by the executor 0.2 s past it)",
      ]);
      expect(exits.get(a!.workload.id)).toMatchObject({ code: null, signal: "SIGKILL" });
      const [runnerPid, helperPid, runnerDir] = lines()[0]!;
      expect(alive(Number(runnerPid))).toBe(false);
      await new Promise((r) => setTimeout(r, 100));
      expect(alive(Number(helperPid))).toBe(false); // in a group of its own, killed all the same
      expect(path.basename(runnerDir!)).toMatch(new RegExp(`^plue-run-${thisInstance}-1$`));
      expect(fs.existsSync(runnerDir!)).toBe(false);
      // The slot went to the next workload, which meets the same end.
      expect(executor.active).toEqual([b!.workload.id]);
      while (!exits.has(b!.workload.id) && Date.now() - start < 30_000)
        await new Promise((r) => setTimeout(r, 50));
      expect(exits.get(b!.workload.id)).toMatchObject({ signal: "SIGKILL" });
      expect(overruns.map(([id]) => id)).toEqual([a!.workload.id, b!.workload.id]);
    } finally {
      await executor.close();
      for (const [r, h] of lines())
        for (const pid of [r, h]) alive(Number(pid)) && process.kill(Number(pid), "SIGKILL");
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
