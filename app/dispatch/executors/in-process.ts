/**
 * The in-process executor (`RUNNER_MODE=in-process`, the migration plan's rollback switch): the
 * runner's own code runs inside the app process, still reporting through the events callback
 * and still running every tool command in the sandbox. Abort goes through an AbortController.
 */
import { runAssignment } from "../../../runner/run";
import type { SandboxChoice } from "../../../runner/sandbox/index";
import type { Logger } from "../../log";
import { type Assignment, ExitCode } from "../../wire/protocol";
import type { ExecutorHooks } from "../executor";
import { describeExit } from "./local";
import { type Running, SlotExecutor } from "./slots";

export interface InProcessExecutorOptions {
  readonly concurrency: number;
  readonly sandbox: SandboxChoice;
}

export class InProcessExecutor extends SlotExecutor {
  readonly name = "in-process" as const;

  constructor(
    hooks: ExecutorHooks,
    log: Logger,
    private readonly opts: InProcessExecutorOptions,
  ) {
    super(hooks, log, opts);
  }

  protected start(assignment: Assignment): Running {
    const controller = new AbortController();
    const log = this.log.child({ workload: assignment.workload.id, runner: "in-process" });
    const exited = runAssignment(assignment, {
      log,
      signal: controller.signal,
      sandbox: this.opts.sandbox,
    }).then(
      (code) => ({ code, reason: describeExit(code, null, controller.signal.aborted) }),
      (err: Error) => ({ code: ExitCode.failed, reason: `runner failed: ${err.message}` }),
    );
    return { stop: () => controller.abort(new Error("aborted by the executor")), exited };
  }
}
