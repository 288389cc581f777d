/**
 * One cgroup per sandbox, so a sandbox's processes together stay within a memory, pids and CPU
 * budget (rlimits are per process). The runner owns a delegated parent, made once while it is
 * still root (`CgroupParent.prepare`, from prepareSandboxHost) and chowned to the user it drops
 * to; after the drop it creates and removes its sandboxes' cgroups there unprivileged.
 *
 * Layout (v2, one hierarchy; v1, the same names in each of the memory, pids and cpu hierarchies;
 * <base> is the root of the v2 mount, and the runner's own cgroup in v1):
 *   <base>/plue/r-<runner pid>/                delegated to the runner's user
 *   <base>/plue/r-<runner pid>/runner          v2 only: the runner itself (no internal processes)
 *   <base>/plue/r-<runner pid>/sb-<id>         one sandbox
 * Parents of runners that died are swept the next time a root runner prepares its own.
 *
 * A process joins its sandbox's cgroup before it can fork: `joinArgs` is a shell that writes its
 * own pid into cgroup.procs and then execs the sandbox (bwrap or runsc), keeping the pid.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { isAlive } from "./process";

export interface CgroupLimits {
  /** memory.max (v2) / memory.limit_in_bytes and memsw (v1); swap is not allowed. */
  readonly memoryBytes: number;
  /** pids.max: processes and threads together. */
  readonly pids: number;
  /** CPUs of bandwidth: cpu.max (v2) / cfs_quota_us (v1); 1.5 = one and a half CPUs. */
  readonly cpus: number;
}

export interface CgroupHostOptions {
  /** Where the cgroup filesystems are mounted. @default "/sys/fs/cgroup" */
  readonly root?: string;
  /** The text of /proc/self/cgroup. @default read from /proc */
  readonly selfCgroup?: string;
  /** The runner's pid (names its parent, and is what v2 moves into the leaf). @default process.pid */
  readonly pid?: number;
  /** Host user the sandboxes run as, who must be able to create cgroups under the parent. */
  readonly owner?: { readonly uid: number; readonly gid: number };
  /** Whether this process may create and chown the parent. @default running as root */
  readonly privileged?: boolean;
}

const V1_CONTROLLERS = ["memory", "pids", "cpu"] as const;
const V2_CONTROLLERS = ["memory", "pids", "cpu"] as const;
const SHARED = "plue";
const CPU_PERIOD_US = 100_000;

export class CgroupUnavailableError extends Error {
  constructor(message: string) {
    super(
      `cgroups are not usable for sandbox limits: ${message}. Run the runner as root (it delegates ` +
        "its own cgroup), or inside a cgroup delegated to its user (systemd Delegate=yes), or use " +
        "PLUE_SANDBOX=none only where something else limits the runner (a Kubernetes pod).",
    );
    this.name = "CgroupUnavailableError";
  }
}

interface Hierarchy {
  /** The controller this hierarchy is used for ("" for v2's single one). */
  readonly controller: string;
  /** The runner's own cgroup directory in this hierarchy. */
  readonly base: string;
}

/** Which cgroup version is mounted at `root` and where this process sits in it. */
export function findHierarchies(opts: CgroupHostOptions = {}): { version: 1 | 2; hierarchies: Hierarchy[] } {
  const root = opts.root ?? "/sys/fs/cgroup";
  const self = opts.selfCgroup ?? readText("/proc/self/cgroup");
  if (self === undefined) throw new CgroupUnavailableError("/proc/self/cgroup cannot be read");
  const lines = self
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [, list = "", p = "/"] = /^\d+:([^:]*):(.*)$/.exec(l) ?? [];
      return { controllers: list.split(","), path: p };
    });
  if (fs.existsSync(path.join(root, "cgroup.controllers"))) {
    // v2 gives controllers only to children of a cgroup without processes, and the runner's own
    // cgroup holds processes (the runner, the server, its siblings); the root is exempt. So the
    // parent hangs off the root of the mount (the cgroup namespace's root).
    const base = root;
    const available = (readText(path.join(base, "cgroup.controllers")) ?? "").split(/\s+/);
    const missing = V2_CONTROLLERS.filter((c) => !available.includes(c));
    if (missing.length > 0)
      throw new CgroupUnavailableError(
        `cgroup v2 at ${base} does not offer the ${missing.join(", ")} controller(s)`,
      );
    return { version: 2, hierarchies: [{ controller: "", base }] };
  }
  const hierarchies: Hierarchy[] = [];
  for (const controller of V1_CONTROLLERS) {
    const mount = path.join(root, controller);
    const own = lines.find((l) => l.controllers.includes(controller));
    if (!own || !fs.existsSync(path.join(mount, "cgroup.procs")))
      throw new CgroupUnavailableError(
        `neither cgroup v2 (${root}/cgroup.controllers) nor a cgroup v1 ${controller} hierarchy (${mount}) is mounted`,
      );
    hierarchies.push({ controller, base: path.join(mount, own.path) });
  }
  return { version: 1, hierarchies };
}

