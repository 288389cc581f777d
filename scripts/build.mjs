// Bundles each deployable with esbuild into dist/: the app and CLI (dist/plue.js), the runner
// (dist/runner.js), the edge Worker (dist/edge.js) and the web UI's assets (dist/web/). Migrations
// ship beside the app bundle.
import fs from "node:fs";
import path from "node:path";
import { build } from "esbuild";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const dist = path.join(root, "dist");
fs.mkdirSync(dist, { recursive: true });

const node = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  sourcemap: true,
  // Packages with native parts, wasm or runtime-resolved files stay in node_modules.
  packages: "external",
  banner: {
    js: "import { createRequire as __plueRequire } from 'node:module'; const require = __plueRequire(import.meta.url);",
  },
};

const targets = [
  { entry: "scripts/entry-plue.ts", out: "plue.js", options: node },
  { entry: "runner/main.ts", out: "runner.js", options: node },
  {
    entry: "edge/worker.ts",
    out: "edge.js",
    options: { bundle: true, format: "esm", platform: "neutral", target: "es2022", minify: true },
  },
];

for (const t of targets) {
  if (!fs.existsSync(path.join(root, t.entry))) continue;
  await build({
    entryPoints: [path.join(root, t.entry)],
    outfile: path.join(dist, t.out),
    logLevel: "warning",
    ...t.options,
  });
  console.log(`built dist/${t.out}`);
}
// The web UI's hashed assets and their manifest, which dist/plue.js serves (it has no esbuild at
// run time). web/build.ts is TypeScript: it is loaded through a throwaway bundle of itself.
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
console.log("built dist/web/");
fs.cpSync(path.join(root, "app/db/migrations"), path.join(dist, "migrations"), { recursive: true });
