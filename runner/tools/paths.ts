/**
 * Confining tool paths to the workspace, without races. A path is relative to the workspace (or
 * absolute under it, or under /workspace as the sandbox shows it); `..` is refused outright.
 *
 * Nothing is ever opened by its full name. The walk starts from the workspace root held open and
 * opens one component at a time through the directory before it, as `/proc/self/fd/<dir>/<name>`
 * with O_NOFOLLOW: the procfs link resolves to the directory that descriptor already holds, so a
 * command that swaps a directory for a symlink meanwhile changes nothing we have open, and the
 * swapped-in symlink is refused when we reach it. Symlinks are refused at every component (even
 * ones that point inside), and so are FIFOs, sockets, devices and hard-linked files; the final
 * file is opened O_NONBLOCK (a FIFO never blocks an open), then checked again on its handle.
 * All I/O is asynchronous and on handles (docs/runner.md, "File tools").
 */
import fs from "node:fs";
import type { FileHandle } from "node:fs/promises";
import path from "node:path";
import { SANDBOX_WORKDIR } from "../sandbox/types";

export class ToolInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ToolInputError";
  }
}

/** Host owner that files the tools create must get (a root process whose sandbox runs as another user). */
export type FileOwner = { readonly uid: number; readonly gid: number };

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } =
  fs.constants;
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK;
const FILE_FLAGS = O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;

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
  return path.normalize(p).replace(/\/+$/, "") || ".";
}

/** The path that names `name` in the directory `dir` holds: procfs pins that very directory. */
function at(dir: FileHandle, name: string): string {
  return `/proc/self/fd/${dir.fd}/${name}`;
}

/** The open directory itself, for readdir. */
export function heldPath(dir: FileHandle): string {
  return `/proc/self/fd/${dir.fd}`;
}

const code = (err: unknown) => (err as NodeJS.ErrnoException)?.code;

let procfsChecked = false;
async function openRoot(root: string): Promise<FileHandle> {
  const dir = await fs.promises.open(root, DIR_FLAGS);
  if (procfsChecked) return dir;
  try {
    await fs.promises.stat(heldPath(dir));
    procfsChecked = true;
    return dir;
  } catch {
    await dir.close();
    throw new Error("the file tools need procfs mounted at /proc: they open paths through /proc/self/fd");
  }
}

/** One path being walked: what the model gave, and the components seen so far (for messages). */
class Walk {
  readonly names: readonly string[];
  constructor(
    readonly root: string,
    readonly given: string,
    readonly rel: string,
    /** What the final component is opened for: a directory given to read is pointed to list_files. */
    readonly mode?: FileMode,
  ) {
    this.names = rel === "." ? [] : rel.split("/");
  }

  /** "a/b: a is …" for a component on the way, "a/b is …" for the path itself. */
  subject(upto: number): string {
    const shown = this.names.slice(0, upto + 1).join("/");
    return upto === this.names.length - 1 ? this.given : `${this.given}: ${shown}`;
  }
}

function kindOf(st: fs.Stats): string {
  if (st.isFIFO()) return "a named pipe (FIFO)";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  return "not a regular file";
}

/** Where a symlink would lead, as a workspace path, or undefined when it leads outside (lexically). */
function linkTarget(root: string, linkRel: string, target: string): string | undefined {
  let p: string;
  if (path.isAbsolute(target)) {
    if (inside(SANDBOX_WORKDIR, target)) p = path.relative(SANDBOX_WORKDIR, target);
    else if (inside(root, target)) p = path.relative(root, target);
    else return undefined;
  } else p = path.join(path.dirname(linkRel), target);
  p = path.normalize(p);
  return p === ".." || p.startsWith("../") ? undefined : p || ".";
}

/** The refusal for a symlink at component `i` (the message is a hint; every symlink is refused). */
async function symlinkRefusal(w: Walk, dir: FileHandle, i: number): Promise<ToolInputError> {
  const target = await fs.promises.readlink(at(dir, w.names[i]!)).catch(() => "?");
  const shown = target.length > 200 ? `${target.slice(0, 200)}…` : target;
  const lead = linkTarget(w.root, w.names.slice(0, i + 1).join("/"), target);
  return new ToolInputError(
    lead === undefined
      ? `${w.subject(i)} is a symlink to ${shown}, outside the workspace; the file tools do not follow symlinks`
      : `${w.subject(i)} is a symlink to ${shown}; the file tools do not follow symlinks (use ${lead})`,
  );
}

/** Why component `i` cannot be opened as what was wanted, from a look that does not follow it. */
async function refusal(w: Walk, dir: FileHandle, i: number, wanted: "directory" | "file", err: unknown) {
  const st = await fs.promises.lstat(at(dir, w.names[i]!)).catch(() => undefined);
  if (!st) return err; // gone meanwhile: the original error says so
  return (await refuseKind(w, dir, i, st, wanted)) ?? err;
}

