/**
 * The directory a workload works in: for repo-bound work a clone of the repository at its
 * commit, over the app's smart HTTP with the task token as the Basic password; otherwise an
 * empty directory. The token travels in git's environment, never in argv or .git/config.
 *
 * The directory is made first (createWorkspace), so the sandbox can be made for it, and then
 * filled (fillWorkspace) as the user the sandbox needs to own it: a runner process has already
 * dropped to that user; the app in in-process mode, as root, runs git as that user instead.
 * Removal never follows a symlink in the tree (removeTree).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Assignment } from "../app/wire/protocol";
import { runProcess } from "./sandbox/process";
import { type FileOwner, removeTree } from "./tools/paths";

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

async function git(
  args: string[],
  token: string,
  opts: { signal?: AbortSignal; cwd?: string; owner?: FileOwner },
): Promise<void> {
  const r = await runProcess("git", args, {
    env: gitAuthEnv(token),
    cwd: opts.cwd ?? "/",
    timeoutMs: CLONE_TIMEOUT_MS,
    signal: opts.signal,
    uid: opts.owner?.uid,
    gid: opts.owner?.gid,
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

/** A new, empty workspace directory (mode 0700) under `baseDir` (default: the OS temp dir). */
export async function createWorkspace(baseDir?: string): Promise<Workspace> {
  const dir = await fs.promises.mkdtemp(path.join(baseDir ?? os.tmpdir(), "plue-ws-"));
  return { dir, cleanup: () => removeTree(dir) };
}

/**
 * Gives the workspace to `owner` (when the sandbox's user is not this process's) and, for
 * repo-bound work, clones the repository into it at its commit.
 */
export async function fillWorkspace(
  dir: string,
  assignment: Assignment,
  opts: { signal?: AbortSignal; owner?: FileOwner } = {},
): Promise<void> {
  // Just made by this process, and no command has run yet: nothing can have swapped it.
  if (opts.owner) await fs.promises.chown(dir, opts.owner.uid, opts.owner.gid);
  const repo = assignment.workload.repo;
  if (!repo) return;
  const url = new URL(repo.clone_url, assignment.app_url).toString();
  await git(["clone", "--quiet", url, dir], assignment.token, opts);
  if (repo.commit)
    await git(["checkout", "--quiet", "--detach", repo.commit], assignment.token, { ...opts, cwd: dir });
}
