#!/usr/bin/env node
// Runner latency. (1) Sandbox start + `true` per backend against a plain spawn of `true` (median
// of 20 each). (2) End to end on the real platform: from `POST /api/sessions/:id/run` to the first
// `token` event on the SSE stream, with the fake model answering at once, on the local executor
// (runner processes, cold and with its pre-started runner) and the in-process executor.
// Goals: bwrap overhead < 100 ms; first token < 300 ms on the local executor.
// Run: node bench/runner-sandbox.mjs   (about 30 s; the machine's cores are shared: read the
// numbers as relative, and mind the load average printed with them)
import fs from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { EventSource } from "eventsource";
import { register } from "tsx/esm/api";

register();
const { createSandbox, sandboxProblem, chownTree } = await import("../runner/sandbox/index.ts");
const { runProcess } = await import("../runner/sandbox/process.ts");
const { startFakeAnthropic } = await import("../test/helpers/fake-anthropic.ts");
const { loadConfig } = await import("../app/config.ts");
const { startPlatform } = await import("../app/platform.ts");
const { createLogger } = await import("../app/log.ts");

const N = 20;
const PAUSE_MS = 1500;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p90 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))];
const ms = (x) => `${x.toFixed(1)} ms`;

async function timeIt(fn) {
  const out = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    const r = await fn();
    if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}: ${r.stderr}`);
    out.push(performance.now() - t);
  }
  return out;
}

console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}, ${N} runs each\n`,
);
console.log("sandbox start + true            median      p90   overhead");
const plain = await timeIt(() => runProcess("/bin/true", [], { timeoutMs: 10_000 }));
console.log(`plain spawn                   ${ms(median(plain)).padStart(9)} ${ms(p90(plain)).padStart(9)}`);
for (const backend of ["none", "bwrap", "gvisor"]) {
  const problem = await sandboxProblem(backend);
  if (problem) {
    console.log(`${backend.padEnd(30)}skipped: ${problem}`);
    continue;
  }
  const ws = fs.mkdtempSync(path.join(tmpdir(), "plue-bench-"));
  const sandbox = createSandbox(backend, ws);
  chownTree(ws, sandbox.fileOwner);
  const times = await timeIt(() => sandbox.exec(["/bin/true"], { timeoutMs: 10_000 }));
  await sandbox.dispose();
  fs.rmSync(ws, { recursive: true, force: true });
  console.log(
    `${backend.padEnd(30)}${ms(median(times)).padStart(9)} ${ms(p90(times)).padStart(9)} ${ms(median(times) - median(plain)).padStart(9)}`,
  );
}

// ------------------------------------------------------------------------------------------------
const fake = await startFakeAnthropic();
fake.respond(() => ({ content: [{ type: "text", text: "Hello from the model." }] }));
process.env.ANTHROPIC_API_KEY = "sk-bench";
process.env.ANTHROPIC_BASE_URL = fake.url;

async function firstTokens(mode, { runs, warm }) {
  const dataDir = fs.mkdtempSync(path.join(tmpdir(), "plue-bench-app-"));
  const config = loadConfig(
    {
      PLUE_DATA_DIR: dataDir,
      PLUE_SEED_DEMO: "false",
      LOG_LEVEL: "silent",
      RUNNER_MODE: mode,
      PLUE_MODEL: "claude-fake",
    },
    { port: 0, memory: true },
  );
  const platform = await startPlatform(config, { log: createLogger("silent") });
  const headers = { authorization: `Bearer ${platform.adminToken}`, "content-type": "application/json" };
  const api = async (method, p, body) => {
    const r = await fetch(platform.url + p, { method, headers, body: body && JSON.stringify(body) });
    return r.json();
  };
  const warmStart = performance.now();
  if (warm) await platform.ctx.dispatcher.executor.warmUp?.();
  const warmUpMs = performance.now() - warmStart;
  const times = [];
  for (let i = 0; i < runs; i++) {
    const session = (await api("POST", "/api/sessions", {})).id;
    const t = performance.now();
    await api("POST", `/api/sessions/${session}/run`, { message: "Say hello" });
    const first = await new Promise((resolve, reject) => {
      const es = new EventSource(`${platform.url}/api/sessions/${session}/stream`, {
        fetch: (u, init) =>
          fetch(u, { ...init, headers: { ...init?.headers, authorization: headers.authorization } }),
      });
      const timer = setTimeout(async () => {
        es.close();
        reject(
          new Error(
            `run ${i}: no token within 30 s: ${JSON.stringify(await api("GET", `/api/sessions/${session}`))}`,
          ),
        );
      }, 30_000);
      es.addEventListener("token", () => {
        clearTimeout(timer);
        resolve(performance.now() - t);
      });
      es.addEventListener("done", () => es.close());
      es.addEventListener("error", (m) => {
        if (m.data) {
          es.close();
          reject(new Error(`run failed: ${m.data}`));
        }
      });
    });
    times.push(first);
    // Let the run finish and the executor's next pre-started runner load, as between two messages
    // of a user (back to back, a run would wait for that runner's start-up instead).
    for (let k = 0; k < 200 && (await api("GET", `/api/sessions/${session}`)).status === "running"; k++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    await new Promise((r) => setTimeout(r, PAUSE_MS));
  }
  await platform.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  return { times, warmUpMs };
}

console.log("\nrun → first token (SSE)          median      p90   runs");
const cold = await firstTokens("local", { runs: 1, warm: false });
console.log(`local, first run, no warm-up  ${ms(cold.times[0]).padStart(9)} ${"".padStart(9)}      1`);
const warm = await firstTokens("local", { runs: 10, warm: true });
console.log(
  `local, pre-started runner     ${ms(median(warm.times)).padStart(9)} ${ms(p90(warm.times)).padStart(9)}     10   (warm-up took ${ms(warm.warmUpMs)})`,
);
const inproc = await firstTokens("in-process", { runs: 10, warm: false });
console.log(
  `in-process                    ${ms(median(inproc.times)).padStart(9)} ${ms(p90(inproc.times)).padStart(9)}     10`,
);
await fake.close();
console.log(
  `\nload average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
