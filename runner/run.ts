/**
 * Running one assignment from start to end, in whichever process hosts it (a runner process or
 * the app itself): events client, workspace, sandbox, the workload, exactly one terminal event
 * (`done` or `error`), cleanup, and an exit code (ExitCode in the wire protocol).
 */

import fs from "node:fs";
import type Anthropic from "@anthropic-ai/sdk";
import type { Logger } from "pino";
import { type Assignment, ExitCode } from "../app/wire/protocol";
import { type AgentOutcome, runAgent } from "./agent";
import { type CallbackError, EventClient, type EventClientOptions } from "./events";
import { type PlanOutcome, runWorkflow } from "./plan";
import {
  acquireWorkspaceVolume,
  type ResolvedSandbox,
  resolveSandbox,
  type Sandbox,
  type SandboxChoice,
  type WorkspaceVolume,
} from "./sandbox/index";
import { createWorkspace, fillWorkspace, type Workspace, WorkspaceError } from "./workspace";

export interface RunOptions {
  readonly log: Pick<Logger, "info" | "warn" | "error" | "debug">;
  /** Aborting it stops the workload (executor abort, SIGTERM). */
  readonly signal?: AbortSignal;
  /** A choice to resolve, or one resolved (or being resolved) ahead of the run. */
  readonly sandbox?: SandboxChoice | ResolvedSandbox | Promise<ResolvedSandbox>;
  readonly workspaceBaseDir?: string;
  readonly events?: Partial<EventClientOptions>;
  readonly client?: Anthropic;
}

type Outcome = AgentOutcome | PlanOutcome | { kind: "timeout"; usage?: AgentOutcome["usage"] };

export async function runAssignment(assignment: Assignment, opts: RunOptions): Promise<number> {
  const { workload } = assignment;
  const log = opts.log;
  const events = new EventClient({
    url: assignment.callback_url,
    abortUrl: assignment.abort_url,
    token: assignment.token,
    log,
    ...opts.events,
  });
  const wall = AbortSignal.timeout(workload.limits.wall_time_ms);
  const signal = AbortSignal.any([events.signal, wall, ...(opts.signal ? [opts.signal] : [])]);

  let outcome: Outcome;
  let workspace: Workspace | undefined;
  let volume: WorkspaceVolume | undefined;
  let sandbox: Sandbox | undefined;
  try {
    const choice = opts.sandbox ?? "auto";
    const resolved = typeof choice === "string" ? await resolveSandbox(choice) : await choice;
    for (const note of resolved.notes) {
      log.warn(note);
      events.emit("log", { stream: "system", text: note });
    }
    // The workspace goes in a volume of the workspace size limit where one can be had (sandbox/volume.ts).
    volume = await acquireWorkspaceVolume(resolved.limits);
    workspace = await createWorkspace(volume?.dir ?? opts.workspaceBaseDir);
    sandbox = resolved.create(workspace.dir);
    // fileOwner is set only where this process is root (the app in in-process mode): a runner
    // process has dropped to the sandbox's user before it got here (main.ts, startUp).
    await fillWorkspace(workspace.dir, assignment, { signal, owner: sandbox.fileOwner });
    const tools = { root: await fs.promises.realpath(workspace.dir), sandbox, signal };
    outcome =
      workload.type === "agent"
        ? await runAgent({ workload, events, tools, signal, client: opts.client })
        : await runWorkflow({ workload, events, tools, signal, client: opts.client });
  } catch (err) {
    const e = err as Error;
    outcome = signal.aborted
      ? { kind: "aborted", usage: { input_tokens: 0, output_tokens: 0 } }
      : {
          kind: "error",
          code:
            err instanceof WorkspaceError
              ? "workspace"
              : e.name === "SandboxUnavailableError"
                ? "sandbox"
                : "runner",
          message: e.message,
          usage: { input_tokens: 0, output_tokens: 0 },
        };
    if (!signal.aborted) log.error({ err: e.message }, "workload failed");
  } finally {
    await sandbox?.dispose().catch(() => {});
    await workspace?.cleanup().catch(() => {});
    await volume?.release().catch(() => {});
  }
  if (outcome.kind === "aborted" && wall.aborted && !opts.signal?.aborted)
    outcome = { kind: "timeout", usage: outcome.usage };

  if (events.failed) {
    log.error({ err: events.failed.message }, "cannot report to the app; stopping");
    return ExitCode.callbackUnreachable;
  }
  const code = emitTerminal(events, outcome);
  try {
    await events.close();
  } catch (err) {
    log.error({ err: (err as CallbackError).message }, "could not deliver the final events");
    return ExitCode.callbackUnreachable;
  }
  return code;
}

/** The one terminal event of the workload, and the exit code that goes with it. */
function emitTerminal(events: EventClient, outcome: Outcome): number {
  switch (outcome.kind) {
    case "done":
      if ("outputs" in outcome) {
        // A workflow: completed or failed, with its outputs (the run's failure is not the runner's).
        const { reason, usage, outputs, message } = outcome;
        events.emit("done", { reason, usage, outputs, ...(message === undefined ? {} : { message }) });
      } else {
        events.emit("done", {
          reason: outcome.reason,
          usage: outcome.usage,
          stop_reason: outcome.stopReason,
        });
      }
      return ExitCode.ok;
    case "aborted":
      events.emit("done", { reason: "aborted", usage: outcome.usage });
      return ExitCode.aborted;
    case "timeout":
      events.emit("done", { reason: "timeout", usage: outcome.usage });
      return ExitCode.timeout;
    case "error":
      events.emit("error", { message: outcome.message, code: outcome.code });
      return ExitCode.failed;
  }
}
