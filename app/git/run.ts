/**
 * Running git for the pull request plumbing (diff.ts, merge.ts, line-map.ts): like `git()` of
 * exec.ts (same clean environment, argv only, never a shell) but output as bytes (paths need not
 * be UTF-8), exit codes that mean an answer rather than a failure (`merge-tree` exits 1 on a
 * conflict, `merge-base` 1 when there is none), and a streaming form for large diffs.
 */
import { spawn } from "node:child_process";
import { fullOid } from "../wire/names";
import { GitCommandError, gitEnv } from "./exec";

export interface RunOptions {
  gitDir: string;
  input?: string | Buffer;
  env?: Record<string, string>;
  /** Exit codes that are answers (default [0]); others throw GitCommandError. */
  ok?: number[];
}

export interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Thrown for a value that is not a full commit id where one is required. */
export class InvalidCommitIdError extends Error {
  constructor(value: string) {
    super(`not a full commit id: ${JSON.stringify(value.slice(0, 80))}`);
    this.name = "InvalidCommitIdError";
  }
}

/** A full (40 or 64 hex digit) commit id, lower-cased, or InvalidCommitIdError. */
export function commitId(value: string): string {
  const oid = typeof value === "string" ? fullOid(value) : undefined;
  if (!oid) throw new InvalidCommitIdError(String(value));
  return oid;
}

/** Runs git to completion, collecting stdout as bytes. */
export function runGit(args: readonly string[], options: RunOptions): Promise<RunResult> {
  const chunks: Buffer[] = [];
  return streamGit(args, options, (c) => chunks.push(c)).then((r) => ({
    ...r,
    stdout: Buffer.concat(chunks),
  }));
}

/** Runs git, handing each stdout chunk to `onData` as it arrives. */
export function streamGit(
  args: readonly string[],
  options: RunOptions,
  onData: (chunk: Buffer) => void,
): Promise<{ code: number; stderr: string }> {
  const ok = options.ok ?? [0];
  return new Promise((resolve, reject) => {
    const child = spawn("git", [`--git-dir=${options.gitDir}`, ...args], {
      env: gitEnv(options.env),
      stdio: ["pipe", "pipe", "pipe"],
    });
    const err: Buffer[] = [];
    let errBytes = 0;
    let failed: unknown;
    child.stdout.on("data", (c: Buffer) => {
      if (failed) return;
      try {
        onData(c);
      } catch (e) {
        failed = e;
        child.kill();
      }
    });
    child.stderr.on("data", (c: Buffer) => {
      if (errBytes < 64 * 1024) err.push(c);
      errBytes += c.length;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const stderr = Buffer.concat(err).toString("utf8");
      if (failed) reject(failed);
      else if (code !== null && ok.includes(code)) resolve({ code, stderr });
      else reject(new GitCommandError(args, code, stderr));
    });
    child.stdin.on("error", () => {}); // git may exit before reading all of its input
    child.stdin.end(options.input ?? "");
  });
}

const utf8 = new TextDecoder("utf-8");

/** A pathspec naming exactly this path (`:(literal)`); a name that is not UTF-8 cannot
 * be spelled in argv, so it becomes a `:(glob)` with `*` for the undecodable bytes and callers
 * match what comes back on the raw bytes. */
export function pathspec(path: Buffer | string): string {
  const bytes = typeof path === "string" ? Buffer.from(path) : path;
  const text = utf8.decode(bytes);
  if (!text.includes("\uFFFD")) return `:(literal)${text}`;
  return `:(glob)${text.replace(/[*?[\]\\]/g, "\\$&").replace(/\uFFFD+/g, "*")}`;
}
