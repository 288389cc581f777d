/**
 * A repository's size on disk, as `git count-objects -v` reports it: packs, loose objects and
 * garbage (KiB each, summed). It stats the pack files and lists the loose-object directories, so
 * it is cheap; results are still cached briefly per repository, and dropped after each push.
 */
import { git } from "./exec";

const CACHE_MS = 10_000;
const CACHE_ENTRIES = 1000;

export class RepoSizes {
  private readonly cache = new Map<string, { bytes: number; expires: number }>();

  /** Bytes used by the repository at `gitDir`. */
  async of(gitDir: string): Promise<number> {
    const now = Date.now();
    const hit = this.cache.get(gitDir);
    if (hit && hit.expires > now) return hit.bytes;
    const bytes = parseCountObjects(await git(["count-objects", "-v"], { gitDir }));
    this.cache.delete(gitDir);
    if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(gitDir, { bytes, expires: now + CACHE_MS });
    return bytes;
  }

  /** The repository changed (a push): measure it again next time. */
  forget(gitDir: string): void {
    this.cache.delete(gitDir);
  }
}

/** `size`, `size-pack` and `size-garbage` (KiB) of `git count-objects -v`, in bytes. */
export function parseCountObjects(out: string): number {
  let kib = 0;
  for (const line of out.split("\n")) {
    const m = /^(size|size-pack|size-garbage): (\d+)$/.exec(line.trim());
    if (m) kib += Number(m[2]);
  }
  return kib * 1024;
}