/** A refusal when `st` (component `i`) is not what was wanted, or undefined when it is. */
async function refuseKind(
  w: Walk,
  dir: FileHandle,
  i: number,
  st: fs.Stats,
  wanted: "directory" | "file",
): Promise<ToolInputError | undefined> {
  const subject = w.subject(i);
  if (st.isSymbolicLink()) return symlinkRefusal(w, dir, i);
  if (wanted === "directory")
    return st.isDirectory() ? undefined : new ToolInputError(`${subject} is not a directory`);
  if (st.isDirectory())
    return new ToolInputError(`${subject} is a directory${w.mode === "write" ? "" : "; use list_files"}`);
  if (!st.isFile())
    return new ToolInputError(`${subject} is ${kindOf(st)}; the file tools only open regular files`);
  // Another name for the same file may be anywhere on this filesystem: the tools stay out of it.
  if (st.nlink > 1)
    return new ToolInputError(
      `${subject} has ${st.nlink} hard links; the file tools do not open hard-linked files (use bash)`,
    );
  return undefined;
}

/**
 * Opens component `i` of the walk as a directory, through `dir`; with `owner` set, creates it
 * when missing (and gives it to that owner).
 */
async function openDirAt(w: Walk, dir: FileHandle, i: number, create?: { owner?: FileOwner }) {
  const target = at(dir, w.names[i]!);
  let tried = false;
  let made = false; // by this call: only then is it given to the owner
  for (;;) {
    try {
      const next = await fs.promises.open(target, DIR_FLAGS);
      if (made && create?.owner) {
        await next.chown(create.owner.uid, create.owner.gid).catch(async (err) => {
          await next.close();
          throw err;
        });
      }
      return next;
    } catch (err) {
      if (code(err) === "ENOENT" && create && !tried) {
        tried = true;
        made = await fs.promises.mkdir(target, 0o755).then(
          () => true,
          (e) => {
            if (code(e) !== "EEXIST") throw e;
            return false; // made meanwhile by someone else: open what is there, with the same checks
          },
        );
        continue;
      }
      if (code(err) === "ENOTDIR" || code(err) === "ELOOP") throw await refusal(w, dir, i, "directory", err);
      throw err;
    }
  }
}

/** Opens the directories `names[0 .. end)` one by one from the root; the caller closes the result. */
async function descend(w: Walk, end: number, create?: { owner?: FileOwner }): Promise<FileHandle> {
  let dir = await openRoot(w.root);
  try {
    for (let i = 0; i < end; i++) {
      const next = await openDirAt(w, dir, i, create);
      await dir.close();
      dir = next;
    }
    return dir;
  } catch (err) {
    await dir.close();
    throw err;
  }
}

/** A workspace directory held open; readdir it through `heldPath`, open children with `openChildDir`. */
export interface OpenDir {
  readonly handle: FileHandle;
  /** Workspace-relative path ("." for the root). */
  readonly rel: string;
}

/** Opens a workspace directory (list_files). Every component must be a real directory. */
export async function openDirectory(root: string, given: string): Promise<OpenDir> {
  const w = new Walk(root, given, relativePath(root, given));
  return { handle: await descend(w, w.names.length), rel: w.rel };
}

/** Opens the subdirectory `name` of a held directory, or undefined if it is not (any longer) one. */
export async function openChildDir(dir: FileHandle, name: string): Promise<FileHandle | undefined> {
  return fs.promises.open(at(dir, name), DIR_FLAGS).catch(() => undefined);
}

/** The text of the symlink `name` in a held directory (readlink never follows it). */
export function readLinkAt(dir: FileHandle, name: string): Promise<string> {
  return fs.promises.readlink(at(dir, name));
}

export interface OpenFile {
  readonly handle: FileHandle;
  readonly stat: fs.Stats;
  /** Workspace-relative path, for results. */
  readonly rel: string;
}

export type FileMode = "read" | "update" | "write";
const MODE_FLAGS: Record<FileMode, number> = { read: O_RDONLY, update: O_RDWR, write: O_WRONLY };

/**
 * Opens a regular file of the workspace: `read` and `update` (read and write) an existing one,
 * `write` creates it (and its parent directories) when missing. The caller closes the handle.
 * With `owner`, what `write` creates is given to that owner.
 */
