/**
 * The local standby runners, the warm pool on one machine (`RUNNER_MODE=local PLUE_WARM_POOL=N`):
 * N standby runner processes that use exactly the Kubernetes pods' protocol — register with the
 * pool secret, long-poll, run one workload, exit — so the claim path runs for real on one machine.
 * A claimed runner is replaced at once; a cold start is one more process started for one workload
 * (`PLUE_TASK_ID`).
 *
 * At most PLUE_RUNNER_CONCURRENCY runners work at once (claimed or cold) besides the N standing
 * by. Runners get the pool secret but none of the server's other secrets, and exit when this
 * process goes away (their stdin is a lifeline). Like the local executor's (local.ts), each is a
 * titled process group with its own directory, and stopping one SIGKILLs everything it started.
 * Pod names are `local-<instance>-…`, so recovery knows whose runners a dead server left.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import os from "node:os";
import { resolveSandbox, type SandboxChoice } from "../../../runner/sandbox/index";
import type { Logger } from "../../log";
import type { Assignment } from "../../wire/protocol";
import { RUNNER_ENV } from "../../wire/runner-env";
import type { ClaimEvent, ExitInfo, ExitReport, RunnerBackend, RunnerRef } from "../executor";
import { killTree, makeRunnerDir, removeRunnerDir, runnerTitleArg, thisInstance } from "../instance";
import {
  describeExit,
  forwardLines,
  type RunnerCommand,
  runnerCommand,
  signalGroup,
  WITHHELD_ENV,
} from "./local";

/** Pod names of local pool runners: `local-<instance>-…` (instance.ts). */
export const LOCAL_POD_PREFIX = "local-";

export interface LocalStandbyRunnersOptions {
  /** Standby runners kept ready (PLUE_WARM_POOL). */
  readonly size: number;
  /** Runners working at once, claimed or cold (PLUE_RUNNER_CONCURRENCY). */
  readonly concurrency: number;
  readonly sandbox: SandboxChoice;
  /** The pool secret runners register with. */
  readonly secret: string;
  /** The app's URL as runners reach it (known only once the server listens). */
  readonly appUrl: () => string;
  /** Extra environment for the runners (tests point ANTHROPIC_BASE_URL at a fake model). */
  readonly env?: Readonly<Record<string, string>>;
  readonly killGraceMs?: number;
}

interface LocalRunner {
  readonly child: ChildProcess;
  readonly pod: string;
  state: "standby" | "working";
  workload?: string;
  readonly startedAt: number;
  stopping: boolean;
  readonly exited: Promise<void>;
}

export class LocalStandbyRunners implements RunnerBackend {
  readonly kind = "local" as const;
  private readonly runners = new Map<string, LocalRunner>();
  private readonly reports = new Set<Promise<void>>();
  private exitedReport?: ExitReport;
  private command!: RunnerCommand;
  private env!: NodeJS.ProcessEnv;
  private base!: string;
  private seq = 0;
  private readonly prefix = `${LOCAL_POD_PREFIX}${thisInstance}-${randomBytes(3).toString("hex")}`;
  /** Standby runners that died young in a row: refills back off so a broken setup does not spin. */
  private failures = 0;
  private refillTimer?: NodeJS.Timeout;
  private closing = false;

  constructor(
    private readonly log: Logger,
    private readonly opts: LocalStandbyRunnersOptions,
  ) {}

