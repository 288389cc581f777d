/**
 * The workspace's size limit: a sparse ext4 image, loop-mounted (nosuid, nodev) where the
 * workspace is made, so a write past the limit fails with ENOSPC at once and nothing beyond it
 * reaches the host disk (the image grows only as blocks are written, up to its size). Mounting
 * needs root: a root process makes one volume per workspace (in-process mode); a runner that
 * drops its privileges gets one from prepareSandboxHost, made before the drop, for its one
 * workload. The image is root's (0600, in a 0711 directory), so the runner's user cannot edit
 * the filesystem under the kernel's feet.
 *
 * Unmounting needs root too, which a runner no longer has when it finishes: each volume gets a
 * guard, a root shell started with it in its own session that waits on a pipe from the runner
 * and unmounts and deletes the volume when the pipe closes (release, exit, or the runner being
 * killed). Volumes live in one root-owned directory, apart from the runner's PLUE_WORKSPACE
 * (which the local executor deletes the moment a runner exits); any a guard could not remove
 * (a host crash) are swept by the next root runner.
 */

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { isAlive, runProcess } from "./process";

export interface WorkspaceVolume {
  /** The mounted filesystem's root; workspaces are made inside it. */
  readonly dir: string;
  readonly bytes: number;
  /** Unmounts and deletes the image (root only; otherwise left to the next sweep). */
  release(): Promise<void>;
}

export class VolumeError extends Error {
  constructor(message: string) {
    super(`cannot make the workspace volume: ${message}`);
    this.name = "VolumeError";
  }
}

const VOLUMES = "plue-volumes";
/** Where volumes go by default: `/var/tmp/plue-volumes`. */
export const DEFAULT_VOLUME_PARENT = "/var/tmp";
/** Waits for its stdin to close, then unmounts ($1) and deletes the image ($2) as root. */
const GUARD = 'read -r _; umount -l "$1"; rm -f "$2"; rmdir "$1"';
/** A guard's command line before its two arguments; a server's tree kill spares exactly this. */
export const VOLUME_GUARD_ARGV = ["/bin/sh", "-c", GUARD, "plue-volume-guard"] as const;
const TOOL_TIMEOUT_MS = 60_000;
/** How long a release waits for its guard; a volume it leaves is swept later. */
const RELEASE_WAIT_MS = 10_000;
/** Mounted volumes of this process, by mount point, so a sandbox can name its workspace's limit. */
const mounted = new Map<string, number>();

async function tool(file: string, args: string[]): Promise<void> {
  const r = await runProcess(file, args, {
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
    timeoutMs: TOOL_TIMEOUT_MS,
  });
  if (r.exitCode !== 0) throw new VolumeError(`${file} ${args.join(" ")}: ${r.stderr.trim() || r.exitCode}`);
}

/** Creates, formats and mounts a volume under `<parent>/plue-volumes/<name>`; root only. */
export async function createVolume(
  parent: string,
  bytes: number,
  owner: { uid: number; gid: number } | undefined,
  name = `w-${process.pid}-${randomBytes(4).toString("hex")}`,
): Promise<WorkspaceVolume> {
  if (process.getuid?.() !== 0) throw new VolumeError("mounting a filesystem needs root");
  const base = path.join(parent, VOLUMES);
  fs.mkdirSync(base, { recursive: true, mode: 0o711 });
  fs.chmodSync(base, 0o711);
  const image = path.join(base, `${name}.img`);
  const dir = path.join(base, name);
  const fd = fs.openSync(image, "wx", 0o600);
  try {
    fs.ftruncateSync(fd, bytes); // sparse: costs nothing until written
  } finally {
    fs.closeSync(fd);
  }
  fs.mkdirSync(dir, { mode: 0o700 });
  try {
    const rootOwner = owner ? `,root_owner=${owner.uid}:${owner.gid}` : "";
    // -m 0: no blocks reserved for root (the limit is the whole size); lazy init keeps it fast.
    await tool("mkfs.ext4", [
      "-q",
      "-F",
      "-m",
      "0",
      "-E",
      `lazy_itable_init=1,lazy_journal_init=1,nodiscard${rootOwner}`,
      image,
    ]);
    await tool("mount", ["-t", "ext4", "-o", "loop,nosuid,nodev", image, dir]);
    fs.rmSync(path.join(dir, "lost+found"), { recursive: true, force: true });
  } catch (err) {
    await tool("umount", [dir]).catch(() => {});
    fs.rmSync(image, { force: true });
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const guard = spawn(VOLUME_GUARD_ARGV[0], [...VOLUME_GUARD_ARGV.slice(1), dir, image], {
    detached: true, // its own session: a kill of the runner's process group spares it
    stdio: ["pipe", "ignore", "ignore"],
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
  });
  guard.unref();
  (guard.stdin as unknown as { unref(): void }).unref(); // the pipe must not keep the runner alive
  guard.stdin!.on("error", () => {});
  const gone = new Promise<void>((resolve) => {
    guard.once("exit", () => resolve());
    guard.once("error", () => resolve());
  });
  mounted.set(dir, bytes);
  let released = false;
  return {
    dir,
    bytes,
    async release() {
      if (released) return;
      released = true;
      mounted.delete(dir);
      // Held while the guard unmounts: an unref'd child alone would let the event loop run dry
      // here, and node would exit 0 in the middle of the run's clean-up.
      guard.ref();
      guard.stdin!.end();
      await Promise.race([gone, new Promise((r) => setTimeout(r, RELEASE_WAIT_MS).unref())]);
    },
  };
}

async function releaseVolume(dir: string, image: string): Promise<void> {
  // A lazy unmount detaches it even if something still holds a file open in it.
  await tool("umount", ["-l", dir]).catch(() => {});
  fs.rmSync(image, { force: true });
  try {
    fs.rmdirSync(dir);
  } catch {
    // still mounted (umount failed): left for the next sweep
  }
}

/** The limit of the volume a path lies in, when it lies in one of this process's volumes. */
export function volumeLimitOf(p: string): number | undefined {
  for (const [dir, bytes] of mounted) if (p === dir || p.startsWith(`${dir}/`)) return bytes;
  return undefined;
}

/** Unmounts and deletes the volumes of processes that no longer run (root only). */
export async function sweepVolumes(parent: string): Promise<void> {
  const base = path.join(parent, VOLUMES);
  if (process.getuid?.() !== 0 || !fs.existsSync(base)) return;
  for (const entry of fs.readdirSync(base)) {
    const m = /^[wr]-(\d+)(-[0-9a-f]+)?\.img$/.exec(entry);
    if (!m || isAlive(Number(m[1]))) continue;
    await releaseVolume(path.join(base, entry.slice(0, -4)), path.join(base, entry));
  }
}

/** Whether a command's failure came from its workspace filling up. */
export function volumeFull(dir: string): boolean {
  try {
    const s = fs.statfsSync(dir);
    return s.bavail * s.bsize < 1024 * 1024;
  } catch {
    return false;
  }
}
