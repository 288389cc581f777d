/**
 * bubblewrap: the local default. Each command gets new user, pid, ipc, uts, cgroup and network
 * namespaces (so no network at all), read-only system directories, a minimal /etc, the
 * workspace read-write at /workspace, a private /tmp, uid 1000, and rlimits set by `prlimit`
 * before the command starts. The pid namespace dies with its first process, so nothing a
 * command leaves in the background outlives it.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type CgroupLimits, joinArgs, type SandboxCgroup } from "./cgroup";
import { cgroupParent, ROOT_DROP_OWNER } from "./host";
import { type ProcessResult, runProcess } from "./process";
import { seccompFilter } from "./seccomp";
import {
  baseEnv,
  DEFAULT_LIMITS,
  type ExecOptions,
  formatBytes,
  SANDBOX_UID,
  SANDBOX_WORKDIR,
  type Sandbox,
  type SandboxLimits,
  SandboxUnavailableError,
} from "./types";
import { volumeFull, volumeLimitOf } from "./volume";

export { ROOT_DROP_UID } from "./host";

/** The fd bwrap reads the seccomp program from (the first of runProcess's extraInputs). */
const SECCOMP_FD = 3;
/** How often a running command's cgroup is checked for an OOM kill (v1 kills one process, not all). */
const OOM_POLL_MS = 200;

const SYSTEM_DIRS = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/** The parts of /etc that programs need to start; nothing with secrets or host identity. */
const ETC_ENTRIES = [
  "alternatives",
  "ld.so.cache",
  "ld.so.conf",
  "ld.so.conf.d",
  "localtime",
  "timezone",
  "nsswitch.conf",
  "ssl",
  "ca-certificates",
  "mime.types",
  "bash.bashrc",
  "inputrc",
  "profile",
  "protocols",
  "services",
  "os-release",
];

/** `prlimit` arguments for the limits; prlimit execs the command with them applied. */
export function prlimitArgs(limits: SandboxLimits): string[] {
  return [
    "/usr/bin/prlimit",
    `--cpu=${limits.cpuSeconds}`,
    `--as=${limits.memoryBytes}`,
    `--nproc=${limits.processes}`,
    `--fsize=${limits.fileSizeBytes}`,
    "--core=0",
    "--",
  ];
}

export interface BwrapArgsInput {
  readonly workspace: string;
  /** Directory holding the generated passwd, group and hosts files. */
  readonly etcDir: string;
  readonly cwd?: string;
  readonly limits: SandboxLimits;
  readonly env: Readonly<Record<string, string>>;
  /** File descriptor bwrap reads the seccomp program from. */
  readonly seccompFd?: number;
}

/** The full bwrap command line; pure, so its flags can be checked without running it. */
export function bwrapArgs(input: BwrapArgsInput, argv: readonly string[]): string[] {
  const a = [
    "--unshare-all",
    "--unshare-user",
    "--disable-userns",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
    "--uid",
    String(SANDBOX_UID),
    "--gid",
    String(SANDBOX_UID),
    "--hostname",
    "sandbox",
    "--ro-bind",
    "/usr",
    "/usr",
  ];
  for (const dir of SYSTEM_DIRS) {
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) a.push("--symlink", fs.readlinkSync(dir), dir);
    else if (st?.isDirectory()) a.push("--ro-bind", dir, dir);
  }
  for (const entry of ETC_ENTRIES) a.push("--ro-bind-try", `/etc/${entry}`, `/etc/${entry}`);
  for (const file of ["passwd", "group", "hosts"])
    a.push("--ro-bind", path.join(input.etcDir, file), `/etc/${file}`);
  a.push("--proc", "/proc", "--dev", "/dev");
  a.push("--size", String(input.limits.tmpBytes), "--tmpfs", "/tmp");
  a.push("--bind", input.workspace, SANDBOX_WORKDIR);
  a.push("--remount-ro", "/"); // the root tmpfs bwrap builds; /tmp and /workspace stay writable
  a.push("--chdir", path.posix.join(SANDBOX_WORKDIR, input.cwd ?? "."));
  if (input.seccompFd !== undefined) a.push("--seccomp", String(input.seccompFd));
  a.push("--clearenv");
  for (const [k, v] of Object.entries(input.env)) a.push("--setenv", k, v);
  a.push("--", ...prlimitArgs(input.limits), ...argv);
  return a;
}

