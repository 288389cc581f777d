/**
 * gVisor: `runsc run` with a generated OCI bundle per command: a read-only root made of the
 * system directories, the workspace bind-mounted read-write at /workspace, a tmpfs /tmp, uid
 * 1000 with no capabilities, rlimits plus memory and pids limits, and `--network=none`.
 * In a GKE gVisor pod the pod itself is the sandbox and the runner uses `none` instead.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runInCgroup, sandboxCgroup, writeSandboxEtc } from "./bwrap";
import { joinArgs } from "./cgroup";
import { runProcess } from "./process";
import {
  baseEnv,
  DEFAULT_LIMITS,
  type ExecOptions,
  SANDBOX_UID,
  SANDBOX_WORKDIR,
  type Sandbox,
  type SandboxLimits,
} from "./types";

const SYSTEM_LINKS = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
const ETC_ENTRIES = [
  "alternatives",
  "ld.so.cache",
  "ld.so.conf",
  "ld.so.conf.d",
  "localtime",
  "ssl",
  "ca-certificates",
];

interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export interface OciSpecInput {
  readonly workspace: string;
  readonly etcDir: string;
  readonly cwd?: string;
  readonly limits: SandboxLimits;
  readonly env: Readonly<Record<string, string>>;
}

/** The OCI runtime spec of one command; pure, so tests can check every setting. */
export function ociSpec(input: OciSpecInput, argv: readonly string[]): Record<string, unknown> {
  const { limits } = input;
  const ro = (p: string, dest = p): OciMount => ({
    destination: dest,
    type: "bind",
    source: p,
    options: ["rbind", "ro"],
  });
  const mounts: OciMount[] = [
    { destination: "/proc", type: "proc", source: "proc" },
    ro("/usr"),
    {
      destination: "/tmp",
      type: "tmpfs",
      source: "tmpfs",
      options: [`size=${limits.tmpBytes}`, "nosuid", "nodev"],
    },
    { destination: SANDBOX_WORKDIR, type: "bind", source: input.workspace, options: ["rbind", "rw"] },
  ];
  for (const dir of SYSTEM_LINKS) {
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (st?.isDirectory() && !st.isSymbolicLink()) mounts.push(ro(dir));
  }
  for (const e of ETC_ENTRIES) if (fs.existsSync(`/etc/${e}`)) mounts.push(ro(`/etc/${e}`));
  for (const f of ["passwd", "group", "hosts"]) mounts.push(ro(path.join(input.etcDir, f), `/etc/${f}`));
  const rlimit = (type: string, value: number) => ({ type, hard: value, soft: value });
  return {
    ociVersion: "1.0.0",
    process: {
      terminal: false,
      user: { uid: SANDBOX_UID, gid: SANDBOX_UID },
      args: [...argv],
      env: Object.entries(input.env).map(([k, v]) => `${k}=${v}`),
      cwd: path.posix.join(SANDBOX_WORKDIR, input.cwd ?? "."),
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      noNewPrivileges: true,
      rlimits: [
        rlimit("RLIMIT_CPU", limits.cpuSeconds),
        rlimit("RLIMIT_AS", limits.memoryBytes),
        rlimit("RLIMIT_NPROC", limits.processes),
        rlimit("RLIMIT_FSIZE", limits.fileSizeBytes),
        rlimit("RLIMIT_CORE", 0),
      ],
    },
    root: { path: "rootfs", readonly: true },
    hostname: "sandbox",
    mounts,
    linux: {
      namespaces: ["pid", "network", "ipc", "uts", "mount"].map((type) => ({ type })),
      // The whole-sandbox limits; runsc itself also runs inside the sandbox's cgroup.
      resources: {
        memory: { limit: limits.sandboxMemoryBytes, swap: limits.sandboxMemoryBytes },
        pids: { limit: limits.sandboxPids },
        cpu: { quota: Math.round(limits.sandboxCpus * 100_000), period: 100_000 },
      },
    },
  };
}

/** An empty root holding only the symlinks of a merged-/usr system (/bin → usr/bin, …). */
function makeRootfs(bundle: string): void {
  const rootfs = path.join(bundle, "rootfs");
  fs.mkdirSync(rootfs, { recursive: true });
  for (const dir of [...SYSTEM_LINKS, "/etc", SANDBOX_WORKDIR, "/tmp", "/proc", "/usr", "/dev"]) {
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    const target = path.join(rootfs, dir);
    if (st?.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(dir), target);
    else fs.mkdirSync(target, { recursive: true });
  }
}

export function createGvisorSandbox(workspace: string, limits: SandboxLimits = DEFAULT_LIMITS): Sandbox {
  // runsc and its sentry run in the sandbox's cgroup (a root runsc is given --ignore-cgroups).
  const cgroup = sandboxCgroup("gvisor", limits);
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "plue-gvisor-"));
  const etcDir = writeSandboxEtc();
  const stateDir = path.join(base, "state");
  fs.mkdirSync(stateDir);
  const isRoot = process.getuid?.() === 0;
  return {
    backend: "gvisor",
    workspace,
    // Without a user namespace, files must belong to the sandbox uid itself to be writable.
    fileOwner: isRoot ? { uid: SANDBOX_UID, gid: SANDBOX_UID } : undefined,
    async exec(argv, opts: ExecOptions) {
      const id = `plue-${randomBytes(6).toString("hex")}`;
      const bundle = path.join(base, id);
      makeRootfs(bundle);
      const spec = ociSpec({ workspace, etcDir, cwd: opts.cwd, limits, env: baseEnv(opts.env) }, argv);
      fs.writeFileSync(path.join(bundle, "config.json"), JSON.stringify(spec));
      const global = [
        "--root",
        stateDir,
        "--network=none",
        ...(isRoot ? ["--ignore-cgroups"] : ["--rootless"]),
      ];
      try {
        const [file, ...args] = [...joinArgs(cgroup), "runsc", ...global, "run", "--bundle", bundle, id];
        return await runInCgroup(cgroup, workspace, () =>
          runProcess(file!, args, {
            cwd: "/",
            env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
            timeoutMs: opts.timeoutMs,
            signal: opts.signal,
            maxOutputBytes: opts.maxOutputBytes,
            stdin: opts.stdin,
            onOutput: opts.onOutput,
          }),
        );
      } finally {
        // The sandbox processes are runsc's own children in their own sessions: delete by id.
        await runProcess("runsc", [...global, "delete", "--force", id], {
          cwd: "/",
          env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
          timeoutMs: 10_000,
        });
        fs.rmSync(bundle, { recursive: true, force: true });
      }
    },
    async dispose() {
      fs.rmSync(base, { recursive: true, force: true });
      fs.rmSync(etcDir, { recursive: true, force: true });
      await cgroup.remove();
    },
  };
}