  async start(exited: ExitReport): Promise<void> {
    const [command, backend] = await Promise.all([
      runnerCommand(),
      resolveSandbox(this.opts.sandbox).then(
        (r) => {
          for (const note of r.notes) this.log.warn(note);
          return r.backend;
        },
        () => this.opts.sandbox, // each runner reports why
      ),
    ]);
    this.command = command;
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.opts.env };
    for (const name of WITHHELD_ENV) delete env[name];
    this.base = env.PLUE_WORKSPACE ?? os.tmpdir();
    this.env = {
      ...env,
      [RUNNER_ENV.sandbox]: backend,
      [RUNNER_ENV.mode]: "standby",
      [RUNNER_ENV.poolSecret]: this.opts.secret,
      [RUNNER_ENV.lifeline]: "stdin",
    };
    this.exitedReport = exited;
    this.fill();
  }

  /** Runners standing by, and working. */
  get counts(): { standby: number; working: number } {
    let standby = 0;
    for (const r of this.runners.values()) if (r.state === "standby") standby++;
    return { standby, working: this.runners.size - standby };
  }

  /** The process id of the runner working on a workload (tests kill it to play a crash). */
  pidFor(workloadId: string): number | undefined {
    for (const r of this.runners.values()) if (r.workload === workloadId) return r.child.pid;
    return undefined;
  }

  canColdStart(): boolean {
    return !this.closing && this.exitedReport !== undefined && this.counts.working < this.opts.concurrency;
  }

  async coldStart(assignment: Assignment): Promise<void> {
    const r = this.spawn("working", assignment.workload.id);
    r.workload = assignment.workload.id;
  }

  claimed(e: ClaimEvent): void {
    const r = this.runners.get(e.pod);
    if (!r) return; // another replica's runner
    r.state = "working";
    r.workload = e.task;
    this.fill();
  }

  async stop(ref: RunnerRef): Promise<void> {
    const r = this.runners.get(ref.podName);
    if (!r) return;
    r.stopping = true;
    signalGroup(r.child, "SIGTERM");
    const grace = setTimeout(() => {
      if (r.child.pid !== undefined && r.child.exitCode === null && r.child.signalCode === null)
        killTree(r.child.pid);
    }, this.opts.killGraceMs ?? 5000);
    grace.unref();
    await r.exited;
    clearTimeout(grace);
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.refillTimer);
    await Promise.all([...this.runners.values()].map((r) => this.stop({ podName: r.pod } as RunnerRef)));
    await Promise.all([...this.reports]);
  }

  private fill(): void {
    if (this.closing || !this.exitedReport || this.refillTimer) return;
    let { standby, working } = this.counts;
    while (standby < this.opts.size && standby + working < this.opts.size + this.opts.concurrency) {
      this.spawn("standby");
      standby++;
    }
  }

  private spawn(state: LocalRunner["state"], taskId?: string): LocalRunner {
    const n = ++this.seq;
    const pod = `${this.prefix}-${n}`;
    const dir = makeRunnerDir(this.base, `${this.prefix.slice(-6)}-${n}`);
    const child = spawn(this.command.file, [runnerTitleArg(pod), ...this.command.args], {
      cwd: this.command.cwd,
      env: {
        ...this.env,
        [RUNNER_ENV.appUrl]: this.opts.appUrl(),
        [RUNNER_ENV.podName]: pod,
        ...(taskId ? { [RUNNER_ENV.taskId]: taskId } : {}),
        PLUE_WORKSPACE: dir,
        TMPDIR: dir,
      },
      stdio: "pipe",
      detached: true, // its own process group (local.ts)
    });
    child.stdin!.on("error", () => {}); // kept open: it is the runner's lifeline
    const removeDir = () => removeRunnerDir(dir, this.log);
    child.once("exit", removeDir);
    child.once("error", removeDir);
    const log = this.log.child({ runner: pod });
    forwardLines(child.stdout!, log);
    forwardLines(child.stderr!, log);
    let done!: () => void;
    const runner: LocalRunner = {
      child,
      pod,
      state,
      startedAt: Date.now(),
      stopping: false,
      exited: new Promise<void>((resolve) => (done = resolve)),
    };
    const ended = (exit: ExitInfo) => {
      if (!this.runners.has(pod)) return;
      this.runners.delete(pod);
      done();
      this.report(pod, exit);
      this.afterExit(runner, exit);
    };
    child.once("error", (err) => ended({ code: null, reason: `runner could not start: ${err.message}` }));
    child.once("exit", (code, signal) =>
      ended({ code, signal, reason: describeExit(code, signal, runner.stopping) }),
    );
    this.runners.set(pod, runner);
    return runner;
  }

  private report(pod: string, exit: ExitInfo): void {
    const p = this.exitedReport!({ pod }, exit).finally(() => this.reports.delete(p));
    this.reports.add(p);
  }

  private afterExit(runner: LocalRunner, exit: ExitInfo): void {
    if (this.closing) return;
    const diedYoung =
      runner.state === "standby" && !runner.stopping && Date.now() - runner.startedAt < 10_000;
    if (!diedYoung) {
      this.failures = 0;
      this.fill();
      return;
    }
    this.failures++;
    const delay = Math.min(30_000, 250 * 2 ** this.failures);
    this.log.warn(
      { runner: runner.pod, reason: exit.reason, retryInMs: delay },
      "a standby runner exited early",
    );
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined;
      this.fill();
    }, delay);
    this.refillTimer.unref();
  }
}
