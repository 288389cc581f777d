/**
 * The file tools on everything that is not a plain file in a plain directory: FIFOs (which used
 * to hang the runner's event loop for good), sockets, devices, directories given as files,
 * dangling symlinks, a symlink at every position of a path, hard links; what the tools create
 * and who owns it; and removing a workspace without following anything in it.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { chownTree, resolveSandbox, type Sandbox } from "../../runner/sandbox/index";
import { runTool, type ToolContext } from "../../runner/tools/index";
import { removeTree } from "../../runner/tools/paths";

const isRoot = process.getuid?.() === 0;
let ws: string;
let outside: string;
let sandbox: Sandbox;
let ctx: ToolContext;
let socketServer: net.Server;
const tool = (name: string, input: unknown) => runTool(name, input, ctx);

beforeAll(async () => {
  ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "plue-kinds-ws-")));
  outside = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "plue-kinds-outside-")));
  fs.writeFileSync(path.join(outside, "secret.txt"), "secret\n", { mode: 0o600 });
  sandbox = (await resolveSandbox("auto")).create(ws);
  chownTree(ws, sandbox.fileOwner);
  ctx = { root: ws, sandbox, signal: new AbortController().signal };
  expect(spawnSync("mkfifo", [path.join(ws, "fifo")]).status).toBe(0);
  socketServer = net.createServer();
  await new Promise<void>((r) => socketServer.listen(path.join(ws, "sock"), r));
  fs.mkdirSync(path.join(ws, "dir"));
  fs.symlinkSync("/dev/zero", path.join(ws, "zero"));
  fs.symlinkSync(path.join(ws, "nowhere"), path.join(ws, "dangling"));
});
afterAll(async () => {
  socketServer.close();
  await sandbox.dispose();
  fs.rmSync(ws, { recursive: true, force: true });
  fs.rmSync(outside, { recursive: true, force: true });
});

/** Runs `work` while a 10 ms timer keeps ticking; returns the longest gap between ticks. */
async function longestStall(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 10);
  try {
    await work();
    await new Promise((r) => setTimeout(r, 30)); // one more tick after the work
  } finally {
    clearInterval(timer);
  }
  return longest;
}

describe("a FIFO in the workspace", () => {
  it("write_file with no reader returns an error at once, and the event loop keeps turning", async () => {
    const started = performance.now();
    let result: Awaited<ReturnType<typeof tool>> | undefined;
    const stall = await longestStall(async () => {
      result = await tool("write_file", { path: "fifo", content: "x" });
    });
    expect(result).toMatchObject({
      isError: true,
      output: "fifo is a named pipe (FIFO); the file tools only open regular files",
    });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(stall).toBeLessThan(500);
  });

  it("read_file, edit_file and grep refuse it too, and fifty calls at once never stall the loop", async () => {
    const stall = await longestStall(async () => {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          i % 3 === 0
            ? tool("read_file", { path: "fifo" })
            : i % 3 === 1
              ? tool("edit_file", { path: "fifo", old_string: "a", new_string: "b" })
              : tool("write_file", { path: "fifo", content: "x" }),
        ),
      );
      for (const r of results)
        expect(r).toMatchObject({ isError: true, output: expect.stringContaining("FIFO") });
    });
    expect(stall).toBeLessThan(500);
    expect(await tool("grep", { pattern: "x", path: "fifo" })).toMatchObject({
      isError: true,
      output: expect.stringContaining("FIFO"),
    });
    expect(await tool("read_file", { path: "fifo/x" })).toMatchObject({
      isError: true,
      output: "fifo/x: fifo is not a directory",
    });
  });

  it("write_file with a reader there still refuses it, and writes nothing into the pipe", async () => {
    // A reader that does not block its open (a blocking one would hold a pool thread until a writer comes).
    const reader = fs.openSync(path.join(ws, "fifo"), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const r = await tool("write_file", { path: "fifo", content: "through the pipe" });
      expect(r).toMatchObject({ isError: true, output: expect.stringContaining("FIFO") });
      // Empty: 0 bytes (the tool's open came and went) or EAGAIN (it never opened the pipe).
      let got = 0;
      try {
        got = fs.readSync(reader, Buffer.alloc(64));
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe("EAGAIN");
      }
      expect(got).toBe(0);
    } finally {
      fs.closeSync(reader);
    }
  });

  it("grep over the directory skips it instead of waiting on it", async () => {
    fs.writeFileSync(path.join(ws, "dir", "hay.txt"), "needle\n");
    const started = performance.now();
    const r = await tool("grep", { pattern: "needle" });
    expect(r).toMatchObject({ isError: false, output: "dir/hay.txt:1:needle" });
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});

