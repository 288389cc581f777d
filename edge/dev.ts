/**
 * `plue edge` / `npm run edge:dev`: the edge Worker served locally by Miniflare (real workerd) in
 * front of a running origin. `plue dev --edge` calls startEdge() directly.
 */
import { parseArgs } from "node:util";
import { Miniflare } from "miniflare";
import { bundleWorker, EDGE_COMPATIBILITY_DATE } from "./bundle";
import { EdgeConfigError, type EdgeEnv, parseEdgeConfig } from "./config";

export interface StartEdgeOptions {
  /** The API origin, e.g. `http://127.0.0.1:4000`. */
  readonly originUrl: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** @default "127.0.0.1" */
  readonly host?: string;
  /** Asset origin for the static prefixes. @default originUrl */
  readonly assetsUrl?: string;
  /** @default ["/_astro/"] */
  readonly staticPrefixes?: readonly string[];
  /** Wait for the origin's response headers. @default 30000 */
  readonly originTimeoutMs?: number;
  /** Serve a cached response this long before revalidating it with the origin. @default 1 */
  readonly revalidateAfterSeconds?: number;
}

export interface RunningEdge {
  /** Where the edge listens, without a trailing slash, e.g. `http://127.0.0.1:8787`. */
  readonly url: string;
  close(): Promise<void>;
}

export const DEFAULT_EDGE_PORT = 8787;

export async function startEdge(options: StartEdgeOptions): Promise<RunningEdge> {
  const bindings = edgeBindings(options);
  parseEdgeConfig(bindings); // fail here, with the binding's name, rather than on the first request
  const mf = new Miniflare({
    modules: true,
    script: await bundleWorker(),
    compatibilityDate: EDGE_COMPATIBILITY_DATE,
    bindings: { ...bindings },
    host: options.host ?? "127.0.0.1",
    port: options.port,
  });
  let url: URL;
  try {
    url = await mf.ready;
  } catch (error) {
    await mf.dispose(); // a half-started workerd would keep the process alive
    throw error;
  }
  return { url: url.origin, close: () => mf.dispose() };
}

function edgeBindings(options: StartEdgeOptions): EdgeEnv {
  return {
    ORIGIN_URL: options.originUrl,
    ...(options.assetsUrl !== undefined && { ASSETS_URL: options.assetsUrl }),
    ...(options.staticPrefixes !== undefined && { STATIC_PREFIXES: options.staticPrefixes.join(",") }),
    ...(options.originTimeoutMs !== undefined && { ORIGIN_TIMEOUT_MS: String(options.originTimeoutMs) }),
    ...(options.revalidateAfterSeconds !== undefined && {
      REVALIDATE_AFTER_SECONDS: String(options.revalidateAfterSeconds),
    }),
  };
}

const USAGE = `usage: plue edge [--origin URL] [--port N] [--host H] [--assets URL]
                 [--static-prefixes /_astro/,/static/] [--timeout-ms N]
  --origin  API origin (default $ORIGIN_URL or http://127.0.0.1:4000)
  --port    listen port (default ${DEFAULT_EDGE_PORT}; 0 picks a free one)
`;

export async function main(argv: string[]): Promise<number> {
  let values: ReturnType<typeof parseFlags>;
  try {
    values = parseFlags(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const port = Number(values.port ?? DEFAULT_EDGE_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`--port must be an integer 0..65535, got "${values.port}"\n`);
    return 2;
  }
  const originUrl = values.origin ?? process.env.ORIGIN_URL ?? "http://127.0.0.1:4000";
  let edge: RunningEdge;
  try {
    edge = await startEdge({
      originUrl,
      port,
      host: values.host,
      assetsUrl: values.assets,
      staticPrefixes: values["static-prefixes"]?.split(","),
      originTimeoutMs: values["timeout-ms"] === undefined ? undefined : Number(values["timeout-ms"]),
    });
  } catch (error) {
    if (!(error instanceof EdgeConfigError)) throw error;
    process.stderr.write(`plue edge: ${error.message}\n`);
    return 2;
  }
  process.stdout.write(`plue edge: ${edge.url} → ${originUrl} (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await edge.close();
  return 0;
}

function parseFlags(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    options: {
      origin: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      assets: { type: "string" },
      "static-prefixes": { type: "string" },
      "timeout-ms": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
}