/** The runner's delegated parent; sandboxes' cgroups are made under it. */
export class CgroupParent {
  private constructor(
    readonly version: 1 | 2,
    /** Per hierarchy, the r-<pid> directory. */
    readonly dirs: readonly { controller: string; dir: string }[],
    private readonly owner: CgroupHostOptions["owner"],
    private readonly privileged: boolean,
  ) {}

  /**
   * Creates (as root) or finds (unprivileged, already delegated) this runner's parent. Throws a
   * CgroupUnavailableError that says what is missing.
   */
  static prepare(opts: CgroupHostOptions = {}): CgroupParent {
    const { version, hierarchies } = findHierarchies(opts);
    const pid = opts.pid ?? process.pid;
    const privileged = opts.privileged ?? process.getuid?.() === 0;
    const dirs = hierarchies.map((h) => ({
      controller: h.controller,
      shared: path.join(h.base, SHARED),
      dir: path.join(h.base, SHARED, `r-${pid}`),
      base: h.base,
    }));
    const ready = dirs.every((d) => isWritableDir(d.dir));
    if (!ready && !privileged) {
      const d = dirs[0]!;
      throw new CgroupUnavailableError(
        `${d.dir} does not exist or is not writable by uid ${process.getuid?.()}, and only root can create it`,
      );
    }
    if (!ready) {
      for (const d of dirs) {
        fs.mkdirSync(d.shared, { recursive: true });
        sweepDeadRunners(d.shared);
        if (version === 2) enableControllers(d.base);
        fs.mkdirSync(d.dir, { recursive: true });
        if (version === 2) {
          enableControllers(d.shared);
          // v2 allows no processes in a cgroup whose children have controllers: the runner
          // moves into a leaf of its own parent (which also makes moves into siblings legal).
          fs.mkdirSync(path.join(d.dir, "runner"), { recursive: true });
          writeControl(path.join(d.dir, "runner", "cgroup.procs"), String(pid));
          enableControllers(d.dir);
        }
        if (opts.owner) delegate(d.dir, opts.owner, version);
      }
      // Root can remove its parent at exit (v1; in v2 the runner sits inside it); after a drop
      // the parent stays for the next root runner's sweep.
      process.once("exit", () => {
        for (const d of dirs) tryRmdir(d.dir);
      });
    }
    return new CgroupParent(
      version,
      dirs.map(({ controller, dir }) => ({ controller, dir })),
      opts.owner,
      privileged,
    );
  }

  /** A new cgroup with the limits, ready for `joinArgs`. */
  create(limits: CgroupLimits): SandboxCgroup {
    const name = `sb-${randomBytes(6).toString("hex")}`;
    const dirs = this.dirs.map((d) => ({ controller: d.controller, dir: path.join(d.dir, name) }));
    try {
      for (const d of dirs) {
        fs.mkdirSync(d.dir);
        for (const [file, value] of limitFiles(this.version, d.controller, limits)) {
          const f = path.join(d.dir, file);
          if (file.startsWith("?") ? fs.existsSync(f.replace("?", "")) : true)
            writeControl(f.replace("?", ""), value);
        }
        // A root runner spawns its sandboxes as the drop user, who must be able to join.
        if (this.privileged && this.owner) {
          for (const f of ["cgroup.procs", "tasks"]) chownIfExists(path.join(d.dir, f), this.owner);
        }
      }
    } catch (err) {
      for (const d of dirs) tryRmdir(d.dir);
      throw new CgroupUnavailableError(`cannot set up ${dirs[0]!.dir}: ${(err as Error).message}`);
    }
    return new SandboxCgroup(this.version, dirs, limits);
  }
}

/** What to write where for the limits; a leading "?" marks a file that may not exist. */
export function limitFiles(version: 1 | 2, controller: string, l: CgroupLimits): [string, string][] {
  const quota = String(Math.max(1000, Math.round(l.cpus * CPU_PERIOD_US)));
  if (version === 2)
    return [
      ["memory.max", String(l.memoryBytes)],
      ["?memory.swap.max", "0"],
      // The whole sandbox dies on an OOM, not one random process of it.
      ["?memory.oom.group", "1"],
      ["pids.max", String(l.pids)],
      ["cpu.max", `${quota} ${CPU_PERIOD_US}`],
    ];
  switch (controller) {
    case "memory":
      // memsw is memory + swap: equal to the memory limit means no swap. It must follow the
      // memory limit (the kernel keeps memsw >= memory).
      return [
        ["memory.limit_in_bytes", String(l.memoryBytes)],
        ["?memory.memsw.limit_in_bytes", String(l.memoryBytes)],
      ];
    case "pids":
      return [["pids.max", String(l.pids)]];
    case "cpu":
      return [
        ["cpu.cfs_period_us", String(CPU_PERIOD_US)],
        ["cpu.cfs_quota_us", quota],
      ];
    default:
      return [];
  }
}

/** Counters that say which limit a sandbox ran into. */
export interface CgroupEvents {
  readonly oomKills: number;
  readonly pidsMax: number;
}

export class SandboxCgroup {
  constructor(
    readonly version: 1 | 2,
    readonly dirs: readonly { controller: string; dir: string }[],
    readonly limits: CgroupLimits,
  ) {}

