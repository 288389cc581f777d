/** The real `plue dev` command as a newcomer runs it: start, health, SIGTERM, restart on the same data. */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { jest } from "@jest/globals";
import { createPostgresDatabase } from "../helpers/db";

const BIN = path.resolve("bin/plue.js");

/**
 * Starts `plue dev` on a port the kernel picks (no clash with any other test's server) and with a
 * temp dir of its own (its start-up recovery sweeps runner directories there, and only there).
 */
function startDev(env: Record<string, string>) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "plue-dev-tmp-"));
  const child = spawn(process.execPath, [BIN, "dev", "--port", "0"], {
    env: { ...process.env, LOG_LEVEL: "warn", PLUE_SEED_DEMO: "false", TMPDIR: tmp, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exit = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  void exit.then(() => fs.rmSync(tmp, { recursive: true, force: true }));
  return { child, exit, output: () => out };
}
type Dev = ReturnType<typeof startDev>;

/**
 * The URL `plue dev` printed, once /api/health answers 200 there. A failure says what the process
 * printed, so CI shows why.
 */
async function waitHealthy(dev: Dev, ms = 90_000): Promise<string> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (dev.child.exitCode !== null) throw new Error(`exited with ${dev.child.exitCode}:\n${dev.output()}`);
    const url = /Plue is running at (http:\/\/\S+)/.exec(dev.output())?.[1];
    if (url) {
      try {
        const r = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(5_000) });
        if (r.ok) return url;
      } catch {}
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never became healthy:\n${dev.output()}`);
}

/** SIGTERM, then the exit code (also for a process that already exited). */
async function stop(dev: Dev): Promise<number | null> {
  if (dev.child.exitCode === null) dev.child.kill("SIGTERM");
  return dev.exit;
}

// Each case starts real processes (a fresh embedded database runs initdb): slow on a loaded machine.
jest.setTimeout(240_000);

describe("plue dev", () => {
  it("starts on the embedded database, stops on SIGTERM, and a second start reuses the data", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-dev-"));
    const env = { PLUE_DATA_DIR: dataDir, DATABASE_URL: "" };
    delete (env as Record<string, string | undefined>).DATABASE_URL;
    const first = startDev(env as Record<string, string>);
    await waitHealthy(first);
    const token = fs.readFileSync(path.join(dataDir, "admin-token"), "utf8").trim();
    expect(first.output()).toContain(token);
    // The admin's name and a one-time link to set its password, on the first start only.
    expect(first.output()).toMatch(/admin\s+admin\n/);
    expect(first.output()).toMatch(/password\s+http:\/\/\S+\/password\?token=plinv_\S+/);
    expect(await stop(first)).toBe(0);

    const second = startDev(env as Record<string, string>);
    const url = await waitHealthy(second);
    // Same database: the admin token from the first start still works, and no new one was made.
    expect(fs.readFileSync(path.join(dataDir, "admin-token"), "utf8").trim()).toBe(token);
    expect(second.output()).not.toContain("new admin token");
    expect(second.output()).not.toContain("/password?token=");
    const r = await fetch(`${url}/api/nothing`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(r.status).toBe(404);
    expect(await stop(second)).toBe(0);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("refuses a bad environment value with a message naming it", async () => {
    const bad = spawn(process.execPath, [BIN, "dev"], { env: { ...process.env, RUNNER_MODE: "docker" } });
    let err = "";
    bad.stderr.on("data", (d) => (err += d));
    expect(await new Promise((r) => bad.once("exit", r))).toBe(2);
    expect(err).toContain('RUNNER_MODE="docker"');
  });

  it("two processes started together against one Postgres both become healthy", async () => {
    const { url, drop } = await createPostgresDatabase();
    const procs = [0, 1].map(() => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-pg-"));
      return startDev({ DATABASE_URL: url, PLUE_DATA_DIR: dataDir });
    });
    try {
      const urls = await Promise.all(procs.map((p) => waitHealthy(p)));
      const bodies = await Promise.all(urls.map((u) => fetch(`${u}/api/health`).then((r) => r.json())));
      expect(bodies).toEqual([
        { status: "ok", database: "postgres" },
        { status: "ok", database: "postgres" },
      ]);
    } finally {
      await Promise.all(procs.map(stop));
      await drop();
    }
  });
});
