/**
 * The file tools against a racing symlink flipper: another process (as the sandbox's host user,
 * like a workflow step running beside the agent) keeps swapping directories of the workspace for
 * symlinks to a directory outside, which holds a root-only secret and a root-owned directory.
 * A thousand read_file / write_file / edit_file / list_files calls through the swapped paths
 * must never show the secret, and nothing outside may be created or changed. A control read by
 * path, beside them, shows the flipper really does lead outside.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chownTree, resolveSandbox, type Sandbox } from "../../runner/sandbox/index";
import { runTool, type ToolContext } from "../../runner/tools/index";

const SECRET = `TOPSECRET-${randomBytes(6).toString("hex")}`;
const CALLS = 1000;
const DEADLINE_MS = 40_000;

let ws: string;
let outside: string;
let sandbox: Sandbox;
let ctx: ToolContext;
let flipper: ChildProcess | undefined;

/**
 * Swaps each directory for a symlink to `outside` and back, until killed, staying a random 0 to
 * 100 µs in each state, so that every step of a tool call meets both. A directory that a tool
 * made meanwhile (write_file creates missing parents) is moved aside, so the flipping never stalls.
 */
const FLIPPER = `
const fs = require("fs");
const [outside, ...dirs] = process.argv.slice(1);
let n = 0;
const aside = (d) => { try { fs.renameSync(d, d + ".aside-" + n++); } catch {} };
const spin = () => { const end = process.hrtime.bigint() + BigInt(Math.floor(Math.random() * 100000)); while (process.hrtime.bigint() < end); };
process.stdout.write("ready\\n");
for (;;) {
  for (const d of dirs) {
    try { fs.renameSync(d, d + ".real"); } catch { aside(d); }
    try { fs.symlinkSync(outside, d); } catch {}
  }
  spin();
  for (const d of dirs) {
    try { fs.unlinkSync(d); } catch { aside(d); }
    try { fs.renameSync(d + ".real", d); } catch {}
  }
  spin();
}`;

/** Everything under a directory: names, modes, owners, sizes, times and contents. */
function snapshot(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((e) => {
      const p = path.join(e.parentPath, e.name);
      const st = fs.lstatSync(p);
      const body = st.isFile() ? fs.readFileSync(p, "utf8") : "";
      return `${path.relative(dir, p)} ${st.mode} ${st.uid} ${st.size} ${st.mtimeMs} ${st.ctimeMs} ${body}`;
    })
    .sort();
}

beforeAll(async () => {
  ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "plue-race-ws-")));
  outside = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "plue-race-outside-")));
  // Outside: a root-only secret under the same name as a workspace file, a root-owned directory
  // under the same name as a workspace directory, and a marker a leaked listing would show.
  fs.writeFileSync(path.join(outside, "inside.txt"), `${SECRET}\n`, { mode: 0o600 });
  fs.mkdirSync(path.join(outside, "target"), { mode: 0o755 });
  fs.writeFileSync(path.join(outside, "OUTSIDE-MARKER"), "");
  for (const d of ["d", "n/d"]) {
    fs.mkdirSync(path.join(ws, d, "target"), { recursive: true });
    fs.writeFileSync(path.join(ws, d, "inside.txt"), "inside\n");
  }
  sandbox = (await resolveSandbox("auto")).create(ws);
  chownTree(ws, sandbox.fileOwner);
  ctx = { root: ws, sandbox, signal: new AbortController().signal };
});

afterAll(async () => {
  flipper?.kill("SIGKILL");
  await sandbox?.dispose();
  fs.rmSync(ws, { recursive: true, force: true });
  fs.rmSync(outside, { recursive: true, force: true });
});

async function startFlipper(): Promise<ChildProcess> {
  const owner = sandbox.fileOwner;
  const child = spawn(process.execPath, ["-e", FLIPPER, outside, path.join(ws, "d"), path.join(ws, "n/d")], {
    stdio: ["ignore", "pipe", "inherit"],
    uid: owner?.uid,
    gid: owner?.gid,
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`flipper exited with ${code}`)));
  });
  return child;
}

/** The i-th call: every file tool, through the top-level and the nested flipped directory. */
function call(i: number): [string, Record<string, unknown>] {
  const d = i % 2 ? "d" : "n/d";
  switch (i % 8) {
    case 0:
    case 1:
      return ["read_file", { path: `${d}/inside.txt` }];
    case 2:
      return ["write_file", { path: `${d}/target/planted-${i}.txt`, content: "planted\n" }];
    case 3:
      return ["write_file", { path: `${d}/target/new-${i}/deeper/planted.txt`, content: "planted\n" }];
    case 4:
      return ["edit_file", { path: `${d}/inside.txt`, old_string: SECRET, new_string: "PWNED" }];
    case 5:
      return ["write_file", { path: `${d}/inside.txt`, content: "inside\n" }];
    case 6:
      return ["list_files", { path: d }];
    default:
      return ["list_files", { path: ".", recursive: true }];
  }
}

it("never reads, lists, creates or changes anything outside the workspace", async () => {
  const before = snapshot(outside);
  flipper = await startFlipper();
  const started = Date.now();
  const results: { name: string; input: unknown; output: string; isError: boolean }[] = [];
  // Four at a time, so calls overlap each other as well as the flipper.
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < CALLS && Date.now() - started < DEADLINE_MS) {
        const [name, input] = call(next++);
        const r = await runTool(name, input, ctx);
        results.push({ name, input, output: r.output, isError: r.isError });
      }
    }),
  );
  // The control: a read by path, as any code that checks and then opens by name would do, does
  // get the secret from this flipper (bounded; as root, or as the secret's owner).
  let controlLeaked = false;
  for (let i = 0; i < 20_000 && !controlLeaked && Date.now() - started < DEADLINE_MS + 10_000; i++) {
    const text = await fs.promises.readFile(path.join(ws, "d/inside.txt"), "utf8").catch(() => "");
    controlLeaked = text.includes(SECRET);
  }
  flipper.kill("SIGKILL");
  await new Promise((r) => flipper!.once("exit", r));

  expect(results).toHaveLength(CALLS);
  for (const r of results) {
    expect(r.output).not.toContain(SECRET);
    expect(r.output).not.toContain("OUTSIDE-MARKER");
    expect(r.output).not.toContain("PWNED");
  }
  expect(snapshot(outside)).toEqual(before);
  expect(fs.readdirSync(path.join(outside, "target"))).toEqual([]);
  expect(fs.readFileSync(path.join(outside, "inside.txt"), "utf8")).toBe(`${SECRET}\n`);
  // The calls did work while the directories were real: the race is run, not avoided.
  const succeeded = (name: string) => results.filter((r) => r.name === name && !r.isError).length;
  for (const name of ["read_file", "write_file", "list_files"]) expect(succeeded(name)).toBeGreaterThan(0);
  // And while they were symlinks, the tools said so.
  expect(results.some((r) => r.isError && r.output.includes("is a symlink to"))).toBe(true);
  expect(controlLeaked).toBe(true);
}, 60_000);
