/**
 * The app image's entry point, built as the Dockerfile builds it (`scripts/build.mjs`) and started
 * as the image starts it (`node dist/plue.js serve`, packages from a node_modules beside dist/):
 * health, the web UI from the prebuilt assets, a Markdown render (a lazily loaded chunk), SIGTERM.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { jest } from "@jest/globals";

jest.setTimeout(180_000);

const root = path.resolve(".");
let dir: string;
let dist: string;
let server: ChildProcess;
let url: string;
let moduleLog = "";

/** Packages the server has loaded so far, from Node's module loader debug output (NODE_DEBUG=esm). */
function loadedPackages(): Set<string> {
  const names = [...moduleLog.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)\//g)].map((m) => m[1]!);
  return new Set(names);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-bundle-"));
  dist = path.join(dir, "dist");
  fs.symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"));
  await promisify(execFile)(process.execPath, ["scripts/build.mjs", "--outdir", dist], { cwd: root });

  server = spawn(process.execPath, [path.join(dist, "plue.js"), "serve"], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      HOST: "127.0.0.1",
      PORT: "0",
      PLUE_DATA_DIR: path.join(dir, "data"),
      PLUE_SEED_DEMO: "true",
      LOG_LEVEL: "info",
      NODE_DEBUG: "esm",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stderr!.on("data", (d) => (moduleLog += d));
  url = await new Promise<string>((resolve, reject) => {
    let out = "";
    server.stdout!.on("data", (d) => {
      out += d;
      const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
      if (m) resolve(m[1]!);
    });
    server.once("exit", (code) =>
      reject(new Error(`dist/plue.js exited with ${code}:\n${out}\n${moduleLog.slice(-4000)}`)),
    );
  });
});

afterAll(() => {
  if (server.exitCode === null) server.kill("SIGKILL");
  fs.rmSync(dir, { recursive: true, force: true });
});

it("loads at start only what every mode needs: not the Kubernetes client, the model SDK or Markdown", async () => {
  expect((await fetch(`${url}/api/health`)).status).toBe(200);
  const packages = loadedPackages();
  expect(packages).toContain("express"); // the debug output still names what loads
  expect(packages).toContain("@electric-sql/pglite");
  for (const lazy of ["@kubernetes/client-node", "@anthropic-ai/sdk", "marked", "sanitize-html"]) {
    expect(packages).not.toContain(lazy);
  }
});

it("answers health, serves the UI from the prebuilt assets and renders Markdown from a lazy chunk", async () => {
  expect(await (await fetch(`${url}/api/health`)).json()).toEqual({ status: "ok", database: "pglite" });

  const page = await (await fetch(`${url}/demo/hello`)).text();
  const script = /<script[^>]+src="([^"]+)"/.exec(page)?.[1];
  expect(script).toMatch(/^\/_astro\//);
  const asset = await fetch(url + script);
  expect(asset.status).toBe(200);
  expect(asset.headers.get("cache-control")).toContain("immutable");

  const { commit } = (await (await fetch(`${url}/api/demo/hello/refs/main`)).json()) as { commit: string };
  const md = await fetch(`${url}/api/repos/demo/hello/markdown/${commit}/README.md`);
  expect(md.status).toBe(200);
  expect(((await md.json()) as { html: string }).html).toContain("<h1>hello</h1>");
});

it("stops on SIGTERM with exit code 0", async () => {
  const exited = new Promise<number | null>((r) => server.once("exit", (code) => r(code)));
  server.kill("SIGTERM");
  expect(await exited).toBe(0);
});