describe("other kinds of file", () => {
  it.each([
    ["read_file", { path: "sock" }, "sock is a socket; the file tools only open regular files"],
    [
      "write_file",
      { path: "sock", content: "x" },
      "sock is a socket; the file tools only open regular files",
    ],
    ["read_file", { path: "zero" }, "zero is a symlink to /dev/zero, outside the workspace"],
    ["write_file", { path: "zero", content: "x" }, "zero is a symlink to /dev/zero, outside the workspace"],
    ["read_file", { path: "dir" }, "dir is a directory; use list_files"],
    ["read_file", { path: "." }, ". is a directory; use list_files"],
    ["write_file", { path: "dir", content: "x" }, "dir is a directory"],
    ["edit_file", { path: "dir", old_string: "a", new_string: "b" }, "dir is a directory; use list_files"],
    ["list_files", { path: "sock" }, "sock is not a directory"],
    ["read_file", { path: "dangling" }, "dangling is a symlink to"],
    ["write_file", { path: "dangling", content: "x" }, "dangling is a symlink to"],
    ["write_file", { path: "dangling/x", content: "x" }, "dangling/x: dangling is a symlink to"],
  ])("%s %j: %s", async (name, input, message) => {
    const r = await tool(name, input);
    expect(r.isError).toBe(true);
    expect(r.output).toContain(message);
  });

  it("created nothing through the dangling symlink", () => {
    expect(fs.existsSync(path.join(ws, "nowhere"))).toBe(false);
  });

  it("refuses a device node in the workspace without opening it (root can make one)", async () => {
    if (!isRoot) return; // only root can mknod; CI runs as root
    expect(spawnSync("mknod", [path.join(ws, "null-dev"), "c", "1", "3"]).status).toBe(0);
    for (const [name, input] of [
      ["read_file", { path: "null-dev" }],
      ["write_file", { path: "null-dev", content: "x" }],
    ] as const) {
      expect(await tool(name, input)).toMatchObject({
        isError: true,
        output: "null-dev is a character device; the file tools only open regular files",
      });
    }
    const atime = fs.statSync(path.join(ws, "null-dev")).mtimeMs;
    expect(fs.statSync(path.join(ws, "null-dev")).mtimeMs).toBe(atime);
  });

  it("refuses hard-linked files (the other name could be anywhere on the filesystem)", async () => {
    fs.writeFileSync(path.join(ws, "orig.txt"), "original\n");
    fs.linkSync(path.join(ws, "orig.txt"), path.join(ws, "hard.txt"));
    for (const [name, input] of [
      ["read_file", { path: "hard.txt" }],
      ["write_file", { path: "hard.txt", content: "changed\n" }],
      ["edit_file", { path: "orig.txt", old_string: "original", new_string: "changed" }],
    ] as const) {
      expect(await tool(name, input)).toMatchObject({
        isError: true,
        output: expect.stringContaining("has 2 hard links; the file tools do not open hard-linked files"),
      });
    }
    expect(fs.readFileSync(path.join(ws, "orig.txt"), "utf8")).toBe("original\n");
  });
});

