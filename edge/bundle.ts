/**
 * The one way the Worker is built: tests, `plue edge`, the benchmark and the Pulumi edge construct
 * (constructs/cloudflare) all upload the same ES module produced here.
 */
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/** The Workers runtime date the bundle targets: ≤ 2026-04-26, the pinned Miniflare/workerd. wrangler.toml repeats it. */
export const EDGE_COMPATIBILITY_DATE = "2026-04-01";

export const WORKER_ENTRY = fileURLToPath(new URL("./worker.ts", import.meta.url));

/** Bundles edge/worker.ts into one self-contained ES module (the Worker's `index.js`). */
export async function bundleWorker(): Promise<string> {
  const result = await build({
    entryPoints: [WORKER_ENTRY],
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    minify: false,
    legalComments: "none",
    logLevel: "silent",
  });
  const [output] = result.outputFiles;
  if (!output) throw new Error(`esbuild produced no output for ${WORKER_ENTRY}`);
  return output.text;
}
