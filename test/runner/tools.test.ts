/**
 * The tools over a real workspace and the real sandbox: confinement (`..`, absolute paths,
 * symlinks out, dangling symlinks), exact edits, grep, output caps, and bad arguments.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chownTree, resolveSandbox, type Sandbox } from "../../runner/sandbox/index";
import { MAX_TOOL_OUTPUT_CHARS, runTool, type ToolContext, toolDefinitions } from "../../runner/tools/index";

let ws: string;
let sandbox: Sandbox;
let ctx: ToolContext;
const outside = fs.mkdtempSync(path.join(os.tmpdir(), "plue-outside-"));
const tool = (name: string, input: unknown) => runTool(name, input, ctx);

beforeAll(async () => {
  ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "plue-tools-ws-")));
  sandbox = (await resolveSandbox("auto")).create(ws);
  chownTree(ws, sandbox.fileOwner);
  ctx = { root: ws, sandbox, signal: new AbortController().signal };
  fs.writeFileSync(path.join(outside, "secret.txt"), "top secret\n");
  fs.symlinkSync("/etc", path.join(ws, "etc-link"));
  fs.symlinkSync(path.join(outside, "secret.txt"), path.join(ws, "secret-link"));
  fs.symlinkSync(path.join(outside, "not-there-yet"), path.join(ws, "dangling"));
  fs.symlinkSync(outside, path.join(ws, "out-dir"));
});
afterAll(async () => {
  await sandbox.dispose();
  fs.rmSync(ws, { recursive: true, force: true });
  fs.rmSync(outside, { recursive: true, force: true });
});

describe("confinement", () => {
  it.each([
    ["read_file", { path: "../../etc/passwd" }, "'..' is not allowed"],
    ["read_file", { path: "src/../../x" }, "'..' is not allowed"],
    ["read_file", { path: "/etc/passwd" }, "paths must be inside the workspace"],
    ["read_file", { path: "etc-link/passwd" }, "outside the workspace"],
    ["read_file", { path: "secret-link" }, "outside the workspace"],
    ["list_files", { path: "etc-link" }, "outside the workspace"],
    ["write_file", { path: "out-dir/planted.txt", content: "x" }, "outside the workspace"],
    ["write_file", { path: "dangling", content: "x" }, "is a symlink to"],
    ["edit_file", { path: "secret-link", old_string: "top", new_string: "no" }, "outside the workspace"],
    ["grep", { pattern: "root", path: "etc-link" }, "outside the workspace"],
    ["grep", { pattern: "root", path: "/etc" }, "paths must be inside the workspace"],
  ])("%s %j is refused", async (name, input, message) => {
    const r = await tool(name, input);
    expect(r.isError).toBe(true);
    expect(r.output).toContain(message);
  });

  it("changed nothing outside the workspace", () => {
    expect(fs.readdirSync(outside)).toEqual(["secret.txt"]);
    expect(fs.readFileSync(path.join(outside, "secret.txt"), "utf8")).toBe("top secret\n");
  });

  it("accepts /workspace paths, as the sandbox shows them", async () => {
    await tool("write_file", { path: "/workspace/abs.txt", content: "abs\n" });
    expect((await tool("read_file", { path: "abs.txt" })).output).toBe("abs\n");
  });
});

describe("file tools", () => {
  it("writes nested files that commands in the sandbox can then change", async () => {
    const w = await tool("write_file", { path: "src/deep/a.txt", content: "one\ntwo\n" });
    expect(w).toMatchObject({ isError: false, output: "wrote 8 bytes to src/deep/a.txt" });
    const b = await tool("bash", {
      command: "echo three >> src/deep/a.txt && mkdir -p src/deep/more && cat src/deep/a.txt",
    });
    expect(b.isError).toBe(false);
    expect(b.output).toContain("one\ntwo\nthree");
  });

  it("reads line ranges and refuses directories and binary files", async () => {
    fs.writeFileSync(path.join(ws, "lines.txt"), "l1\nl2\nl3\nl4\n");
    expect((await tool("read_file", { path: "lines.txt", offset: 2, limit: 2 })).output).toBe(
      "[lines 2-3 of 5]\nl2\nl3",
    );
    expect((await tool("read_file", { path: "src" })).output).toContain("is a directory");
    fs.writeFileSync(path.join(ws, "bin.dat"), Buffer.from([1, 0, 2]));
    expect((await tool("read_file", { path: "bin.dat" })).output).toContain("looks binary");
    expect((await tool("read_file", { path: "missing.txt" })).output).toBe(
      "read_file failed: missing.txt: no such file or directory",
    );
  });

  it("edits by exact, unique replacement", async () => {
    fs.writeFileSync(path.join(ws, "e.txt"), "alpha beta alpha\n");
    expect(
      (await tool("edit_file", { path: "e.txt", old_string: "gamma", new_string: "x" })).output,
    ).toContain("not found");
    const twice = await tool("edit_file", { path: "e.txt", old_string: "alpha", new_string: "x" });
    expect(twice).toMatchObject({ isError: true, output: expect.stringContaining("occurs 2 times") });
    expect(await tool("edit_file", { path: "e.txt", old_string: "beta", new_string: "$& $1" })).toMatchObject(
      { isError: false },
    );
    expect(fs.readFileSync(path.join(ws, "e.txt"), "utf8")).toBe("alpha $& $1 alpha\n"); // no regex specials
    await tool("edit_file", { path: "e.txt", old_string: "alpha", new_string: "omega", replace_all: true });
    expect(fs.readFileSync(path.join(ws, "e.txt"), "utf8")).toBe("omega $& $1 omega\n");
  });

  it("lists directories, recursively on request, skipping .git", async () => {
    fs.mkdirSync(path.join(ws, ".git/objects"), { recursive: true });
    const flat = (await tool("list_files", {})).output.split("\n");
    expect(flat).toEqual(expect.arrayContaining([".git/", "src/", "etc-link -> /etc", "lines.txt"]));
    const deep = (await tool("list_files", { path: "src", recursive: true })).output;
    expect(deep).toBe("deep/\ndeep/a.txt\ndeep/more/");
    expect((await tool("list_files", { recursive: true })).output).not.toContain(".git/objects");
  });
});

describe("grep and bash", () => {
  it("finds matches as path:line:text, in the sandbox", async () => {
    fs.writeFileSync(path.join(ws, "g.ts"), "const a = 1;\nconst b = 22;\n");
    const r = await tool("grep", { pattern: "\\d{2}", include: "*.ts" });
    expect(r).toEqual({ isError: false, output: "g.ts:2:const b = 22;", truncated: false });
    expect((await tool("grep", { pattern: "nothing-like-this-here" })).output).toBe("no matches");
    expect(await tool("grep", { pattern: "(unclosed" })).toMatchObject({
      isError: true,
      output: expect.stringContaining("grep failed"),
    });
  });

  it("limits grep results and says so", async () => {
    fs.writeFileSync(path.join(ws, "many.txt"), "hit\n".repeat(50));
    const r = await tool("grep", { pattern: "hit", path: "many.txt", max_results: 5 });
    expect(r.output.split("\n")).toHaveLength(6);
    expect(r.output).toContain("[truncated: showing the first 5 matches]");
  });

  it("reports exit codes and timeouts of commands", async () => {
    expect((await tool("bash", { command: "echo out; echo err >&2; exit 3" })).output).toBe(
      "out\n[stderr]\nerr\n[exit code 3]",
    );
    const slow = await tool("bash", { command: "sleep 20", timeout_ms: 300 });
    expect(slow).toMatchObject({ isError: true, output: expect.stringContaining("ran longer than 300 ms") });
  });

  it("caps long output and says it was cut", async () => {
    const r = await tool("bash", { command: "head -c 300000 /dev/zero | tr '\\0' a" });
    expect(r.truncated).toBe(true);
    expect(r.output.length).toBeLessThan(MAX_TOOL_OUTPUT_CHARS + 200);
    expect(r.output).toMatch(/\[truncated/);
  });
});

describe("bad arguments", () => {
  it("answers with an error result, never a throw", async () => {
    expect(await tool("read_file", { path: 7 })).toMatchObject({
      isError: true,
      output: expect.stringContaining("invalid arguments for read_file: path"),
    });
    expect(await tool("bash", {})).toMatchObject({
      isError: true,
      output: expect.stringContaining("command"),
    });
    expect(await tool("bash", { command: "true", timeout_ms: 10_000_000 })).toMatchObject({ isError: true });
    expect(await tool("read_file", null)).toMatchObject({ isError: true });
    expect(await tool("launch_rockets", {})).toMatchObject({
      isError: true,
      output: expect.stringContaining("unknown tool"),
    });
    expect(await tool("read_file", { path: "a\0b" })).toMatchObject({
      isError: true,
      output: expect.stringContaining("NUL"),
    });
  });

  it("describes every tool to the model with a JSON schema from its input schema", () => {
    const defs = toolDefinitions();
    expect(defs.map((d) => d.name)).toEqual([
      "read_file",
      "write_file",
      "edit_file",
      "list_files",
      "grep",
      "bash",
    ]);
    const read = defs[0]!;
    expect(read.input_schema).toMatchObject({
      type: "object",
      required: ["path"],
      properties: { path: { type: "string" } },
    });
    for (const d of defs) expect(d.input_schema).not.toHaveProperty("$schema");
  });
});
