/**
 * The layer rules in .dependency-cruiser.cjs catch what they are for. Each case writes a tiny tree with
 * the codebase's layout into a temporary directory and runs the real `depcruise` over it with the
 * committed rules (the README's test command runs the same rules over the real tree).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const ROOT = path.resolve(".");
const DEPCRUISE = path.join(ROOT, "node_modules/.bin/depcruise");

/** Runs the committed rules over `files` (path → source); returns the exit status and report. */
function cruise(files: Record<string, string>): { status: number | null; report: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-layers-"));
  try {
    fs.copyFileSync(path.join(ROOT, ".dependency-cruiser.cjs"), path.join(dir, ".dependency-cruiser.cjs"));
    fs.writeFileSync(
      path.join(dir, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { module: "ESNext" } }),
    );
    for (const [file, source] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), source);
    }
    const tops = [...new Set(Object.keys(files).map((f) => f.split("/")[0]!))];
    const r = spawnSync(DEPCRUISE, [...tops, "--config", ".dependency-cruiser.cjs", "--output-type", "err"], {
      cwd: dir,
      encoding: "utf8",
    });
    return { status: r.status, report: `${r.stdout}${r.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const HTTP_ERRORS = { "app/http/errors.ts": "export const render = 1;\n" };

it("passes a service that throws AppError and an HTTP layer that renders it", () => {
  const r = cruise({
    ...HTTP_ERRORS,
    "app/errors.ts": "export class AppError extends Error {}\n",
    "app/runs/service.ts": 'import { AppError } from "../errors";\nexport const e = AppError;\n',
    "app/http/runs.ts":
      'import { e } from "../runs/service";\nimport { render } from "./errors";\nexport { e, render };\n',
  });
  expect(r).toEqual({ status: 0, report: expect.stringContaining("no dependency violations") });
});

it("fails a service that imports app/http/errors", () => {
  const r = cruise({
    ...HTTP_ERRORS,
    "app/dispatch/dispatcher.ts": 'import { render } from "../http/errors";\nexport const x = render;\n',
  });
  expect(r.status).not.toBe(0);
  expect(r.report).toContain("services-not-http: app/dispatch/dispatcher.ts → app/http/errors.ts");
});

it("fails a type-only import of the HTTP layer too", () => {
  const r = cruise({
    ...HTTP_ERRORS,
    "app/sessions/service.ts":
      'import type { render } from "../http/errors";\nexport type X = typeof render;\n',
  });
  expect(r.report).toContain("services-not-http: app/sessions/service.ts → app/http/errors.ts");
});

it("keeps app/wire a leaf, the runner on the wire, and the web UI on wire + client", () => {
  const r = cruise({
    "app/db/index.ts": "export const db = 1;\n",
    "app/wire/api.ts": 'import { db } from "../db/index";\nexport const a = db;\n',
    "app/wire/protocol.ts": "export const p = 1;\n",
    "app/client/stream.ts": 'import { p } from "../wire/protocol";\nexport const s = p;\n',
    "runner/main.ts":
      'import { p } from "../app/wire/protocol";\nimport { db } from "../app/db/index";\nexport { p, db };\n',
    "web/src/main.ts":
      'import { s } from "../../app/client/stream";\nimport { db } from "../../app/db/index";\nexport { s, db };\n',
  });
  expect(r.status).not.toBe(0);
  expect(r.report).toContain("wire-is-a-leaf: app/wire/api.ts → app/db/index.ts");
  expect(r.report).toContain("runner-only-wire: runner/main.ts → app/db/index.ts");
  expect(r.report).toContain("web-only-wire-and-client: web/src/main.ts → app/db/index.ts");
  // What each may import is not reported.
  expect(r.report).not.toContain("app/wire/protocol.ts");
  expect(r.report).not.toContain("app/client/stream.ts");
});

it("refuses import cycles, except inside the workflow interpreter", () => {
  const cycle = (dir: string) => ({
    [`${dir}/a.ts`]: 'import { b } from "./b";\nexport const a = () => b;\n',
    [`${dir}/b.ts`]: 'import { a } from "./a";\nexport const b = () => a;\n',
  });
  expect(cruise(cycle("app/workflows")).status).toBe(0);
  const r = cruise(cycle("app/runs"));
  expect(r.status).not.toBe(0);
  expect(r.report).toContain("no-circular: app/runs/a.ts");
});
