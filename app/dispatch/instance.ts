/**
 * Who owns a local runner: the server process that started it. A process is named by its host's
 * boot, its pid and its start time (`<boot>-<pid>-<start>`), which no other process on any host
 * shares, so a restarted server (even one given the same pid, as a container's pid 1 is) never
 * mistakes an earlier one's runners, workloads or directories for its own. On the same boot the
 * name alone tells whether that process still lives; for another host only its heartbeat row in
 * `app_instances` (recovery.ts) can.
 *
 * Also the process-table reading the executors need to stop a runner with everything it started
 * (tools run in process groups of their own, so a group kill alone misses them).
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import { VOLUME_GUARD_ARGV } from "../../runner/sandbox/volume";

/** `plue-runner:<instance>:<n>`: the title of every local runner process (its /proc cmdline). */
export const RUNNER_TITLE = "plue-runner";
const ID = /^([0-9a-f]{8})-(\d+)-(\d+)$/;

function readProc(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/** The fields of /proc/<pid>/stat after the command name (which may contain spaces). */
function statFields(pid: number | "self"): string[] | undefined {
  const stat = readProc(`/proc/${pid}/stat`);
  return stat?.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** A process's start time (clock ticks since boot), or undefined if it is gone (or not Linux). */
export function processStart(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

/** The parent pid of this process as it is now (process.ppid is read once, at start). */
export function currentParentPid(): number {
  const ppid = statFields("self")?.[1];
  return ppid ? Number(ppid) : process.ppid;
}

const HAS_PROC = processStart(process.pid) !== undefined;

/** Eight hex digits naming this boot of this host (the hostname's hash where /proc is missing). */
const BOOT =
  readProc("/proc/sys/kernel/random/boot_id")?.replaceAll("-", "").slice(0, 8) ??
  createHash("sha256").update(os.hostname()).digest("hex").slice(0, 8);

/** This server process's instance id. */
export const thisInstance = `${BOOT}-${process.pid}-${processStart(process.pid) ?? "0"}`;

export interface InstanceName {
  readonly boot: string;
  readonly pid: number;
  readonly start: string;
}

export function parseInstance(id: string): InstanceName | undefined {
  const m = ID.exec(id);
  return m ? { boot: m[1]!, pid: Number(m[2]), start: m[3]! } : undefined;
}

/**
 * Whether the process an instance id names is alive, when this host can tell (same boot):
 * true/false; undefined for another host or boot (ask its heartbeat) and for ids that are not ours.
 */
export function aliveHere(id: string): boolean | undefined {
  const n = parseInstance(id);
  if (!n || n.boot !== BOOT) return undefined;
  if (!HAS_PROC) {
    try {
      process.kill(n.pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "EPERM";
    }
  }
  return processStart(n.pid) === n.start;
}

/** A workspace volume's guard (runner/sandbox/volume.ts): spared so it can unmount the volume. */
function isVolumeGuard(p: ProcEntry): boolean {
  const argv = p.cmdline.split("\0");
  return VOLUME_GUARD_ARGV.every((a, i) => argv[i] === a);
}

interface ProcEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly cmdline: string;
}

/** Every process this host shows (Linux); empty elsewhere. */
function processTable(): ProcEntry[] {
  let names: string[];
  try {
    names = fs.readdirSync("/proc").filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
  const out: ProcEntry[] = [];
  for (const name of names) {
    const pid = Number(name);
    const f = statFields(pid);
    if (!f) continue; // exited meanwhile
    out.push({ pid, ppid: Number(f[1]), cmdline: readProc(`/proc/${pid}/cmdline`) ?? "" });
  }
  return out;
}

/** `pid` and all its descendants, parents first. */
function tree(pid: number, table: readonly ProcEntry[]): number[] {
  const children = new Map<number, number[]>();
  for (const p of table) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.shift()!;
    if (out.includes(p)) continue;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already, or not ours to signal
  }
}

/**
 * SIGKILLs a runner, its process group and every descendant, also those in groups of their own
 * (sandboxed tools). Descendants are found before anything dies: once a parent is gone, its
 * children belong to init and can no longer be traced to it.
 */
export function killTree(pid: number): void {
  const table = processTable();
  const guards = new Set(table.filter(isVolumeGuard).map((p) => p.pid));
  signal(-pid, "SIGKILL");
  // Parents first: none forks again. A workspace volume's guard is spared: it unmounts the volume
  // once the runner is gone (runner/sandbox/volume.ts), and it runs nothing but that.
  for (const p of tree(pid, table)) if (!guards.has(p)) signal(p, "SIGKILL");
}

/** Local runner processes on this host, by the instance that started them (their title). */
export function runnerProcesses(): Array<{ pid: number; instance: string }> {
  const out: Array<{ pid: number; instance: string }> = [];
  const prefix = `${RUNNER_TITLE}:`;
  for (const p of processTable()) {
    if (!p.cmdline.startsWith(prefix)) continue;
    const instance = p.cmdline.slice(prefix.length).split(/[:\0]/)[0]!;
    if (parseInstance(instance)) out.push({ pid: p.pid, instance });
  }
  return out;
}

/** Directories of a runner (`plue-run-…`) or of this process's runner bundle (`plue-bundle-…`). */
const OWNED_DIR = /^plue-(?:run|bundle)-([0-9a-f]{8}-\d+-\d+)-/;

/** The instance that made a directory in a workspace base, if it is one of ours. */
export function dirOwner(name: string): string | undefined {
  return OWNED_DIR.exec(name)?.[1];
}

/**
 * Makes `<base>/plue-run-<instance>-<n>`: a runner's own directory (its workspaces and temporary
 * files), named so that whoever finds it later knows whose it is. Traversable by the sandbox user.
 */
export function makeRunnerDir(base: string, n: number | string): string {
  const dir = `${base.replace(/\/+$/, "")}/plue-run-${thisInstance}-${n}`;
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o755);
  return dir;
}

/**
 * Removes a runner's directory without ever throwing (it runs in exit handlers). A workspace
 * volume still mounted inside (its guard unmounts it a moment after the runner exits) makes it
 * fail with EBUSY: it is tried again a few times, and otherwise left to recovery.
 */
export function removeRunnerDir(dir: string, log?: { warn(o: object, m: string): void }, tries = 6): void {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    if (tries > 1) setTimeout(() => removeRunnerDir(dir, log, tries - 1), 500).unref();
    else log?.warn({ err, dir }, "cannot remove a runner's directory; recovery will");
  }
}

/** The node option that titles a runner process, so a later server can recognise it. */
export function runnerTitleArg(n: number | string): string {
  return `--title=${RUNNER_TITLE}:${thisInstance}:${n}`;
}
