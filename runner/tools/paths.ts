/**
 * Confining tool paths to the workspace. A path is relative to the workspace (or absolute
 * under it, or under /workspace as the sandbox shows it); `..` is refused outright, and the
 * resolved real path must stay inside the workspace, so a symlink cannot lead out.
 */
import fs from "node:fs";
import path from "node:path";
import { SANDBOX_WORKDIR } from "../sandbox/types";

export class ToolInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ToolInputError";
  }
}

function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(root + path.sep);
}

/** The workspace-relative form of a path the model gave, or a ToolInputError saying why not. */
export function relativePath(root: string, given: string): string {
  if (typeof given !== "string") throw new ToolInputError("path must be a string");
  if (given.includes("\0")) throw new ToolInputError("path must not contain NUL");
  let p = given.trim() === "" ? "." : given.trim();
  if (path.isAbsolute(p)) {
    if (inside(SANDBOX_WORKDIR, p)) p = path.relative(SANDBOX_WORKDIR, p) || ".";
    else if (inside(root, p)) p = path.relative(root, p) || ".";
    else throw new ToolInputError(`${given}: paths must be inside the workspace (${SANDBOX_WORKDIR})`);
  }
  if (p.split(/[\\/]+/).includes("..")) throw new ToolInputError(`${given}: '..' is not allowed in paths`);
  return path.normalize(p);
}

/**
 * The host path for `given`, checked against symlink escapes. For a path that does not exist
 * yet (a file to write), the nearest existing ancestor is checked instead.
 */
export function resolveInWorkspace(root: string, given: string): string {
  const rel = relativePath(root, given);
  const full = path.join(root, rel);
  let probe = full;
  for (;;) {
    try {
      const real = fs.realpathSync(probe);
      if (!inside(root, real))
        throw new ToolInputError(`${given}: resolves outside the workspace (through a symlink)`);
      return probe === full ? real : full;
    } catch (err) {
      if (err instanceof ToolInputError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw err;
      // A dangling symlink is refused: writing through it would create its target, anywhere.
      if (fs.lstatSync(probe, { throwIfNoEntry: false })?.isSymbolicLink()) {
        throw new ToolInputError(`${given}: is a symlink to a missing target`);
      }
      if (probe === root) throw err;
      probe = path.dirname(probe);
    }
  }
}

/** The path as the model should see it in results: relative to the workspace. */
export function displayPath(root: string, full: string): string {
  return path.relative(root, full) || ".";
}
