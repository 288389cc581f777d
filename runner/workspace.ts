/**
 * The directory a workload works in: for repo-bound work a clone of the repository at its
 * commit, over the app's smart HTTP with the task token as the Basic password; otherwise an
 * empty directory. The token travels in git's environment, never in argv or .git/config.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Assignment } from "../app/wire/protocol";
import { runProcess } from "./sandbox/process";

export interface Workspace {
  readonly dir: string;
  cleanup(): Promise<void>;
}

export class WorkspaceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WorkspaceError";
  }
}

const CLONE_TIMEOUT_MS = 10 * 60_000;

/** Git's environment for talking to the app: auth header by config-env, no prompts, no host config. */
export function gitAuthEnv(token: string): NodeJS.ProcessEnv {
  const basic = Buffer.from(`plue-runner:${token}`).toString("base64");
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: os.tmpdir(),
    GIT_TERMINAL_PROMPT: "0",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_CONFIG_COUNT: "1",
    GIT_CONFIG_KEY_0: "http.extraHeader",
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
  };
}

async function git(args: string[], token: string, signal?: AbortSignal, cwd?: string): Promise<void> {
  const r = await runProcess("git", args, {
    env: gitAuthEnv(token),
    cwd,
    timeoutMs: CLONE_TIMEOUT_MS,
    signal,
  });
  if (r.exitCode !== 0) {
    const why = r.timedOut
      ? "timed out"
      : r.aborted
        ? "aborted"
        : r.stderr.trim().split("\n").slice(-3).join(" | ");
    throw new WorkspaceError(`git ${args[0]} failed: ${why.replaceAll(token, "***")}`);
  }
}

export async function prepareWorkspace(
  assignment: Assignment,
  opts: { baseDir?: string; signal?: AbortSignal } = {},
): Promise<Workspace> {
  const dir = fs.mkdtempSync(path.join(opts.baseDir ?? os.tmpdir(), "plue-ws-"));
  const cleanup = async () => fs.rmSync(dir, { recursive: true, force: true });
  const repo = assignment.workload.repo;
  if (!repo) return { dir, cleanup };
  try {
    const url = new URL(repo.clone_url, assignment.app_url).toString();
    await git(["clone", "--quiet", url, dir], assignment.token, opts.signal);
    if (repo.commit)
      await git(["checkout", "--quiet", "--detach", repo.commit], assignment.token, opts.signal, dir);
    return { dir, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
