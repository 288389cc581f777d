/**
 * The local executor (the default of `plue dev`): each workload runs in its own runner child
 * process, at most PLUE_RUNNER_CONCURRENCY at once. The assignment goes in on stdin, so the task
 * token appears in no argv or environment; the runner's log lines come back into the app's log.
 * Abort sends SIGTERM (the runner ends with `done: aborted`), then SIGKILL after a grace.
 *
 * Each runner is a process group of its own, titled `plue-runner:<instance>:<n>` (instance.ts),
 * with its own directory `plue-run-<instance>-<n>` under PLUE_WORKSPACE (or the temp dir) as its
 * workspace base and TMPDIR; the directory goes when the runner exits. A runner exits by itself
 * when this process dies (PLUE_LIFELINE=ppid:…); one stuck past that is killed, and its directory
 * removed, by the next server's recovery (recovery.ts). Past its deadline a runner is stopped
 * from here (slots.ts), SIGKILL reaching every process it started.
 *
 * From the bundle the runner is the `dist/runner.js` next to the app's own bundle; from a checkout
 * it is bundled from source at start, so a stale build is never picked by accident. One runner is
 * kept started ahead of need, so a run does not wait for Node to load the runner's modules.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { resolveSandbox, type SandboxChoice } from "../../../runner/sandbox/index";
import type { Logger } from "../../log";
import { type Assignment, ExitCode } from "../../wire/protocol";
import { RUNNER_ENV } from "../../wire/runner-env";
import type { ExecutorHooks, ExitInfo } from "../executor";
import { killTree, makeRunnerDir, removeRunnerDir, runnerTitleArg, thisInstance } from "../instance";
import { type Running, SlotExecutor } from "./slots";

export interface LocalExecutorOptions {
  readonly concurrency: number;
  /** PLUE_SANDBOX; `auto` is resolved once and the result passed to every runner. */
  readonly sandbox: SandboxChoice;
  /** Extra environment for the runners (tests point ANTHROPIC_BASE_URL at a fake model). */
  readonly env?: Readonly<Record<string, string>>;
  readonly killGraceMs?: number;
  /** Keep one runner started ahead of need (default true): a run then skips Node's start-up. */
  readonly prewarm?: boolean;
  /** See SlotOptions. */
  readonly wallTimeGraceMs?: number;
  /** Another runner program (tests: a runner that hangs); a Node script, run like the real one. */
  readonly command?: RunnerCommand;
}

export interface RunnerCommand {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd: string;
}

/** Server secrets a runner has no use for: they stay out of its environment. */
export const WITHHELD_ENV = [
  "DATABASE_URL",
  "PLUE_POOL_SECRET",
  "PLUE_WEBHOOK_SECRET",
  "PLUE_TEST_POSTGRES_URL",
];

const EXIT_MEANINGS: Record<number, string> = {
  [ExitCode.ok]: "completed",
  [ExitCode.failed]: "failed",
  [ExitCode.badAssignment]: "rejected its assignment",
  [ExitCode.aborted]: "aborted",
  [ExitCode.timeout]: "ran out of wall time",
  [ExitCode.callbackUnreachable]: "could not reach the app's event callback",
};

export function describeExit(code: number | null, signal: string | null, stopped: boolean): string {
  if (signal) return `runner was killed by ${signal}${stopped ? " after an abort" : ""}`;
  return `runner exited with code ${code}: ${EXIT_MEANINGS[code ?? -1] ?? "unknown exit code"}`;
}

/** How to start a runner: the `runner.js` beside this code when this is the bundle, else built from source. */
export async function runnerCommand(): Promise<RunnerCommand> {
  const here = fileURLToPath(import.meta.url);
  if (!here.endsWith(".ts")) {
    const bundled = path.join(path.dirname(here), "runner.js");
    if (!fs.existsSync(bundled)) throw new Error(`runner bundle missing: ${bundled} (run npm run build)`);
    return { file: process.execPath, args: [bundled], cwd: path.dirname(here) };
  }
  return {
    file: process.execPath,
    args: [await sourceBundle(path.resolve(path.dirname(here), "../../.."))],
    cwd: "/",
  };
}

let built: Promise<string> | undefined;
/**
 * From a checkout, the runner is bundled from source once per app process (esbuild, well under a
 * second) with its packages inlined: a runner then starts several times faster than through tsx
 * or from node_modules, and never from a stale build.
 */
function sourceBundle(root: string): Promise<string> {
  built ??= (async () => {
    const { build } = await import("esbuild");
    // Named for this process, so a later server removes it if this one is killed (recovery.ts).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `plue-bundle-${thisInstance}-`));
    const outfile = path.join(dir, "runner.mjs");
    await build({
      entryPoints: [path.join(root, "runner/main.ts")],
      outfile,
      bundle: true,
      platform: "node",
      target: "node20",
      format: "esm",
      logLevel: "error",
      banner: {
        js: "import { createRequire as __plueRequire } from 'node:module'; const require = __plueRequire(import.meta.url);",
      },
    });
    process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
    return outfile;
  })();
  return built;
}

