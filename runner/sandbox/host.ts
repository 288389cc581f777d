/**
 * What a sandbox host prepares once, while it may still be root: the runner's delegated cgroup
 * parent (runner/sandbox/cgroup.ts). A runner process calls prepareSandboxHost before it drops
 * its privileges; a process that never called it (the app in in-process mode, tests) prepares on
 * first use.
 */
import { type CgroupHostOptions, CgroupParent } from "./cgroup";

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
