// Start-to-healthy of `plue dev` on an existing data directory (issue 2: goal under 3 s), from the
// checkout (`bin/plue.js`, TypeScript through tsx: what `npm start` runs) and from the bundle the
// images run (`dist/plue.js`, built here into a scratch directory). The first start creates the
// data dir (initdb, migrations, demo repo) and is reported apart.
//   node bench/startup.mjs [runs=5]
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const runs = Number(process.argv[2] ?? 5);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "plue-bench-start-"));
const port = 47000 + (process.pid % 1000);

async function startOnce(entry, dataDir) {
  const t0 = performance.now();
  const env = { ...process.env, PLUE_DATA_DIR: dataDir, LOG_LEVEL: "warn" };
  delete env.DATABASE_URL;
  const child = spawn(process.execPath, [entry, "dev", "--port", String(port)], { env, stdio: "ignore" });
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

async function measure(label, entry) {
  const dataDir = path.join(scratch, `data-${label}`);
  const first = await startOnce(entry, dataDir);
  const times = [];
  for (let i = 0; i < runs; i++) times.push(await startOnce(entry, dataDir));
  times.sort((a, b) => a - b);
  const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
  console.log(`${label}: first start (initdb + migrations + demo repo) ${s(first)}`);
  console.log(
    `${label}: start to healthy on the existing data dir: median ${s(times[Math.floor(times.length / 2)])}, ` +
      `min ${s(times[0])}, max ${s(times.at(-1))} over ${runs} runs (goal < 3 s)`,
  );
}

try {
  await measure("checkout (bin/plue.js)", path.join(root, "bin/plue.js"));
  // As in the image: dist/ with node_modules beside it.
  fs.symlinkSync(path.join(root, "node_modules"), path.join(scratch, "node_modules"));
  execFileSync(process.execPath, [
    path.join(root, "scripts/build.mjs"),
    "--outdir",
    path.join(scratch, "dist"),
  ]);
  await measure("bundle (dist/plue.js)", path.join(scratch, "dist/plue.js"));
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
