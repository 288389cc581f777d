import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { ArgsCheck } from "../args";

/** Same date as edge/wrangler.toml, within what the pinned workerd (Miniflare) supports. */
export const EDGE_COMPATIBILITY_DATE = "2026-04-01";
export const EDGE_MAIN_MODULE = "worker.js";

/** The repository root, found from this file rather than the working directory. */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Newest modification time of the Worker's sources. */
function newestSource(root: string): number {
  const dir = path.join(root, "edge");
  return Math.max(
    0,
    ...readdirSync(dir)
      .filter((f) => f.endsWith(".ts"))
      .map((f) => statSync(path.join(dir, f)).mtimeMs),
  );
}

/**
 * The Worker's ES module: `dist/edge.js` from `npm run build` when it is at least as new as the
 * sources in edge/, otherwise edge/worker.ts bundled now through edge/bundle.ts (the one way the
 * Worker is built), so a stale build is never uploaded.
 */
export async function loadEdgeBundle(root: string = REPO_ROOT): Promise<string> {
  const built = path.join(root, "dist", "edge.js");
  const hasSources = existsSync(path.join(root, "edge", "bundle.ts"));
  if (existsSync(built) && (!hasSources || statSync(built).mtimeMs >= newestSource(root))) {
    return readFileSync(built, "utf8");
  }
  if (!hasSources) {
    throw new Error(
      `edge Worker bundle not found: neither ${built} nor edge/bundle.ts exists. ` +
        "Run `npm run build` (writes dist/edge.js) from the repository root.",
    );
  }
  const { bundleWorker } = await import("../../edge/bundle");
  return bundleWorker();
}

export interface EdgeWorkerArgs {
  readonly accountId: pulumi.Input<string>;
  readonly zoneId: pulumi.Input<string>;
  /** The Worker's ES module source. */
  readonly content: pulumi.Input<string>;
  /** Where every non-static request goes (`https://origin.plue.dev`). */
  readonly originUrl: string;
  /** Hostnames served by the Worker; each gets the route `<host>/*`. */
  readonly hostnames: readonly string[];
  /** Other plain-text bindings (ASSETS_URL, STATIC_PREFIXES, ORIGIN_TIMEOUT_MS). @default {} */
  readonly vars?: Readonly<Record<string, string>>;
  /** @default "plue-edge" */
  readonly scriptName?: string;
}

/**
 * The edge Worker: one module Worker with ORIGIN_URL bound as plain text, a route per hostname, and
 * the proxied DNS record a route needs to receive traffic. Stateless: no Durable Objects, KV or D1.
 */
export class EdgeWorker extends pulumi.ComponentResource {
  readonly script: cloudflare.WorkersScript;
  readonly routes: cloudflare.WorkersRoute[];

  constructor(name: string, args: EdgeWorkerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("plue:cloudflare:EdgeWorker", name, {}, opts);
    new ArgsCheck("EdgeWorker")
      .require(
        /^https:\/\/[^/\s]+\/?$/.test(args.originUrl),
        "originUrl",
        `must be an https:// origin, got "${args.originUrl}"`,
      )
      .require(args.hostnames.length > 0, "hostnames", "at least one hostname is required")
      .require(!("ORIGIN_URL" in (args.vars ?? {})), "vars", "ORIGIN_URL is set from originUrl")
      .throwIfAny();
    const child = { parent: this };
    const scriptName = args.scriptName ?? "plue-edge";
    const vars = { ORIGIN_URL: args.originUrl, ...args.vars };
    this.script = new cloudflare.WorkersScript(
      `${name}-script`,
      {
        accountId: args.accountId,
        scriptName,
        content: args.content,
        mainModule: EDGE_MAIN_MODULE,
        compatibilityDate: EDGE_COMPATIBILITY_DATE,
        bindings: Object.entries(vars).map(([bindingName, text]) => ({
          type: "plain_text",
          name: bindingName,
          text,
        })),
        observability: { enabled: true },
      },
      child,
    );
    this.routes = args.hostnames.map((host) => {
      // Routes only see traffic for proxied hostnames; 100:: is the conventional "Worker only" target.
      new cloudflare.DnsRecord(
        `${name}-${host}`,
        { zoneId: args.zoneId, name: host, type: "AAAA", content: "100::", proxied: true, ttl: 1 },
        child,
      );
      return new cloudflare.WorkersRoute(
        `${name}-${host}`,
        { zoneId: args.zoneId, pattern: `${host}/*`, script: this.script.scriptName },
        child,
      );
    });
    this.registerOutputs({ scriptName: this.script.scriptName });
  }
}
