/**
 * `plue serve`: the API server as a container runs it. Configuration only from the environment;
 * logs are JSON on stdout; SIGTERM drains and exits 0.
 */
import { ConfigError, loadConfig } from "../config";
import { startPlatform } from "../platform";
import { untilSignal } from "./dev";

export async function main(_argv: string[]): Promise<number> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`plue: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const platform = await startPlatform(config);
  platform.ctx.log.info({ url: platform.url, database: platform.ctx.db.kind }, "plue serving");
  await untilSignal();
  await platform.close();
  return 0;
}
