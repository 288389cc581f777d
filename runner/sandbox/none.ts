/**
 * No sandbox: commands run as the runner's user in the workspace, with rlimits and the
 * wall-clock timeout but no isolation. Only for when something else is the sandbox (a gVisor
 * pod), and only when asked for by name.
 */

import path from "node:path";
import { nameWorkspaceLimit, prlimitArgs } from "./bwrap";
import { runProcess } from "./process";
import { baseEnv, DEFAULT_LIMITS, type ExecOptions, type Sandbox, type SandboxLimits } from "./types";

export function createNoSandbox(workspace: string, limits: SandboxLimits = DEFAULT_LIMITS): Sandbox {
  return {
    backend: "none",
    workspace,
    async exec(argv, opts: ExecOptions) {
      const [file, ...args] = [...prlimitArgs(limits), ...argv];
      const r = await runProcess(file!, args, {
        cwd: path.join(workspace, opts.cwd ?? "."),
        env: baseEnv({ HOME: workspace, ...opts.env }),
        timeoutMs: opts.timeoutMs,
        signal: opts.signal,
        maxOutputBytes: opts.maxOutputBytes,
        stdin: opts.stdin,
        onOutput: opts.onOutput,
      });
      nameWorkspaceLimit(r, workspace);
      return r;
    },
    async dispose() {},
  };
}
