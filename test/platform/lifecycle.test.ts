/** The real `plue dev` command as a newcomer runs it: start, health, SIGTERM, restart on the same data. */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { jest } from "@jest/globals";
import { createPostgresDatabase } from "../helpers/db";

const BIN = path.resolve("bin/plue.js");

function startDev(env: Record<string, string>, port: number) {
  const child = spawn(process.execPath, [BIN, "dev", "--port", String(port)], {
    env: { ...process.env, LOG_LEVEL: "warn", PLUE_SEED_DEMO: "false", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  return { child, output: () => out };
}

/** Waits for 200 from /api/health; a failure says what the process printed, so CI shows why. */
async function waitHealthy(url: string, dev: ReturnType<typeof startDev>, ms = 90_000) {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (dev.child.exitCode !== null) throw new Error(`exited with ${dev.child.exitCode}:\n${dev.output()}`);
    try {
      const r = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(5_000) });
      if (r.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never became healthy:\n${dev.output()}`);
}

const exited = (c: ChildProcess) => new Promise<number | null>((r) => c.once("exit", (code) => r(code)));
let nextPort = 41000 + (process.pid % 2000) * 4;

// Each case starts real processes (a fresh embedded database runs initdb): slow on a loaded machine.
jest.setTimeout(240_000);

describe("plue dev", () => {
  it("starts on the embedded database, stops on SIGTERM, and a second start reuses the data", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-dev-"));
    const port = nextPort++;
    const env = { PLUE_DATA_DIR: dataDir, DATABASE_URL: "" };
    delete (env as Record<string, string | undefined>).DATABASE_URL;
    const first = startDev(env as Record<string, string>, port);
    await waitHealthy(`http://127.0.0.1:${port}`, first);
    const token = fs.readFileSync(path.join(dataDir, "admin-token"), "utf8").trim();
    expect(first.output()).toContain(token);
    const code = exited(first.child);
    first.child.kill("SIGTERM");
    expect(await code).toBe(0);

    const second = startDev(env as Record<string, string>, port);
    await waitHealthy(`http://127.0.0.1:${port}`, second);
    // Same database: the admin token from the first start still works, and no new one was made.
    expect(fs.readFileSync(path.join(dataDir, "admin-token"), "utf8").trim()).toBe(token);
    expect(second.output()).not.toContain("new admin token");
    const r = await fetch(`http://127.0.0.1:${port}/api/nothing`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(r.status).toBe(404);
    const code2 = exited(second.child);
    second.child.kill("SIGTERM");
    expect(await code2).toBe(0);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("refuses a bad environment value with a message naming it", async () => {
    const bad = spawn(process.execPath, [BIN, "dev"], { env: { ...process.env, RUNNER_MODE: "docker" } });
    let err = "";
    bad.stderr.on("data", (d) => (err += d));
    expect(await exited(bad)).toBe(2);
    expect(err).toContain('RUNNER_MODE="docker"');
  });

  it("two processes started together against one Postgres both become healthy", async () => {
    const { url, drop } = await createPostgresDatabase();
    const ports = [nextPort++, nextPort++];
    const procs = ports.map((port) => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-pg-"));
      return startDev({ DATABASE_URL: url, PLUE_DATA_DIR: dataDir }, port);
    });
    try {
      await Promise.all(procs.map((p, i) => waitHealthy(`http://127.0.0.1:${ports[i]}`, p)));
      const bodies = await Promise.all(
        ports.map((port) => fetch(`http://127.0.0.1:${port}/api/health`).then((r) => r.json())),
      );
      expect(bodies).toEqual([
        { status: "ok", database: "postgres" },
        { status: "ok", database: "postgres" },
      ]);
    } finally {
      await Promise.all(
        procs.map((p) => {
          const e = exited(p.child);
          p.child.kill("SIGTERM");
          return e;
        }),
      );
      await drop();
    }
  });
});
