/** A real Plue server on an ephemeral port over a test database, with a fresh admin token. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { type Config, loadConfig } from "../../app/config";
import { createLogger } from "../../app/log";
import { type Platform, startPlatform } from "../../app/platform";
import { openTestDb } from "./db";

export interface TestPlatform extends Platform {
  token: string;
  dataDir: string;
}

export async function startTestPlatform(env: Record<string, string> = {}): Promise<TestPlatform> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-test-"));
  const config: Config = loadConfig(
    { PLUE_DATA_DIR: dataDir, PLUE_SEED_DEMO: "false", LOG_LEVEL: "silent", ...env },
    { port: 0 },
  );
  const db = await openTestDb();
  const platform = await startPlatform(config, { db, log: testLogger() });
  const token = platform.adminToken ?? fs.readFileSync(path.join(dataDir, "admin-token"), "utf8").trim();
  return {
    ...platform,
    token,
    dataDir,
    async close() {
      await platform.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Silent, unless PLUE_TEST_LOG names a level (`debug`): then the server's logs show while a test is
 * debugged. PLUE_TEST_LOG_FILE appends them to that file instead (at `trace` unless PLUE_TEST_LOG
 * says otherwise), so a whole run's logs can be searched: scripts/scan-logs.sh looks for credentials.
 */
export function testLogger() {
  const file = process.env.PLUE_TEST_LOG_FILE;
  const level = process.env.PLUE_TEST_LOG ?? (file ? "trace" : "silent");
  return createLogger(
    level,
    file ? { destination: pino.destination({ dest: file, append: true, sync: true }) } : {},
  );
}