describe("a symlink at every position of a path", () => {
  beforeAll(() => {
    fs.mkdirSync(path.join(ws, "real/b/c"), { recursive: true });
    fs.writeFileSync(path.join(ws, "real/b/c/f.txt"), "deep\n");
  });

  // The same file reached through a symlink as the first, a middle, the last directory, and as
  // the file itself; each symlink points inside the workspace, and each is refused all the same.
  it.each([
    ["l1/b/c/f.txt", "l1", "real", "l1/b/c/f.txt: l1 is a symlink to real"],
    ["real/l2/c/f.txt", "real/l2", "b", "real/l2/c/f.txt: real/l2 is a symlink to b"],
    ["real/b/l3/f.txt", "real/b/l3", "c", "real/b/l3/f.txt: real/b/l3 is a symlink to c"],
    ["real/b/c/l4.txt", "real/b/c/l4.txt", "f.txt", "real/b/c/l4.txt is a symlink to f.txt"],
  ])("%s", async (p, link, target, message) => {
    fs.symlinkSync(target, path.join(ws, link));
    for (const [name, input] of [
      ["read_file", { path: p }],
      ["write_file", { path: p, content: "x" }],
      ["edit_file", { path: p, old_string: "deep", new_string: "x" }],
      ["grep", { pattern: "deep", path: p }],
    ] as const) {
      const r = await tool(name, input);
      expect(r.isError).toBe(true);
      expect(r.output).toContain(message);
      expect(r.output).toContain("the file tools do not follow symlinks (use ");
    }
    expect(fs.readFileSync(path.join(ws, "real/b/c/f.txt"), "utf8")).toBe("deep\n");
  });

  it("lists symlinks as links and never descends through them", async () => {
    fs.symlinkSync(outside, path.join(ws, "real/out"));
    const r = await tool("list_files", { path: "real", recursive: true });
    expect(r.output.split("\n")).toEqual(
      expect.arrayContaining(["b/", "b/c/", "b/c/f.txt", `out -> ${outside}`, "b/l3 -> c"]),
    );
    expect(r.output).not.toContain("secret.txt");
    expect(await tool("list_files", { path: "real/out" })).toMatchObject({
      isError: true,
      output: expect.stringContaining("outside the workspace"),
    });
  });
});

describe("what the tools create", () => {
  it("creates parents and files owned by the sandbox's user, which commands can then change", async () => {
    expect(await tool("write_file", { path: "made/deeper/new.txt", content: "new\n" })).toMatchObject({
      isError: false,
      output: "wrote 4 bytes to made/deeper/new.txt",
    });
    const owner = sandbox.fileOwner ?? { uid: process.getuid!(), gid: process.getgid!() };
    for (const p of ["made", "made/deeper", "made/deeper/new.txt"]) {
      const st = fs.lstatSync(path.join(ws, p));
      expect([st.uid, st.gid]).toEqual([owner.uid, owner.gid]);
    }
    const r = await tool("bash", { command: "echo more >> made/deeper/new.txt && touch made/deeper/other" });
    expect(r.isError).toBe(false);
  });

  it("edits in place: the file keeps its mode, and a shorter text leaves no tail", async () => {
    fs.writeFileSync(path.join(ws, "run.sh"), "#!/bin/sh\necho a long line here\n", { mode: 0o755 });
    const owner = sandbox.fileOwner;
    if (owner) fs.chownSync(path.join(ws, "run.sh"), owner.uid, owner.gid);
    await tool("edit_file", { path: "run.sh", old_string: "echo a long line here", new_string: "echo b" });
    expect(fs.readFileSync(path.join(ws, "run.sh"), "utf8")).toBe("#!/bin/sh\necho b\n");
    expect(fs.statSync(path.join(ws, "run.sh")).mode & 0o777).toBe(0o755);
  });
});

describe("removing a workspace (removeTree)", () => {
  it("removes everything, symlinks as links, unreadable directories included, and nothing outside", async () => {
    const tree = fs.mkdtempSync(path.join(os.tmpdir(), "plue-kinds-rm-"));
    fs.mkdirSync(path.join(tree, "a/locked/inner"), { recursive: true });
    fs.writeFileSync(path.join(tree, "a/locked/inner/f"), "x");
    fs.symlinkSync(outside, path.join(tree, "a/out"));
    fs.symlinkSync(path.join(outside, "secret.txt"), path.join(tree, "secret-link"));
    spawnSync("mkfifo", [path.join(tree, "a/fifo")]);
    fs.chmodSync(path.join(tree, "a/locked/inner"), 0o000);
    fs.chmodSync(path.join(tree, "a/locked"), 0o500);
    await removeTree(tree);
    expect(fs.existsSync(tree)).toBe(false);
    expect(fs.readdirSync(outside)).toEqual(["secret.txt"]);
    expect(fs.readFileSync(path.join(outside, "secret.txt"), "utf8")).toBe("secret\n");
  });
});
