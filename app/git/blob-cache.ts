/**
 * Small blobs by (repository, commit, path), held in memory: what a commit holds never changes, so
 * a hot file is answered without a round trip to cat-file (the 200s and 304s of file browsing and
 * the edge's misses). Keyed by repository id, not by path on disk: a repository created again
 * under the same name starts with nothing cached. Visibility is checked before every lookup.
 */
import { LRUCache } from "lru-cache";

export interface CachedBlob {
  readonly oid: string;
  readonly data: Buffer;
}

/** Blobs larger than this are not kept (they are rarer, and would push many small ones out). */
const MAX_CACHED_BLOB_BYTES = 64 * 1024;

export class BlobCache {
  private readonly lru: LRUCache<string, CachedBlob>;

  /** @param maxBytes the memory all entries may take together */
  constructor(maxBytes = 64 * 1024 * 1024) {
    this.lru = new LRUCache({ maxSize: maxBytes, sizeCalculation: (v, k) => v.data.length + k.length });
  }

  get(repoId: number, commit: string, path: string): CachedBlob | undefined {
    return this.lru.get(key(repoId, commit, path));
  }

  set(repoId: number, commit: string, path: string, blob: CachedBlob): void {
    if (blob.data.length <= MAX_CACHED_BLOB_BYTES) this.lru.set(key(repoId, commit, path), blob);
  }
}

const key = (repoId: number, commit: string, path: string) => `${repoId}\0${commit}\0${path}`;
