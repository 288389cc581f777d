/**
 * What a sandbox host prepares once, while it may still be root: the runner's delegated cgroup
 * parent (cgroup.ts) and, for a runner that will drop its privileges, the volume its workspace
 * goes in (volume.ts). A runner process calls prepareSandboxHost (index.ts) before the drop; a
 * process that never does (the app in in-process mode, tests) prepares the cgroup parent on
 * first use and, being root, makes one volume per workspace.
 */
import { parseRunnerEnv } from "../../app/wire/runner-env";
import { type CgroupHostOptions, CgroupParent } from "./cgroup";
import { DEFAULT_LIMITS, type SandboxLimits } from "./types";
import { createVolume, DEFAULT_VOLUME_PARENT, sweepVolumes, type WorkspaceVolume } from "./volume";

/** Host user a root runner drops to for its sandboxes: RLIMIT_NPROC does not bind host root. */
export const ROOT_DROP_UID = 65534;
export const ROOT_DROP_OWNER = { uid: ROOT_DROP_UID, gid: ROOT_DROP_UID } as const;

let parent: { value: CgroupParent } | { error: Error } | undefined;

/** Creates and delegates the cgroup parent (as root) or finds it (after the drop); memoised. */
export function cgroupParent(opts?: CgroupHostOptions): CgroupParent {
  if (!parent) {
    try {
      parent = { value: CgroupParent.prepare({ owner: ROOT_DROP_OWNER, ...opts }) };
    } catch (err) {
      parent = { error: err as Error };
    }
  }
  if ("error" in parent) throw parent.error;
  return parent.value;
}

/** Forgets the prepared parent (tests that prepare against another root). */
export function forgetSandboxHost(): void {
  parent = undefined;
}

/** The limits: DEFAULT_LIMITS with the PLUE_SANDBOX_* / PLUE_WORKSPACE_SIZE overrides. */
export function limitsFromEnv(env: NodeJS.ProcessEnv = process.env): SandboxLimits {
  const c = parseRunnerEnv(env);
  return {
    ...DEFAULT_LIMITS,
    ...(c.PLUE_SANDBOX_MEMORY === undefined ? {} : { sandboxMemoryBytes: c.PLUE_SANDBOX_MEMORY }),
    ...(c.PLUE_SANDBOX_PIDS === undefined ? {} : { sandboxPids: c.PLUE_SANDBOX_PIDS }),
    ...(c.PLUE_SANDBOX_CPUS === undefined ? {} : { sandboxCpus: c.PLUE_SANDBOX_CPUS }),
    ...(c.PLUE_WORKSPACE_SIZE === undefined ? {} : { workspaceBytes: c.PLUE_WORKSPACE_SIZE }),
  };
}

/** The volume made before a privilege drop, for this process's (one) workload. */
let reserved: WorkspaceVolume | undefined;

/** Root only: sweeps dead runners' volumes and makes this process's own. */
export async function reserveWorkspaceVolume(
  bytes: number,
  parentDir = DEFAULT_VOLUME_PARENT,
): Promise<void> {
  if (reserved || process.getuid?.() !== 0) return;
  await sweepVolumes(parentDir);
  reserved = await createVolume(parentDir, bytes, ROOT_DROP_OWNER, `r-${process.pid}`);
}

/**
 * The volume a new workspace goes in: the reserved one (after a drop), a new one (as root), or
 * undefined where neither is possible (an unprivileged runner without a reserved volume; in a
 * runner pod, whose workspace emptyDir has the size limit).
 */
export async function acquireWorkspaceVolume(
  limits: SandboxLimits,
  parentDir: string = DEFAULT_VOLUME_PARENT,
): Promise<WorkspaceVolume | undefined> {
  if (reserved) {
    const v = reserved;
    reserved = undefined;
    return v;
  }
  if (process.getuid?.() !== 0) return undefined;
  return createVolume(parentDir, limits.workspaceBytes, ROOT_DROP_OWNER);
}
