/**
 * The Plue side of bench/sse.mjs, in its own process: a real platform (PGlite in memory, or a
 * fresh database on PLUE_BENCH_DATABASE_URL) whose executor hands each assignment to the parent
 * over IPC, so the parent can play the runner over the real HTTP callback. Bench code only.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../app/config";
import type { Executor } from "../app/dispatch/executor";
import { startPlatform } from "../app/platform";

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-bench-sse-"));
const config = loadConfig(
  {
    PLUE_DATA_DIR: dataDir,
    PLUE_SEED_DEMO: "false",
    LOG_LEVEL: "warn",
    ...(process.env.PLUE_BENCH_DATABASE_URL ? { DATABASE_URL: process.env.PLUE_BENCH_DATABASE_URL } : {}),
  },
  { memory: true, port: 0 },
);

const toParent: Executor = {
  name: "in-process",
  async dispatch(assignment) {
    process.send?.({ assignment });
  },
  async abort() {},
  async close() {},
};

const platform = await startPlatform(config, { services: { executor: () => toParent } });
process.send?.({ url: platform.url, token: platform.adminToken, db: platform.ctx.db.kind });

const stop = async () => {
  await platform.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("disconnect", stop);