export async function openFile(
  root: string,
  given: string,
  mode: FileMode,
  owner?: FileOwner,
): Promise<OpenFile> {
  const w = new Walk(root, given, relativePath(root, given), mode);
  const last = w.names.length - 1;
  if (last < 0)
    throw new ToolInputError(`${given} is a directory${mode === "write" ? "" : "; use list_files"}`);
  const dir = await descend(w, last, mode === "write" ? { owner } : undefined);
  try {
    const name = w.names[last]!;
    // A look first, so that a special file is never opened at all; the handle is checked again.
    const seen = await fs.promises.lstat(at(dir, name)).catch((err) => {
      if (code(err) === "ENOENT" && mode === "write") return undefined;
      throw err;
    });
    if (seen) {
      const refused = await refuseKind(w, dir, last, seen, "file");
      if (refused) throw refused;
    }
    const create = seen === undefined;
    let handle: FileHandle;
    try {
      handle = await fs.promises.open(
        at(dir, name),
        MODE_FLAGS[mode] | FILE_FLAGS | (create ? O_CREAT | O_EXCL : 0),
        0o644,
      );
    } catch (err) {
      if (code(err) === "EEXIST")
        throw new ToolInputError(`${given} appeared while being written; try again`);
      if (code(err) === "ENOENT" && create) throw err;
      throw await refusal(w, dir, last, "file", err);
    }
    try {
      const stat = await handle.stat();
      const refused = await refuseKind(w, dir, last, stat, "file");
      if (refused) throw refused;
      if (create && owner) await handle.chown(owner.uid, owner.gid);
      return { handle, stat, rel: w.rel };
    } catch (err) {
      await handle.close();
      throw err;
    }
  } finally {
    await dir.close();
  }
}

/**
 * What a path names, checked the same way (for tools that hand the path to a command in the
 * sandbox): a regular file or a directory, reached without a symlink.
 */
export async function checkPath(
  root: string,
  given: string,
): Promise<{ rel: string; kind: "file" | "directory" }> {
  const w = new Walk(root, given, relativePath(root, given));
  const last = w.names.length - 1;
  if (last < 0) return { rel: ".", kind: "directory" };
  const dir = await descend(w, last);
  try {
    const st = await fs.promises.lstat(at(dir, w.names[last]!));
    if (st.isDirectory()) return { rel: w.rel, kind: "directory" };
    const refused = await refuseKind(w, dir, last, st, "file");
    if (refused) throw refused;
    return { rel: w.rel, kind: "file" };
  } finally {
    await dir.close();
  }
}

/**
 * Removes a directory tree without following anything in it: each directory is held open while
 * its entries are unlinked through it, so a swap to a symlink meanwhile cannot aim the removal
 * elsewhere (a path-based `rm -r` can be raced into deleting outside). The top is removed by name.
 */
export async function removeTree(top: string): Promise<void> {
  const dir = await fs.promises.open(top, DIR_FLAGS).catch((err) => {
    if (code(err) === "ENOENT") return undefined;
    throw err;
  });
  if (!dir) return;
  try {
    await emptyHeld(dir);
  } finally {
    await dir.close();
  }
  await fs.promises.rmdir(top);
}

/** Linux's O_PATH (not in fs.constants): a handle on the inode itself, for chmod through procfs. */
const O_PATH = 0o10000000;

/**
 * Opens the subdirectory `name` for removal. One its owner made unreadable (`chmod 000`) is
 * given back its owner's rights first, through an O_PATH|O_NOFOLLOW handle: never a symlink.
 */
async function openForRemoval(dir: FileHandle, name: string): Promise<FileHandle | undefined> {
  const sub = await openChildDir(dir, name);
  if (sub) return sub;
  const pinned = await fs.promises
    .open(at(dir, name), O_PATH | O_DIRECTORY | O_NOFOLLOW)
    .catch(() => undefined);
  if (!pinned) return undefined;
  try {
    await fs.promises.chmod(heldPath(pinned), 0o700);
  } catch {
    return undefined;
  } finally {
    await pinned.close();
  }
  return openChildDir(dir, name);
}

async function emptyHeld(dir: FileHandle): Promise<void> {
  // Removing entries needs write and search rights on the directory, which a command may have taken away.
  if (((await dir.stat()).mode & 0o700) !== 0o700) await dir.chmod(0o700).catch(() => {});
  for (const entry of await fs.promises.readdir(heldPath(dir), { withFileTypes: true })) {
    const target = at(dir, entry.name);
    const sub = entry.isDirectory() ? await openForRemoval(dir, entry.name) : undefined;
    if (sub) {
      try {
        await emptyHeld(sub);
      } finally {
        await sub.close();
      }
      await fs.promises.rmdir(target).catch(ignoreGone);
    } else {
      // Not a directory (or no longer one): unlink removes the name itself, never what it points to.
      await fs.promises.unlink(target).catch(ignoreGone);
    }
  }
}

function ignoreGone(err: unknown): void {
  if (code(err) !== "ENOENT") throw err;
}
