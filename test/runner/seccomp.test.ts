/**
 * The bubblewrap sandbox's seccomp filter: the program itself (run by an interpreter of classic
 * BPF, and its syscall numbers checked against the kernel headers), and real system calls made
 * inside a real sandbox.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chownTree, createSandbox, DEFAULT_LIMITS, type Sandbox } from "../../runner/sandbox/index";
import {
  ARCHES,
  DENIED_SYSCALLS,
  ENOSYS,
  EPERM,
  evaluate,
  RET,
  seccompProgram,
} from "../../runner/sandbox/seccomp";

const x64 = ARCHES.x64!;
const program = seccompProgram("x64");
const call = (name: string, args: number[] = []) =>
  evaluate(program, { nr: x64.table[name]!, arch: x64.audit, args });

describe("the program", () => {
  it("refuses every listed syscall the architecture has with EPERM", () => {
    for (const name of DENIED_SYSCALLS) {
      if (x64.table[name] === undefined) continue;
      expect([name, call(name)]).toEqual([name, RET.errno(EPERM)]);
    }
    expect(call("ptrace")).toBe(RET.errno(EPERM));
  });

  it("allows ordinary syscalls", () => {
    for (const nr of [0, 1, 2, 3, 9, 39, 57, 59, 61, 231, 257]) // read … exit_group, openat
      expect(evaluate(program, { nr, arch: x64.audit })).toBe(RET.allow);
  });

  it("refuses clone with namespace flags, answers clone3 with ENOSYS", () => {
    const SIGCHLD = 17;
    expect(call("clone", [SIGCHLD])).toBe(RET.allow); // fork
    expect(call("clone", [0x003d0f00])).toBe(RET.allow); // pthread_create's flags
    for (const flag of [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000])
      expect(call("clone", [flag | SIGCHLD])).toBe(RET.errno(EPERM));
    expect(call("clone3")).toBe(RET.errno(ENOSYS));
  });

  it("allows only Docker's personalities", () => {
    for (const p of [0, 8, 0x20000, 0x20008, 0xffffffff]) expect(call("personality", [p])).toBe(RET.allow);
    expect(call("personality", [0x0040000])).toBe(RET.errno(EPERM)); // READ_IMPLIES_EXEC
  });

  it("kills the process for another architecture's ABI and for x32", () => {
    expect(evaluate(program, { nr: 26, arch: 0x40000003 })).toBe(RET.killProcess); // i386 ptrace
    expect(evaluate(program, { nr: 0x40000000 | 39, arch: x64.audit })).toBe(RET.killProcess);
    expect(evaluate(seccompProgram("arm64"), { nr: 39, arch: x64.audit })).toBe(RET.killProcess);
  });

  it("uses the kernel headers' numbers (linux-libc-dev)", () => {
    const parse = (file: string) =>
      Object.fromEntries(
        [...fs.readFileSync(file, "utf8").matchAll(/#define __NR(?:3264)?_(\w+)\s+(\d+)/g)].map((m) => [
          m[1],
          Number(m[2]),
        ]),
      );
    const headers = {
      x64: parse("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
      arm64: parse("/usr/include/asm-generic/unistd.h"),
    };
    for (const [arch, nrs] of Object.entries(headers)) {
      for (const [name, nr] of Object.entries(ARCHES[arch]!.table))
        expect([arch, name, nr]).toEqual([arch, name, nrs[name]]);
    }
  });

  it("refuses an architecture it has no table for", () => {
    expect(() => seccompProgram("mips")).toThrow(/no syscall table for the mips architecture/);
  });
});

describe("inside a bwrap sandbox", () => {
  let ws: string;
  let sandbox: Sandbox;
  beforeAll(() => {
    ws = fs.mkdtempSync(path.join(os.tmpdir(), "plue-seccomp-ws-"));
    sandbox = createSandbox("bwrap", ws, DEFAULT_LIMITS);
    chownTree(ws, sandbox.fileOwner);
  });
  afterAll(async () => {
    await sandbox.dispose();
    fs.rmSync(ws, { recursive: true, force: true });
  });

  // Each line: a syscall made through libc's syscall(), printed with the errno it failed with.
  const py = (calls: Record<string, string>) =>
    [
      "import ctypes, os",
      "libc = ctypes.CDLL(None, use_errno=True)",
      "def t(name, *a):",
      "    r = libc.syscall(*a)",
      "    print(name, 'ok' if r >= 0 else os.strerror(ctypes.get_errno()))",
      ...Object.entries(calls).map(([name, args]) => `t(${JSON.stringify(name)}, ${args})`),
    ].join("\n");

  it("refuses unshare, mount, ptrace, keyctl, bpf, io_uring and namespaced clone with EPERM", async () => {
    const script = py({
      unshare: "272, 0x10000000",
      mount: "165, b'none', b'/tmp', b'tmpfs', 0, None",
      ptrace: "101, 16, 1, 0, 0", // PTRACE_ATTACH to pid 1 of the sandbox
      keyctl: "250, 0, -3, 0",
      bpf: "321, 0, None, 0",
      io_uring_setup: "425, 8, None",
      clone_newuser: "56, 0x10000000 | 17, 0, 0, 0, 0",
      clone3: "435, None, 0",
      getpid: "39",
    });
    const r = await sandbox.exec(["python3", "-c", script], { timeoutMs: 30_000 });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim().split("\n")).toEqual([
      "unshare Operation not permitted",
      "mount Operation not permitted",
      "ptrace Operation not permitted",
      "keyctl Operation not permitted",
      "bpf Operation not permitted",
      "io_uring_setup Operation not permitted",
      "clone_newuser Operation not permitted",
      "clone3 Function not implemented",
      "getpid ok",
    ]);
  });

  it("refuses the unshare and mount commands", async () => {
    const r = await sandbox.exec(["/bin/sh", "-c", "unshare -r true; mount -t tmpfs none /tmp; echo end"], {
      timeoutMs: 10_000,
    });
    expect(r.stdout).toBe("end\n");
    expect(r.stderr).toMatch(/unshare failed: Operation not permitted/);
    expect(r.stderr).toMatch(/mount.*(Operation not permitted|must be superuser|permission denied)/i);
  });

  it("kills a process that makes an x32 syscall", async () => {
    const r = await sandbox.exec(
      ["python3", "-c", "import ctypes; ctypes.CDLL(None).syscall(0x40000000 | 39); print('survived')"],
      { timeoutMs: 10_000 },
    );
    expect(r.stdout).not.toContain("survived");
    expect(r.exitCode === 159 || r.signal === "SIGSYS").toBe(true); // 128 + SIGSYS
  });

  it("still runs ordinary programs: sh, ls, git, node, threads and forks", async () => {
    const r = await sandbox.exec(
      [
        "/bin/sh",
        "-c",
        "ls / >/dev/null && git init -q repo && git -C repo status --short && " +
          'node -e \'const {Worker}=require("worker_threads"); new Worker("1",{eval:true}).on("exit",()=>console.log("node ok"))\' && ' +
          "python3 -c 'import os; pid = os.fork(); os._exit(0) if pid == 0 else os.waitpid(pid, 0); print(\"fork ok\")'",
      ],
      { timeoutMs: 30_000 },
    );
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("node ok\nfork ok\n");
  });
});
