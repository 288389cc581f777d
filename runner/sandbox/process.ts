/**
 * Running one child process with the guarantees every sandbox backend needs: a wall-clock
 * timeout and an abort that kill the whole process group, and output kept within a byte cap
 * (head and tail, since the end of a build log is where the error is).
 */
import { spawn } from "node:child_process";

export interface ProcessOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** Bytes kept per stream; the middle of longer output is dropped with a note. */
  readonly maxOutputBytes?: number;
  readonly stdin?: string;
  /** Host uid/gid to run as (a root runner drops to an unprivileged user for its sandboxes). */
  readonly uid?: number;
  readonly gid?: number;
  /** Sees every chunk of output as it arrives (live logs); the result still holds the capped text. */
  readonly onOutput?: (stream: "stdout" | "stderr", chunk: Buffer) => void;
  /**
   * Data the child reads from file descriptors 3, 4, …, each a pipe written and closed at once
   * (bwrap's `--seccomp 3` reads its filter this way).
   */
  readonly extraInputs?: readonly Buffer[];
}

export interface ProcessResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  aborted: boolean;
  /** Some output was dropped to stay within maxOutputBytes. */
  truncated: boolean;
  durationMs: number;
  /** Set by a sandbox when a whole-sandbox limit ended or broke the command: which one, in words. */
  limit?: string;
}

export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

/** Keeps the first and last `cap / 2` bytes of a stream and counts what it dropped between them. */
export class HeadTail {
  private head: Buffer[] = [];
  private headLen = 0;
  private tail: Buffer = Buffer.alloc(0);
  private dropped = 0;
  constructor(private readonly cap: number) {}

  push(chunk: Buffer): void {
    const half = Math.floor(this.cap / 2);
    if (this.headLen < half) {
      const take = chunk.subarray(0, half - this.headLen);
      this.head.push(take);
      this.headLen += take.length;
      chunk = chunk.subarray(take.length);
    }
    if (chunk.length === 0) return;
    const joined = Buffer.concat([this.tail, chunk]);
    const keep = this.cap - half;
    if (joined.length > keep) this.dropped += joined.length - keep;
    this.tail = joined.subarray(Math.max(0, joined.length - keep));
  }

  get truncated(): boolean {
    return this.dropped > 0;
  }

  toString(): string {
    const head = Buffer.concat(this.head).toString("utf8");
    const tail = this.tail.toString("utf8");
    return this.dropped > 0 ? `${head}\n[truncated ${this.dropped} bytes]\n${tail}` : head + tail;
  }
}

/** Spawns `file args` in its own process group and resolves when it has exited and its pipes closed. */
export function runProcess(
  file: string,
  args: readonly string[],
  opts: ProcessOptions,
): Promise<ProcessResult> {
  const started = performance.now();
  const cap = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const stdout = new HeadTail(cap);
  const stderr = new HeadTail(cap);
  return new Promise((resolve) => {
    let timedOut = false;
    let aborted = false;
    let spawnError: Error | undefined;
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env ?? {},
      detached: true, // its own process group, so one kill reaches every descendant
      stdio: ["pipe", "pipe", "pipe", ...(opts.extraInputs ?? []).map(() => "pipe" as const)],
      uid: opts.uid,
      gid: opts.gid,
    });
    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL"); // the group is already gone; make sure the leader is too
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, opts.timeoutMs);
    const onAbort = () => {
      aborted = true;
      killGroup();
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener("abort", onAbort, { once: true });

    child.stdout.on("data", (c: Buffer) => {
      stdout.push(c);
      opts.onOutput?.("stdout", c);
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr.push(c);
      opts.onOutput?.("stderr", c);
    });
    child.stdin.on("error", () => {}); // a command that never reads its input is not an error
    child.stdin.end(opts.stdin ?? "");
    (opts.extraInputs ?? []).forEach((data, i) => {
      const fd = child.stdio[3 + i] as NodeJS.WritableStream & { on(e: "error", f: () => void): void };
      fd?.on("error", () => {}); // a child that fails before reading reports that itself
      fd?.end(data);
    });
    child.on("error", (err) => {
      spawnError = err;
      if (child.pid === undefined) finish(null, null); // never started: no close will follow
    });
    // A descendant that left the group could hold the pipes open; after the exit, give the
    // pipes a moment and then stop waiting for them.
    let pipeGrace: NodeJS.Timeout | undefined;
    child.on("exit", () => {
      pipeGrace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, 1000);
    });
    let finished = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearTimeout(pipeGrace);
      opts.signal?.removeEventListener("abort", onAbort);
      if (spawnError) stderr.push(Buffer.from(`cannot start ${file}: ${spawnError.message}\n`));
      resolve({
        exitCode: spawnError ? 127 : code,
        signal,
        stdout: stdout.toString(),
        stderr: stderr.toString(),
        timedOut,
        aborted,
        truncated: stdout.truncated || stderr.truncated,
        durationMs: Math.round(performance.now() - started),
      });
    };
    child.on("close", finish);
  });
}

/** Whether a process with this pid exists (EPERM: it does, as another user's). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
