/** What every sandbox backend offers the tools: run a command over the workspace, confined. */
import type { ProcessResult } from "./process";

export type SandboxBackend = "bwrap" | "gvisor" | "none";
export type SandboxChoice = "auto" | SandboxBackend;

/**
 * Resource limits. Per process: rlimits (bwrap, none) or OCI rlimits (gvisor). Per sandbox, all
 * its processes together: a cgroup (bwrap, gvisor), the pod's resources on Kubernetes
 * (constructs/k8s/runner-pod.ts maps them), and the workspace volume.
 */
export interface SandboxLimits {
  /** CPU seconds per process (RLIMIT_CPU). */
  readonly cpuSeconds: number;
  /** Address space per process in bytes (RLIMIT_AS); gVisor uses it as the memory limit. */
  readonly memoryBytes: number;
  /** Processes of the sandbox user (RLIMIT_NPROC; pids limit in gVisor). */
  readonly processes: number;
  /** Largest file a command may write, in bytes (RLIMIT_FSIZE). */
  readonly fileSizeBytes: number;
  /** Size of the private /tmp. */
  readonly tmpBytes: number;
  /** Memory of the whole sandbox, page cache included, without swap (memory.max). */
  readonly sandboxMemoryBytes: number;
  /** Processes and threads of the whole sandbox (pids.max). */
  readonly sandboxPids: number;
  /** CPU bandwidth of the whole sandbox, in CPUs (cpu.max). */
  readonly sandboxCpus: number;
  /** Size of the workspace filesystem (a loop-mounted ext4 volume; the pod's emptyDir sizeLimit). */
  readonly workspaceBytes: number;
}

export const DEFAULT_LIMITS: SandboxLimits = {
  cpuSeconds: 600,
  memoryBytes: 4 * 1024 ** 3,
  processes: 512,
  fileSizeBytes: 1024 ** 3,
  tmpBytes: 512 * 1024 ** 2,
  sandboxMemoryBytes: 4 * 1024 ** 3,
  sandboxPids: 512,
  sandboxCpus: 2,
  workspaceBytes: 8 * 1024 ** 3,
};

/** 268435456 → "256 MiB", for messages that name a limit. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ] as const) {
    if (n >= size) return `${Number((n / size).toFixed(1))} ${unit}`;
  }
  return `${n} bytes`;
}

/** Where the workspace appears inside the sandbox; tools speak of paths relative to it. */
export const SANDBOX_WORKDIR = "/workspace";
/** The unprivileged user commands run as inside the sandbox. */
export const SANDBOX_UID = 1000;

export interface ExecOptions {
  /** Wall-clock limit; the whole process tree is killed when it passes. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** Working directory relative to the workspace root. */
  readonly cwd?: string;
  readonly maxOutputBytes?: number;
  readonly stdin?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Live output, chunk by chunk (workflow logs); see ProcessOptions.onOutput. */
  readonly onOutput?: (stream: "stdout" | "stderr", chunk: Buffer) => void;
}

export type ExecResult = ProcessResult;

export interface Sandbox {
  readonly backend: SandboxBackend;
  /** The workspace on the host. */
  readonly workspace: string;
  /**
   * Host owner that files in the workspace must have for the sandbox to write them, when it
   * differs from the runner's own user (a root runner drops to an unprivileged user).
   */
  readonly fileOwner?: { readonly uid: number; readonly gid: number };
  exec(argv: readonly string[], opts: ExecOptions): Promise<ExecResult>;
  /** Removes what the sandbox created outside the workspace. */
  dispose(): Promise<void>;
}

/** The environment every command starts from: nothing of the runner's leaks in. */
export function baseEnv(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return {
    PATH: "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
    HOME: "/tmp",
    LANG: "C.UTF-8",
    TERM: "dumb",
    USER: "plue",
    ...extra,
  };
}

export class SandboxUnavailableError extends Error {
  constructor(
    readonly backend: SandboxBackend,
    message: string,
  ) {
    super(`sandbox ${backend} is not usable: ${message}`);
    this.name = "SandboxUnavailableError";
  }
}
