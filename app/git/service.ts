/**
 * The git area in one object, built once per process and handed around in the AppContext:
 * the repository store, the cat-file pool and object reader, the push-event bus, and who may
 * read or write. Other areas use it to read files at a commit and to subscribe to pushes.
 */
import type { AuthChanges } from "../auth/changes";
import type { TokenAuth, User } from "../auth/tokens";
import type { Db } from "../db";
import type { Logger } from "../log";
import type { RefListing, TreeEntry } from "../wire/api";
import { isZeroOid, validateTreePath } from "../wire/names";
import { BlobCache } from "./blob-cache";
import { CatFilePool, type CatFilePoolOptions } from "./catfile-pool";
import { git } from "./exec";
import { ObjectReader } from "./objects";
import type { RefUpdate } from "./pktline";
import { type PushEvent, PushEventBus, type PushListener, recordPushEvents } from "./push-events";
import { type Caller, RepoStore, type Repository } from "./repos";
import { RepoSizes } from "./size";

/**
 * Maps a workload's task token to the one repository it may read (clone/fetch). Installed by the
 * area that issues task tokens; without one, only API tokens authenticate git clients.
 */
export type TaskTokenResolver = (token: string) => Promise<{ repoId: number } | undefined>;

/** How many branches and tags `listRefs` returns at most (a ref switcher, not an export). */
export const MAX_LISTED_REFS = 1000;

export interface GitServiceOptions {
  db: Db;
  dataDir: string;
  log: Logger;
  /** Invalidates the repository cache on every replica when a repository changes. */
  auth: AuthChanges;
  pool?: CatFilePoolOptions;
  /** The cached token lookup git clients authenticate through (app/auth/tokens.ts). */
  tokens: TokenAuth;
}

export class GitService {
  readonly repos: RepoStore;
  readonly pool: CatFilePool;
  readonly objects: ObjectReader;
  /** Small blobs by (repository, commit, path): see blob-cache.ts. */
  readonly blobs = new BlobCache();
  readonly pushEvents: PushEventBus;
  /** On-disk sizes for the per-repository quota: see size.ts. */
  readonly sizes = new RepoSizes();
  private readonly db: Db;
  private readonly log: Logger;
  private taskTokens: TaskTokenResolver | undefined;
  private readonly tokens: TokenAuth;

  constructor(options: GitServiceOptions) {
    this.db = options.db;
    this.log = options.log;
    this.tokens = options.tokens;
    this.repos = new RepoStore(options.db, options.dataDir, options.auth);
    this.pool = new CatFilePool(options.pool);
    this.objects = new ObjectReader(this.pool);
    this.pushEvents = new PushEventBus(options.log);
  }

  setTaskTokenResolver(resolver: TaskTokenResolver | undefined): void {
    this.taskTokens = resolver;
  }

  /** Subscribes to push events; returns the unsubscribe function. */
  onPush(listener: PushListener): () => void {
    return this.pushEvents.subscribe(listener);
  }

  /**
   * The caller a git client's token stands for: an API user, or a workload (task token).
   * `undefined` when the token is neither, or when a Basic `username` is not the user token's.
   */
  async callerForToken(token: string, username?: string): Promise<Caller | undefined> {
    const user = await this.tokens.user(token, username);
    if (user) return { user };
    const task = await this.taskTokens?.(token);
    return task ? { taskRepoId: task.repoId } : undefined;
  }

  /** Deletes a repository: its row, its directory, and the cat-file processes reading it. */
  async deleteRepo(repo: Repository): Promise<void> {
    await this.repos.delete(repo);
    this.pool.retire(this.repos.gitDir(repo));
  }

  /** Bytes the repository takes on disk (cached for a few seconds; see size.ts). */
  repoSize(repo: Repository): Promise<number> {
    return this.sizes.of(this.repos.gitDir(repo));
  }

  /** Records what a push changed and tells subscribers, one event per updated ref. */
  async recordPush(repo: Repository, pusher: User | undefined, updates: RefUpdate[]): Promise<PushEvent[]> {
    if (updates.length === 0) return [];
    const events = await recordPushEvents(
      this.db,
      { id: repo.id, owner: repo.owner, name: repo.name },
      pusher ? { id: pusher.id, username: pusher.username } : null,
      updates,
    );
    for (const e of events) this.pushEvents.emit(e);
    this.log.info({ repo: `${repo.owner}/${repo.name}`, refs: events.map((e) => e.ref) }, "push");
    return events;
  }

  /**
   * For pushes without a status report: keeps the updates whose ref now has the value the push
   * asked for (a best effort; clients since git 1.6 always ask for the report).
   */
  async verifyUpdates(repo: Repository, updates: RefUpdate[]): Promise<RefUpdate[]> {
    const gitDir = this.repos.gitDir(repo);
    const now = await Promise.all(updates.map((u) => this.pool.use(gitDir, "shared", (p) => p.info(u.ref))));
    return updates.filter((u, i) => (isZeroOid(u.after) ? now[i] === undefined : now[i]?.oid === u.after));
  }

  // ---- reading, for other areas (workflow definitions, prompts, the UI's server side) ----

  /** Resolves a branch, tag, full ref, `HEAD` or full commit id to a commit id. */
  resolveRef(repo: Repository, ref: string): Promise<string | undefined> {
    return this.objects.resolveCommit(this.repos.gitDir(repo), ref);
  }

  /**
   * Branches and tags, sorted by name, each with its commit. Tags that point at something other
   * than a commit (a tree, a blob) are left out: there is nothing to browse at them.
   */
  async listRefs(repo: Repository, limit = MAX_LISTED_REFS): Promise<Omit<RefListing, "default_branch">> {
    const out = await git(
      [
        "for-each-ref",
        `--count=${limit + 1}`,
        "--sort=refname",
        "--format=%(refname)%00%(objecttype)%00%(objectname)%00%(*objecttype)%00%(*objectname)",
        "refs/heads/",
        "refs/tags/",
      ],
      { gitDir: this.repos.gitDir(repo) },
    );
    const listing: Omit<RefListing, "default_branch"> = { branches: [], tags: [], truncated: false };
    const lines = out.split("\n").filter(Boolean);
    for (const line of lines.slice(0, limit)) {
      const [ref, type, oid, peeledType, peeled] = line.split("\0");
      const commit = type === "commit" ? oid : peeledType === "commit" ? peeled : undefined;
      if (!ref || !commit) continue;
      if (ref.startsWith("refs/heads/")) listing.branches.push({ name: ref.slice(11), commit });
      else listing.tags.push({ name: ref.slice(10), commit });
    }
    listing.truncated = lines.length > limit;
    return listing;
  }

  /** A file's bytes at a commit, or undefined if the commit or path does not exist / is not a file. */
  async readFile(repo: Repository, commit: string, path: string): Promise<Buffer | undefined> {
    const gitDir = this.repos.gitDir(repo);
    const found = await this.objects.lookup(gitDir, commit, validateTreePath(path));
    if (!found.found || found.object.type !== "blob") return undefined;
    return (await this.objects.read(gitDir, found.object.oid))?.data;
  }

  /** A directory's entries at a commit ("" is the root), or undefined if it is not a directory. */
  async listTree(repo: Repository, commit: string, path: string): Promise<TreeEntry[] | undefined> {
    const gitDir = this.repos.gitDir(repo);
    const found = await this.objects.lookup(gitDir, commit, validateTreePath(path));
    if (!found.found || found.object.type !== "tree") return undefined;
    return this.objects.readTree(gitDir, found.object.oid);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
