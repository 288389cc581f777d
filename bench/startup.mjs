// Start-to-healthy of `plue dev` on an existing data directory (issue 2: goal under 3 s).
// The first start creates the data dir (initdb, migrations, demo repo) and is reported apart.
//   node bench/startup.mjs [runs=5]
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const runs = Number(process.argv[2] ?? 5);
const bin = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../bin/plue.js");
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-bench-start-"));
const port = 47000 + (process.pid % 1000);

async function startOnce() {
  const t0 = performance.now();
  const env = { ...process.env, PLUE_DATA_DIR: dataDir, LOG_LEVEL: "warn" };
  delete env.DATABASE_URL;
  const child = spawn(process.execPath, [bin, "dev", "--port", String(port)], { env, stdio: "ignore" });
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error("never became healthy");
    try {
      if ((await fetch(`http://127.0.0.1:${port}/api/health`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 20));
  }
  const ms = performance.now() - t0;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
  return ms;
}

const first = await startOnce();
const times = [];
for (let i = 0; i < runs; i++) times.push(await startOnce());
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(`first start (initdb + migrations + demo repo): ${(first / 1000).toFixed(2)} s`);
console.log(
  `start to healthy on the existing data dir: median ${(median / 1000).toFixed(2)} s, ` +
    `min ${(times[0] / 1000).toFixed(2)} s, max ${(times.at(-1) / 1000).toFixed(2)} s over ${runs} runs (goal < 3 s)`,
);
fs.rmSync(dataDir, { recursive: true, force: true });
