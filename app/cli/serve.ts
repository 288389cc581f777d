/**
 * `plue serve`: the API server as a container runs it. Configuration only from the environment;
 * logs are JSON on stdout; SIGTERM drains and exits 0.
 */
import { startPlatform } from "../platform";
import { cliConfig, untilSignal } from "./dev";

export async function main(_argv: string[]): Promise<number> {
  const config = cliConfig();
  if (!config) return 2;
  const platform = await startPlatform(config);
  platform.ctx.log.info({ url: platform.url, database: platform.ctx.db.kind }, "plue serving");
  await untilSignal();
  await platform.close();
  return 0;
}
