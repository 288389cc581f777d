/**
 * The rule for expiring idle engineer stacks (the listing and the `plue stack` verb that uses it are
 * a later delivery task): a staging-<engineer> stack whose last update is older than the TTL.
 */
import { stackKind } from "./kind";

export interface StackSummary {
  /** Stack name as `pulumi stack ls --json` reports it. */
  readonly name: string;
  /** ISO time of the last update; undefined when never deployed. */
  readonly lastUpdate?: string;
}

/** Engineer stacks idle for longer than `ttlMs` at `now`; shared stacks never expire. */
export function idleStacks(stacks: readonly StackSummary[], ttlMs: number, now: Date): StackSummary[] {
  return stacks.filter((s) => {
    const name = s.name.split("/").pop() ?? s.name;
    let engineer = false;
    try {
      engineer = stackKind(name).kind === "staging-engineer";
    } catch {
      return false;
    }
    if (!engineer) return false;
    const last = s.lastUpdate ? Date.parse(s.lastUpdate) : Number.NaN;
    return Number.isNaN(last) || now.getTime() - last > ttlMs;
  });
}
