// Bundles each deployable with esbuild into dist/ (or the directory given as --outdir): the app and
// CLI (plue.js and its chunks), the runner (runner.js), the edge Worker (edge.js) and the web UI's
// assets (web/). Migrations ship beside the app bundle.
//   node scripts/build.mjs [--outdir DIR]
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { build } from "esbuild";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const { values } = parseArgs({ options: { outdir: { type: "string" } } });
const dist = path.resolve(values.outdir ?? path.join(root, "dist"));
fs.mkdirSync(dist, { recursive: true });

const node = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  sourcemap: true,
  // Packages with native parts (@node-rs/argon2's prebuilt binding), wasm (PGlite) or
  // runtime-resolved files stay in node_modules: every package does, so the image's production
  // node_modules (app/Dockerfile) must hold them, and it does (they are `dependencies`).
  packages: "external",
  banner: {
    js: "import { createRequire as __plueRequire } from 'node:module'; const require = __plueRequire(import.meta.url);",
  },
};

// The app is split at its dynamic imports, so a package only one mode needs (the Kubernetes client,
// the model SDK, the Markdown renderer) loads when that mode is used, not at every start. Chunks
// sit beside plue.js: modules that find files relative to themselves (migrations/, web/,
// runner.js) resolve them the same from any chunk. Chunks of an earlier build are removed first.
for (const f of fs.readdirSync(dist)) if (/^chunk-.*\.js(\.map)?$/.test(f)) fs.rmSync(path.join(dist, f));
await build({
  ...node,
  entryPoints: { plue: path.join(root, "scripts/entry-plue.ts") },
  outdir: dist,
  splitting: true,
  chunkNames: "chunk-[hash]",
  logLevel: "warning",
});
console.log("built plue.js");

// The workflow evaluation worker (app/workflows/pool.ts finds it beside plue.js and its chunks).
await build({
  ...node,
  entryPoints: [path.join(root, "app/workflows/worker.ts")],
  outfile: path.join(dist, "workflow-worker.js"),
  logLevel: "warning",
});
console.log("built workflow-worker.js");

await build({
  ...node,
  entryPoints: [path.join(root, "runner/main.ts")],
  outfile: path.join(dist, "runner.js"),
});
console.log("built runner.js");

await build({
  entryPoints: [path.join(root, "edge/worker.ts")],
  outfile: path.join(dist, "edge.js"),
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  minify: true,
  logLevel: "warning",
});
console.log("built edge.js");

// The web UI's hashed assets and their manifest, which plue.js serves (it has no esbuild at run
// time). web/build.ts is TypeScript: it is loaded through a throwaway bundle of itself.
const webBuilder = path.join(dist, ".web-build.mjs");
await build({
  ...node,
  entryPoints: [path.join(root, "web/build.ts")],
  outfile: webBuilder,
  sourcemap: false,
});
try {
  const { bundleWeb, writeWebAssets } = await import(webBuilder);
  writeWebAssets(await bundleWeb(root), path.join(dist, "web"));
} finally {
  fs.rmSync(webBuilder, { force: true });
}
console.log("built web/");
fs.cpSync(path.join(root, "app/db/migrations"), path.join(dist, "migrations"), { recursive: true });
console.log("copied migrations/");
