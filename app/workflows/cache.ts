/**
 * Loaded workflow files are cached by the file's blob id: the same blob always loads the same way, as
 * long as the prompts it imported are unchanged (they are re-read and compared on every hit).
 */

import type { Deadline } from "./budget";
import { type EvaluateOptions, type LoadResult, loadWorkflows, type WorkflowFile } from "./evaluate";

/** A bounded map that forgets the least recently used entry first. */
export class LruCache<K, V> {
  private readonly map = new Map<K, V>();

  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new Error("maxEntries must be a positive integer");
  }

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) return undefined;
    this.map.delete(key); // re-insert: Map iteration order is the recency order
    this.map.set(key, v);
    return v;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.maxEntries) this.map.delete(this.map.keys().next().value as K);
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}

type Entry = { result: LoadResult; prompts: Map<string, string | undefined> };

export class WorkflowCache {
  private readonly entries: LruCache<string, Entry>;
  hits = 0;
  misses = 0;

  constructor(
    maxEntries = 500,
    private readonly options: EvaluateOptions = {},
  ) {
    this.entries = new LruCache(maxEntries);
  }

  /** `loadWorkflows(file)`, reusing the result for the same blob id, path and prompts. */
  load(blobId: string, file: WorkflowFile, deadline?: Deadline): LoadResult {
    const key = `${blobId}\0${file.path}`;
    const cached = this.entries.get(key);
    if (cached && [...cached.prompts].every(([name, text]) => file.readPrompt(name) === text)) {
      this.hits++;
      return cached.result;
    }
    this.misses++;
    const prompts = new Map<string, string | undefined>();
    const result = loadWorkflows(
      {
        ...file,
        readPrompt: (name) => {
          const text = file.readPrompt(name);
          prompts.set(name, text);
          return text;
        },
      },
      { ...this.options, ...(deadline ? { deadline } : {}) },
    );
    // A timeout depends on the machine's load, not on the file: try again next time.
    if (result.ok || !result.retryable) this.entries.set(key, { result, prompts });
    return result;
  }

  get size(): number {
    return this.entries.size;
  }
}