  /** The cgroup.procs files a joining process writes its pid to. */
  get procsFiles(): string[] {
    return this.dirs.map((d) => path.join(d.dir, "cgroup.procs"));
  }

  private dir(controller: string): string {
    return (this.dirs.find((d) => d.controller === controller) ?? this.dirs[0]!).dir;
  }

  events(): CgroupEvents {
    const mem =
      this.version === 2
        ? readText(path.join(this.dir(""), "memory.events"))
        : readText(path.join(this.dir("memory"), "memory.oom_control"));
    const pids = readText(path.join(this.dir(this.version === 2 ? "" : "pids"), "pids.events"));
    return { oomKills: counter(mem, "oom_kill"), pidsMax: counter(pids, "max") };
  }

  /** Pids of every process still in the sandbox's cgroup. */
  pids(): number[] {
    const all = new Set<number>();
    for (const f of this.procsFiles) {
      for (const line of (readText(f) ?? "").split("\n")) if (line) all.add(Number(line));
    }
    return [...all];
  }

  /** SIGKILLs everything in the cgroup (v2 cgroup.kill where the kernel has it). */
  kill(): void {
    const killFile = path.join(this.dir(""), "cgroup.kill");
    if (this.version === 2 && fs.existsSync(killFile)) {
      writeControl(killFile, "1");
      return;
    }
    for (const pid of this.pids()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }

  /** Kills what is left and removes the cgroup (a cgroup with processes cannot be removed). */
  async remove(): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      this.kill();
      for (const d of this.dirs) tryRmdir(d.dir);
      if (this.dirs.every((d) => !fs.existsSync(d.dir))) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`cannot remove the sandbox cgroup ${this.dirs[0]!.dir}: processes remain`);
  }
}

/**
 * argv prefix that joins the cgroup and then execs the rest, in the same process: `sh` writes
 * its own pid (`$$`) with a builtin, so nothing forks before it is inside.
 */
export function joinArgs(cgroup: SandboxCgroup | undefined): string[] {
  if (!cgroup) return [];
  const script =
    'while [ "$1" != -- ]; do echo $$ >"$1" || { echo "plue: cannot join the sandbox cgroup $1" >&2; exit 125; }; shift; done; shift; exec "$@"';
  return ["/bin/sh", "-c", script, "plue-cgroup-join", ...cgroup.procsFiles, "--"];
}

function enableControllers(dir: string): void {
  const have = (readText(path.join(dir, "cgroup.subtree_control")) ?? "").split(/\s+/);
  const missing = V2_CONTROLLERS.filter((c) => !have.includes(c));
  if (missing.length === 0) return;
  try {
    writeControl(path.join(dir, "cgroup.subtree_control"), missing.map((c) => `+${c}`).join(" "));
  } catch (err) {
    const busy = (err as NodeJS.ErrnoException).code === "EBUSY";
    throw new CgroupUnavailableError(
      `cannot enable ${missing.join(", ")} for the children of ${dir}` +
        (busy
          ? " (it holds processes, and cgroup v2 gives controllers only to the children of a cgroup without processes)"
          : `: ${(err as Error).message}`),
    );
  }
}

/** Hands a cgroup directory to the user (cgroup-v2.rst "Delegation Containment"). */
function delegate(dir: string, owner: { uid: number; gid: number }, version: 1 | 2): void {
  fs.chownSync(dir, owner.uid, owner.gid);
  const files =
    version === 2 ? ["cgroup.procs", "cgroup.subtree_control", "cgroup.threads"] : ["cgroup.procs", "tasks"];
  for (const f of files) chownIfExists(path.join(dir, f), owner);
  if (version === 2) chownIfExists(path.join(dir, "runner", "cgroup.procs"), owner);
}

/** Removes the parents of runners that no longer run, killing what they left. */
function sweepDeadRunners(shared: string): void {
  for (const name of fs.readdirSync(shared)) {
    const m = /^r-(\d+)$/.exec(name);
    if (!m || isAlive(Number(m[1]))) continue;
    const dir = path.join(shared, name);
    for (const child of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!child.isDirectory()) continue;
      const sub = path.join(dir, child.name);
      for (const line of (readText(path.join(sub, "cgroup.procs")) ?? "").split("\n")) {
        if (line && Number(line) !== process.pid) {
          try {
            process.kill(Number(line), "SIGKILL");
          } catch {}
        }
      }
      tryRmdir(sub);
    }
    tryRmdir(dir);
  }
}

function counter(text: string | undefined, key: string): number {
  const m = new RegExp(`^${key} (\\d+)$`, "m").exec(text ?? "");
  return m ? Number(m[1]) : 0;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/** Control files take one write each; a write the kernel refuses throws with its errno. */
function writeControl(file: string, value: string): void {
  fs.writeFileSync(file, value);
}

function chownIfExists(file: string, owner: { uid: number; gid: number }): void {
  if (fs.existsSync(file)) fs.chownSync(file, owner.uid, owner.gid);
}

function isWritableDir(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

function tryRmdir(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // busy or gone
  }
}