/** A directory with the passwd, group and hosts the sandbox sees (the host's stay hidden). */
export function writeSandboxEtc(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-sandbox-etc-"));
  fs.chmodSync(dir, 0o755);
  const u = SANDBOX_UID;
  fs.writeFileSync(
    path.join(dir, "passwd"),
    `root:x:0:0:root:/root:/usr/sbin/nologin\nplue:x:${u}:${u}:plue:/tmp:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    { mode: 0o644 },
  );
  fs.writeFileSync(path.join(dir, "group"), `root:x:0:\nplue:x:${u}:\nnogroup:x:65534:\n`, { mode: 0o644 });
  fs.writeFileSync(path.join(dir, "hosts"), "127.0.0.1 localhost sandbox\n::1 localhost\n", { mode: 0o644 });
  return dir;
}

export function cgroupLimits(limits: SandboxLimits): CgroupLimits {
  return { memoryBytes: limits.sandboxMemoryBytes, pids: limits.sandboxPids, cpus: limits.sandboxCpus };
}

/** Names the workspace limit on a failed command whose workspace volume filled up. */
export function nameWorkspaceLimit(r: ProcessResult, workspace: string): void {
  const bytes = volumeLimitOf(workspace);
  if (bytes === undefined || (r.exitCode === 0 && r.signal === null)) return;
  if (volumeFull(workspace) || /No space left on device/i.test(r.stderr))
    r.limit = `the workspace exceeded its ${formatBytes(bytes)} limit (no space left on device)`;
}

/** A cgroup for one sandbox in the runner's delegated parent; refuses the sandbox without one. */
export function sandboxCgroup(backend: "bwrap" | "gvisor", limits: SandboxLimits): SandboxCgroup {
  try {
    return cgroupParent().create(cgroupLimits(limits));
  } catch (err) {
    throw new SandboxUnavailableError(backend, (err as Error).message);
  }
}

/**
 * Runs one command in the sandbox's cgroup and says which whole-sandbox limit, if any, it ran
 * into. cgroup v1 has no memory.oom.group, so an OOM kill of one process is made a kill of all.
 */
export async function runInCgroup(
  cgroup: SandboxCgroup,
  workspace: string,
  run: () => Promise<ProcessResult>,
): Promise<ProcessResult> {
  const before = cgroup.events();
  let oom = false;
  const poll = setInterval(() => {
    if (!oom && cgroup.events().oomKills > before.oomKills) {
      oom = true;
      cgroup.kill();
    }
  }, OOM_POLL_MS);
  let r: ProcessResult;
  try {
    r = await run();
  } finally {
    clearInterval(poll);
  }
  nameWorkspaceLimit(r, workspace);
  const after = cgroup.events();
  const failed = r.exitCode !== 0 || r.signal !== null;
  if (oom || after.oomKills > before.oomKills)
    r.limit = `the sandbox exceeded its memory limit of ${formatBytes(cgroup.limits.memoryBytes)} (all its processes were killed)`;
  else if (failed && after.pidsMax > before.pidsMax)
    r.limit = `the sandbox reached its limit of ${cgroup.limits.pids} processes and threads (new ones failed to start)`;
  return r;
}

export function createBwrapSandbox(workspace: string, limits: SandboxLimits = DEFAULT_LIMITS): Sandbox {
  const cgroup = sandboxCgroup("bwrap", limits);
  const etcDir = writeSandboxEtc();
  // Only a process that is still root gets here with a user to switch to: the app in in-process
  // mode (and tests). A runner process has already become that user (runner/main.ts, startUp), so
  // its commands run as itself and its workspace needs no owner set.
  const drop = process.getuid?.() === 0 ? ROOT_DROP_OWNER : undefined;
  return {
    backend: "bwrap",
    workspace,
    fileOwner: drop,
    exec(argv, opts: ExecOptions) {
      const env = baseEnv(opts.env);
      const args = bwrapArgs({ workspace, etcDir, cwd: opts.cwd, limits, env, seccompFd: SECCOMP_FD }, argv);
      const [file, ...rest] = [...joinArgs(cgroup), "bwrap", ...args];
      return runInCgroup(cgroup, workspace, () =>
        runProcess(file!, rest, {
          cwd: "/",
          env: { PATH: "/usr/bin:/bin" },
          timeoutMs: opts.timeoutMs,
          signal: opts.signal,
          maxOutputBytes: opts.maxOutputBytes,
          stdin: opts.stdin,
          onOutput: opts.onOutput,
          uid: drop?.uid,
          gid: drop?.gid,
          extraInputs: [seccompFilter()],
        }),
      );
    },
    async dispose() {
      fs.rmSync(etcDir, { recursive: true, force: true });
      await cgroup.remove();
    },
  };
}
