/**
 * Reading a repository's objects through the cat-file pool: resolving refs, looking a path up
 * in a commit (id and size only), listing trees and reading blobs. Every function checks a
 * process out for as short a time as it can and pipelines what it asks.
 */
import { Readable } from "node:stream";
import type { EntryType, TreeEntry } from "../wire/api";
import { fullOid } from "../wire/names";
import type { CatFileProcess, ObjectContent, ObjectInfo } from "./catfile";
import { CatFileError } from "./catfile";
import type { CatFilePool, CheckoutMode } from "./catfile-pool";

export type PathLookup =
  | { found: false; reason: "commit" | "path" }
  | { found: true; commit: string; object: ObjectInfo };

const typeOfMode = (mode: string): EntryType =>
  mode === "040000" ? "tree" : mode === "120000" ? "symlink" : mode === "160000" ? "commit" : "blob";

/** Parses a raw tree object: repeated `<octal mode> <name>\0<binary oid>`. */
export function parseTree(data: Buffer, oidBytes: number): TreeEntry[] {
  const entries: TreeEntry[] = [];
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(32, i);
    const nul = data.indexOf(0, sp + 1);
    if (sp < 0 || nul < 0 || nul + 1 + oidBytes > data.length)
      throw new CatFileError("malformed tree object");
    const mode = data.toString("latin1", i, sp).padStart(6, "0");
    entries.push({
      name: data.toString("utf8", sp + 1, nul),
      type: typeOfMode(mode),
      mode,
      sha: data.toString("hex", nul + 1, nul + 1 + oidBytes),
    });
    i = nul + 1 + oidBytes;
  }
  return entries;
}

export class ObjectReader {
  constructor(private readonly pool: CatFilePool) {}

  /**
   * Resolves `HEAD`, a branch, a tag (peeled to its commit), a full ref name or a full commit id
   * to a commit id. Branches win over tags of the same name. The name must have passed
   * `validateRefName` (or be a full id): it is embedded in a revision expression.
   */
  async resolveCommit(gitDir: string, ref: string): Promise<string | undefined> {
    const candidates =
      fullOid(ref) !== undefined
        ? [fullOid(ref)!]
        : ref === "HEAD" || ref.startsWith("refs/")
          ? [ref]
          : [`refs/heads/${ref}`, `refs/tags/${ref}`];
    const infos = await this.leased(gitDir, "shared", (p) =>
      Promise.all(candidates.map((c) => p.info(`${c}^{commit}`))),
    );
    return infos.find((i) => i?.type === "commit")?.oid;
  }

  /** The object at `path` in `commit` (root tree for ""), without reading its content. */
  async lookup(gitDir: string, commit: string, path: string): Promise<PathLookup> {
    const [c, o] = await this.leased(gitDir, "shared", (p) =>
      Promise.all([p.info(commit), p.info(`${commit}:${path}`)]),
    );
    if (c?.type !== "commit") return { found: false, reason: "commit" };
    if (!o) return { found: false, reason: "path" };
    return { found: true, commit: c.oid, object: o };
  }

  /** A tree's entries, with sizes for blobs and symlinks. */
  async readTree(gitDir: string, treeOid: string): Promise<TreeEntry[] | undefined> {
    return this.leased(gitDir, "shared", async (p) => {
      const tree = await p.read(treeOid);
      if (tree?.info.type !== "tree") return undefined;
      const entries = parseTree(tree.data, treeOid.length / 2);
      const sized = entries.filter((e) => e.type === "blob" || e.type === "symlink");
      const infos = await Promise.all(sized.map((e) => p.info(e.sha)));
      sized.forEach((e, i) => {
        if (infos[i]) e.size = infos[i]!.size;
      });
      return entries;
    });
  }

  /** A whole object in memory (for small objects: trees, workflow files, small blobs). */
  read(gitDir: string, spec: string): Promise<{ info: ObjectInfo; data: Buffer } | undefined> {
    return this.leased(gitDir, "shared", (p) => p.read(spec));
  }

  /**
   * Streams an object. The process stays checked out until `body` ends or is destroyed; a body
   * destroyed early leaves it dirty, and it is killed rather than reused.
   */
  async stream(gitDir: string, spec: string): Promise<{ info: ObjectInfo; body: Readable } | undefined> {
    const c = await this.leased(gitDir, "exclusive", (p) => p.stream(spec));
    return c && { info: c.info, body: c.body };
  }

  /**
   * The commit's header and the content at `commit:path`, asked together (one round trip, on a
   * shared process). Content up to `maxBuffered` bytes comes in memory; a larger object comes
   * back as its header only (neither `data` nor `body`): `stream` it by id.
   */
  async contentsAt(
    gitDir: string,
    commit: string,
    path: string,
    maxBuffered: number,
  ): Promise<{ commit: ObjectInfo | undefined; content: ObjectContent | undefined }> {
    const [c, content] = await this.leased(gitDir, "shared", (p) =>
      Promise.all([p.info(commit), p.contents(`${commit}:${path}`, maxBuffered, "skip")]),
    );
    return { commit: c, content };
  }

  /**
   * Runs one exchange on a checked-out process. If it yields a stream, the process is given back
   * when the stream ends or closes; otherwise at once. A process that died before answering is
   * replaced and the exchange tried once more.
   */
  private async leased<T>(
    gitDir: string,
    mode: CheckoutMode,
    fn: (p: CatFileProcess) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const p = await this.pool.acquire(gitDir, mode);
      let result: T;
      try {
        result = await fn(p);
      } catch (err) {
        this.pool.release(p);
        if (attempt === 0 && err instanceof CatFileError) continue;
        throw err;
      }
      const body = (result as { body?: unknown } | undefined)?.body;
      if (!(body instanceof Readable)) {
        this.pool.release(p);
        return result;
      }
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        this.pool.release(p);
      };
      body.once("end", release);
      body.once("close", release);
      return result;
    }
  }
}
