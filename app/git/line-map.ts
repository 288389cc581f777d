/**
 * Keeping line comments on their line when a pull request's head moves: where a line of a file
 * at one commit is at another, read off the hunks of `git diff -U0` (lines above a hunk stay,
 * lines below shift by what the hunk added minus what it removed, lines inside it are gone).
 */
import { commitId, pathspec, runGit } from "./run";

export interface HunkRange {
  oldStart: number;
  oldCount: number;
  newStart: number;
  newCount: number;
}

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

/** The `@@ -a,b +c,d @@` headers of a unified diff (a missing count is 1). */
export function hunkRanges(patch: string): HunkRange[] {
  const out: HunkRange[] = [];
  for (const line of patch.split("\n")) {
    const m = HUNK.exec(line);
    if (!m) continue;
    out.push({
      oldStart: Number(m[1]),
      oldCount: m[2] === undefined ? 1 : Number(m[2]),
      newStart: Number(m[3]),
      newCount: m[4] === undefined ? 1 : Number(m[4]),
    });
  }
  return out;
}

/** Where old line `line` is after the hunks (in order), or null when a hunk changed or removed it. */
export function shiftLine(hunks: readonly HunkRange[], line: number): number | null {
  let delta = 0;
  for (const h of hunks) {
    if (h.oldCount === 0) {
      // Pure insertion after old line oldStart.
      if (line <= h.oldStart) break;
      delta += h.newCount;
    } else {
      if (line < h.oldStart) break;
      if (line < h.oldStart + h.oldCount) return null;
      delta += h.newCount - h.oldCount;
    }
  }
  return line + delta;
}

export interface Relocated {
  /** The file's path at the new commit (differs from the old one after a rename); null when gone. */
  path: string | null;
  /** Each line's new number, null where that line was changed or removed (or the file is gone). */
  lines: (number | null)[];
}

/**
 * Relocates many lines of one file at once (one or two git runs): follows a rename (`-M`) when
 * the file is gone from `path` at `newCommit`.
 */
export async function relocateLines(
  gitDir: string,
  oldCommit: string,
  newCommit: string,
  path: string,
  lines: readonly number[],
): Promise<Relocated> {
  const newId = commitId(newCommit);
  const range = [commitId(oldCommit), newId];
  const gone = { path: null, lines: lines.map(() => null) };
  let target = path;
  let patch = await diffU0(gitDir, range, [pathspec(path)]);
  if (/^deleted file mode /m.test(patch)) {
    const renamed = (await renameOf(gitDir, range, path))?.to;
    if (renamed === undefined || renamed === path) return gone;
    target = renamed;
    patch = await diffU0(gitDir, range, [pathspec(path), pathspec(renamed)]);
  } else if (patch === "" && !(await exists(gitDir, newId, path))) return gone;
  // A file that did not exist at oldCommit has no old lines; binary changes cannot be mapped.
  if (/^(new file mode |Binary files )/m.test(patch)) return gone;
  const hunks = hunkRanges(patch);
  return { path: target, lines: lines.map((l) => shiftLine(hunks, l)) };
}

/** Where line `line` of `path` at `oldCommit` is at `newCommit` (following a rename), or null. */
export async function relocateLine(
  gitDir: string,
  oldCommit: string,
  newCommit: string,
  path: string,
  line: number,
): Promise<number | null> {
  return (await relocateLines(gitDir, oldCommit, newCommit, path, [line])).lines[0] ?? null;
}

/** Like relocateLine, with the file's new path (after a rename). */
export async function relocatePosition(
  gitDir: string,
  oldCommit: string,
  newCommit: string,
  path: string,
  line: number,
): Promise<{ path: string; line: number } | null> {
  const r = await relocateLines(gitDir, oldCommit, newCommit, path, [line]);
  const at = r.lines[0] ?? null;
  return r.path !== null && at !== null ? { path: r.path, line: at } : null;
}

async function diffU0(gitDir: string, range: string[], specs: string[]): Promise<string> {
  const args = [
    "diff-tree",
    "-r",
    "-M",
    "-p",
    "-U0",
    "--no-ext-diff",
    "--no-textconv",
    ...range,
    "--",
    ...specs,
  ];
  return (await runGit(args, { gitDir })).stdout.toString("utf8");
}

/**
 * The rename `path` is part of in this diff (as its old or its new name), if any: one raw
 * `-M` run over the whole diff, done only when the file alone looks added or deleted.
 */
export async function renameOf(
  gitDir: string,
  range: readonly string[],
  path: string,
): Promise<{ from: string; to: string } | undefined> {
  const args = ["diff-tree", "-r", "-z", "-M", "-l500", "--diff-filter=R", "--name-status", ...range];
  const f = (await runGit(args, { gitDir })).stdout.toString("utf8").split("\0");
  for (let i = 0; i + 2 < f.length; i += 3) {
    const [from = "", to = ""] = [f[i + 1], f[i + 2]];
    if (from === path || to === path) return { from, to };
  }
  return undefined;
}

async function exists(gitDir: string, commit: string, path: string): Promise<boolean> {
  const r = await runGit(["cat-file", "-e", `${commit}:${path}`], { gitDir, ok: [0, 1, 128] });
  return r.code === 0;
}
