#!/usr/bin/env node
// Times `npm run synth -- --all` end to end (process start, module loading, all three stacks,
// schema validation, policies, writing dist/synth). Goal: under 20 s.
//   node bench/synth.mjs [--runs N]
// The machine is shared, so the load average is printed next to each time.
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const GOAL_MS = 20_000;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const at = process.argv.indexOf("--runs");
const runs = at > 0 ? Number(process.argv[at + 1]) : 1;
if (!Number.isInteger(runs) || runs < 1) {
  console.error("--runs needs a positive integer");
  process.exit(2);
}

const times = [];
for (let i = 0; i < runs; i++) {
  const out = mkdtempSync(path.join(tmpdir(), "plue-bench-synth-"));
  const load = loadavg()[0].toFixed(2);
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ["--import", "tsx", "infra/synth.ts", "--all", "--out", out], {
    cwd: root,
    encoding: "utf8",
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) {
    console.error(r.stdout, r.stderr);
    process.exit(1);
  }
  times.push(ms);
  console.log(`run ${i + 1}: ${(ms / 1000).toFixed(2)} s (load average ${load})`);
}
const sorted = [...times].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)];
console.log(
  `synth --all: median ${(median / 1000).toFixed(2)} s over ${runs} run(s); goal < ${GOAL_MS / 1000} s: ${median < GOAL_MS ? "met" : "MISSED"}`,
);
