/**
 * Bundling the browser code: one script and one stylesheet, named by content hash so they can be
 * cached for a year (`/_astro/app.<hash>.js`). From a checkout the app bundles at its first page
 * request (esbuild, well under a second; nothing stale is ever served); `npm run build` writes
 * the same files to `dist/web/` with a manifest, which the container image serves as they are
 * (it has no esbuild).
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Plugin } from "esbuild";
import { EVENT_TYPES, TERMINAL_EVENTS } from "../app/wire/protocol";

/** URL prefix of the assets; the edge Worker sends `/_astro/*` to the asset origin. */
export const ASSET_PREFIX = "/_astro/";

export interface WebAsset {
  readonly body: Buffer;
  readonly type: string;
}

export interface WebAssets {
  /** URL of the page script. */
  readonly script: string;
  /** URL of the stylesheet. */
  readonly style: string;
  /** Every asset by file name (under ASSET_PREFIX): script, stylesheet, source maps. */
  readonly files: ReadonlyMap<string, WebAsset>;
}

interface Manifest {
  script: string;
  style: string;
  files: string[];
}

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
};

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The browser needs only the wire protocol's constants (event names), not its zod schemas,
 * which would be most of the bundle. Imports of app/wire/protocol get a module generated from
 * the real values, so there is still one list; importing anything else from it in browser code
 * fails the build ("No matching export") instead of silently pulling zod in.
 */
const wireConstants: Plugin = {
  name: "plue-wire-constants",
  setup(b) {
    b.onResolve({ filter: /\/wire\/protocol$/ }, () => ({ path: "protocol", namespace: "plue-wire" }));
    b.onLoad({ filter: /.*/, namespace: "plue-wire" }, () => ({
      loader: "js",
      contents:
        `export const EVENT_TYPES = ${JSON.stringify(EVENT_TYPES)};\n` +
        `export const TERMINAL_EVENTS = new Set(${JSON.stringify([...TERMINAL_EVENTS])});\n`,
    }));
  },
};

/** Bundles web/src/main.ts with esbuild, in memory. */
export async function bundleWeb(root = path.resolve(here, "..")): Promise<WebAssets> {
  const { build } = await import("esbuild");
  const result = await build({
    entryPoints: { app: path.join(root, "web/src/main.ts") },
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: ["es2022", "chrome110", "firefox115", "safari16"],
    minify: true,
    sourcemap: "linked",
    entryNames: "[name].[hash]",
    outdir: path.join(root, "dist/web"),
    legalComments: "none",
    logLevel: "silent",
    define: { "process.env.NODE_ENV": '"production"' },
    plugins: [wireConstants],
  });
  const files = new Map<string, WebAsset>();
  let script = "";
  let style = "";
  for (const out of result.outputFiles) {
    const name = path.basename(out.path);
    files.set(name, {
      body: Buffer.from(out.contents),
      type: TYPES[path.extname(name)] ?? "application/octet-stream",
    });
    if (name.endsWith(".js")) script = ASSET_PREFIX + name;
    if (name.endsWith(".css")) style = ASSET_PREFIX + name;
  }
  if (!script || !style) throw new Error("web bundle is missing its script or stylesheet");
  return { script, style, files };
}

/** Writes a bundle to `dir` with `manifest.json` (for `npm run build`). */
export function writeWebAssets(assets: WebAssets, dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, file] of assets.files) fs.writeFileSync(path.join(dir, name), file.body);
  const manifest: Manifest = { script: assets.script, style: assets.style, files: [...assets.files.keys()] };
  fs.writeFileSync(path.join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Reads what `writeWebAssets` wrote. */
export function readWebAssets(dir: string): WebAssets {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")) as Manifest;
  const files = new Map<string, WebAsset>();
  for (const name of manifest.files) {
    files.set(name, {
      body: fs.readFileSync(path.join(dir, name)),
      type: TYPES[path.extname(name)] ?? "application/octet-stream",
    });
  }
  return { script: manifest.script, style: manifest.style, files };
}

let loaded: Promise<WebAssets> | undefined;

/**
 * The assets this process serves, loaded once: from the bundle's `web/` directory when running
 * as the bundle (`dist/plue.js`), else bundled from source. A failure is not cached, so the next
 * request tries again (say, after fixing a syntax error).
 */
export function loadWebAssets(): Promise<WebAssets> {
  loaded ??= (async () => {
    // In dist/plue.js, `here` is dist/ itself; from a checkout it is web/.
    const prebuilt = path.join(here, "web");
    if (!fileURLToPath(import.meta.url).endsWith(".ts")) {
      if (!fs.existsSync(path.join(prebuilt, "manifest.json"))) {
        throw new Error(`web assets missing: ${prebuilt}/manifest.json (run npm run build)`);
      }
      return readWebAssets(prebuilt);
    }
    return bundleWeb();
  })().catch((err) => {
    loaded = undefined;
    throw err;
  });
  return loaded;
}
