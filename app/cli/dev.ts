/**
 * `plue dev [--memory] [--port N] [--edge] [--edge-port N]`: the whole platform on one machine, on
 * the embedded database (or Postgres with DATABASE_URL), optionally behind the edge Worker in
 * Miniflare. Prints the URLs and the admin token; on first start also the admin's username and a
 * one-time link to set its password.
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { type Config, ConfigError, loadConfig } from "../config";
import { openDatabase } from "../db";

const WARM_UP_DELAY_MS = 1_000;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      memory: { type: "boolean", default: false },
      port: { type: "string" },
      edge: { type: "boolean", default: false },
      "edge-port": { type: "string", default: "8787" },
    },
    strict: true,
  });
  const config = cliConfig({
    memory: values.memory,
    port: values.port === undefined ? undefined : Number(values.port),
  });
  if (!config) return 2;
  // The embedded database starts while the rest of the app loads (both take about a second).
  const db = openDatabase(config);
  db.catch(() => {}); // its error is thrown below, once awaited
  const { startPlatform } = await import("../platform");
  const platform = await startPlatform(config, { db: await db });
  // The first run then starts as fast as later ones; a failure shows again on that run. Warming
  // (sandbox self-tests, a spare runner) takes both cores for half a second, so it waits until the
  // first requests (the browser's, a health check) are answered; a dispatch before then warms up.
  const warmUp = setTimeout(() => {
    platform.ctx.dispatcher.executor
      .warmUp?.()
      .catch((err) => platform.ctx.log.warn({ err }, "runner warm-up failed"));
  }, WARM_UP_DELAY_MS);
  const edge = values.edge
    ? await (await import("../../edge/dev")).startEdge({
        originUrl: platform.url,
        port: Number(values["edge-port"]),
        host: config.HOST,
      })
    : undefined;
  const tokenFile = path.join(config.dataDir, "admin-token");
  const token =
    platform.adminToken ?? (fs.existsSync(tokenFile) ? fs.readFileSync(tokenFile, "utf8").trim() : undefined);
  process.stdout.write(
    [
      "",
      `  Plue is running at ${platform.url}`,
      `  database   ${config.DATABASE_URL ? "postgres" : config.memory ? "embedded (in memory)" : `embedded (${path.join(config.dataDir, "db")})`}`,
      `  browse     ${platform.url}/${config.PLUE_SEED_DEMO ? "demo/hello" : ""}`,
      `  health     ${platform.url}/api/health`,
      `  agents     ${process.env.ANTHROPIC_API_KEY ? "ready" : "set ANTHROPIC_API_KEY to chat with agents"}`,
      edge ? `  edge       ${edge.url}   (Cloudflare Worker in Miniflare, in front of the API)` : "",
      token
        ? `  token      ${token}${platform.adminToken ? "   (new admin token, shown once; also in admin-token)" : ""}`
        : "",
      platform.firstAdmin ? `  admin      ${platform.firstAdmin.username}` : "",
      platform.firstAdmin
        ? `  password   ${platform.firstAdmin.passwordUrl}   (set the admin's password; one use, 24 hours)`
        : "",
      "",
    ]
      .filter((l) => l !== "")
      .join("\n") + "\n\n",
  );
  await untilSignal();
  clearTimeout(warmUp);
  await edge?.close();
  await platform.close();
  return 0;
}

/** The configuration, or undefined after printing what is wrong with the environment. */
export function cliConfig(overrides: Parameters<typeof loadConfig>[1] = {}): Config | undefined {
  try {
    return loadConfig(process.env, overrides);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`plue: ${err.message}\n`);
    return undefined;
  }
}

/** Resolves on the first SIGTERM or SIGINT (Kubernetes and Ctrl-C). */
export function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once("SIGTERM", () => resolve());
    process.once("SIGINT", () => resolve());
  });
}
