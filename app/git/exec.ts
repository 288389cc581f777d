/**
 * Running git. Server-side git sees no user or system configuration, so a developer's
 * ~/.gitconfig can never change what the server does; per-repository settings live in each
 * repository's own config.
 */
import { execFile } from "node:child_process";

export class GitCommandError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`git ${args.join(" ")} failed (${code}): ${stderr.trim().split("\n").slice(-3).join(" / ")}`);
    this.name = "GitCommandError";
  }
}

/** The environment every server-side git process gets. */
export function gitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: "/nonexistent",
    LANG: "C",
    LC_ALL: "C",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
    ...extra,
  };
}

export interface GitRunOptions {
  gitDir?: string;
  input?: string | Buffer;
  env?: Record<string, string>;
}

/** Runs one git command to completion and returns its stdout. */
export function git(args: readonly string[], options: GitRunOptions = {}): Promise<string> {
  const full = options.gitDir ? [`--git-dir=${options.gitDir}`, ...args] : [...args];
  return new Promise((resolve, reject) => {
    const child = execFile(
      "git",
      full,
      { env: gitEnv(options.env), maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
      (err, stdout, stderr) => {
        if (err) reject(new GitCommandError(args, typeof err.code === "number" ? err.code : null, stderr));
        else resolve(stdout);
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}