export class LocalExecutor extends SlotExecutor {
  readonly name = "local" as const;
  /** Process ids of running runners, by workload (tests kill one to play a crash). */
  readonly pids = new Map<string, number>();
  private ready: Promise<void> | undefined;
  private command!: RunnerCommand;
  private env!: NodeJS.ProcessEnv;
  /** Where runner directories go: PLUE_WORKSPACE of the runners' environment, else the temp dir. */
  private base!: string;
  private seq = 0;
  /** A runner started ahead of need, its modules loaded, waiting for an assignment on stdin. */
  private spare: ChildProcess | undefined;
  private closing = false;

  constructor(
    hooks: ExecutorHooks,
    log: Logger,
    private readonly opts: LocalExecutorOptions,
  ) {
    super(hooks, log, opts);
  }

  /**
   * Gets ready to start runners without delay: builds the runner, resolves the sandbox and starts
   * a spare runner. The first dispatch does it if nobody called it earlier (`plue dev` calls it at
   * start; tests and short-lived servers skip the cost until a workload arrives).
   */
  warmUp(): Promise<void> {
    this.ready ??= this.prepare().catch((err) => {
      this.ready = undefined; // the next dispatch tries again
      throw err;
    });
    return this.ready;
  }

  /**
   * Finds the runner command and resolves `auto` once here rather than in every runner: a
   * backend's self-test (gVisor takes most of a second) would otherwise delay each workload.
   * When no sandbox works, the choice passes through and each runner reports why.
   */
  private async prepare(): Promise<void> {
    const [command, backend] = await Promise.all([
      this.opts.command ?? runnerCommand(),
      resolveSandbox(this.opts.sandbox).then(
        (r) => {
          for (const note of r.notes) this.log.warn(note);
          return r.backend;
        },
        () => this.opts.sandbox,
      ),
    ]);
    this.command = command;
    this.env = {
      ...process.env,
      ...this.opts.env,
      [RUNNER_ENV.sandbox]: backend,
      [RUNNER_ENV.lifeline]: `ppid:${process.pid}`,
    };
    for (const name of WITHHELD_ENV) delete this.env[name];
    this.base = this.env[RUNNER_ENV.workspace] ?? os.tmpdir();
    this.refillSpare();
  }

  override async dispatch(assignment: Assignment): Promise<void> {
    await this.warmUp();
    return super.dispatch(assignment);
  }

  override async close(): Promise<void> {
    this.closing = true;
    this.spare?.kill("SIGKILL");
    this.spare = undefined;
    await super.close();
  }

  private spawnRunner(): ChildProcess {
    const n = ++this.seq;
    const dir = makeRunnerDir(this.base, n);
    const child = spawn(this.command.file, [runnerTitleArg(n), ...this.command.args], {
      cwd: this.command.cwd,
      env: { ...this.env, PLUE_WORKSPACE: dir, TMPDIR: dir },
      stdio: "pipe",
      detached: true, // its own process group: a signal to it reaches its helpers, not the app
    });
    child.stdin!.on("error", () => {}); // a runner that died before reading is reported by its exit
    const removeDir = () => removeRunnerDir(dir, this.log);
    child.once("exit", removeDir);
    child.once("error", removeDir);
    return child;
  }

  private refillSpare(): void {
    if (this.opts.prewarm === false || this.closing) return;
    const spare = this.spawnRunner();
    spare.once("exit", () => {
      if (this.spare === spare) this.spare = undefined;
    });
    this.spare = spare;
  }

  protected start(assignment: Assignment): Running {
    const id = assignment.workload.id;
    const warm = this.spare && this.spare.exitCode === null && this.spare.signalCode === null;
    const child = warm ? this.spare! : this.spawnRunner();
    this.spare = undefined;
    setImmediate(() => this.refillSpare());
    if (child.pid !== undefined) this.pids.set(id, child.pid);
    child.stdin!.end(JSON.stringify(assignment));
    const log = this.log.child({ workload: id, runner: child.pid });
    forwardLines(child.stdout!, log);
    forwardLines(child.stderr!, log);

    let stopped = false;
    const exited = new Promise<ExitInfo>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolve({
          code: child.exitCode,
          signal: child.signalCode,
          reason: describeExit(child.exitCode, child.signalCode, false),
        });
      }
      child.once("error", (err) => resolve({ code: null, reason: `runner could not start: ${err.message}` }));
      child.once("exit", (code, signal) =>
        resolve({ code, signal, reason: describeExit(code, signal, stopped) }),
      );
    }).finally(() => this.pids.delete(id));
    return {
      stop: () => {
        stopped = true;
        signalGroup(child, "SIGTERM");
      },
      kill: () => {
        if (child.pid !== undefined && child.exitCode === null && child.signalCode === null)
          killTree(child.pid);
      },
      exited,
    };
  }
}

/** Signals a runner's process group (it leads one: spawned detached), or the runner if that fails. */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

/** Runner logs are pino JSON lines; they keep their level in the app's log. */
export function forwardLines(stream: NodeJS.ReadableStream, log: Logger): void {
  const levels: Record<number, "debug" | "info" | "warn" | "error"> = {
    20: "debug",
    30: "info",
    40: "warn",
    50: "error",
    60: "error",
  };
  createInterface({ input: stream }).on("line", (line) => {
    try {
      const { level, msg, time: _t, pid: _p, hostname: _h, service: _s, ...rest } = JSON.parse(line);
      log[levels[level as number] ?? "info"](rest, msg ?? "runner");
    } catch {
      if (line.trim()) log.info({ line }, "runner output");
    }
  });
}
