// Bundles each deployable with esbuild into dist/: the app and CLI (dist/plue.js), the runner
// (dist/runner.js) and the edge Worker (dist/edge.js). Migrations ship beside the app bundle.
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
fs.cpSync(path.join(root, "app/db/migrations"), path.join(dist, "migrations"), { recursive: true });
