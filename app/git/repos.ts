/**
 * Repositories: a row in `repositories` and a bare repository at
 * `<data dir>/repos/<owner>/<name>.git`. Names are validated before they come near a path, and
 * the on-disk path is always built from the stored (validated) row, never from a request.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { AuthCache, AuthChanges } from "../auth/changes";
import { affiliatedRepoSql, type Caller } from "../auth/permissions";
import type { Db, Queryable } from "../db";
import { validateBranchName, validateOwner, validateRepoName } from "../wire/names";
import { git } from "./exec";

export type Visibility = "public" | "private";

export interface Repository {
  id: number;
  owner: string;
  name: string;
  ownerId: number | null;
  visibility: Visibility;
  defaultBranch: string;
  description: string;
  createdAt: string;
}

/** Who is asking (app/auth/permissions.ts decides what they may do). */
export type { Caller };

/** What `RepoStore.update` may change (PATCH /api/repos/:owner/:repo). */
export interface RepoSettings {
  visibility?: Visibility;
  defaultBranch?: string;
  description?: string;
}

/** The owner already has as many repositories as they may (PLUE_MAX_REPOS_PER_USER). */
export class RepoLimitError extends Error {
  constructor(
    owner: string,
    readonly limit: number,
  ) {
    super(`${owner} already owns ${limit} repositories, the most a user may (PLUE_MAX_REPOS_PER_USER)`);
    this.name = "RepoLimitError";
  }
}

/** Advisory-lock class for "repositories of one owner" (ASCII "repo"). */
const OWNER_LOCK = 0x7265706f;

export class RepoExistsError extends Error {
  constructor(owner: string, name: string) {
    super(`repository ${owner}/${name} already exists`);
    this.name = "RepoExistsError";
  }
}

interface Row {
  id: number;
  owner: string;
  name: string;
  owner_id: number | null;
  visibility: Visibility;
  default_branch: string;
  description: string;
  created_at: Date;
}

const COLUMNS =
  "id::int AS id, owner, name, owner_id::int AS owner_id, visibility, default_branch, description, created_at";

const toRepository = (r: Row): Repository => ({
  id: r.id,
  owner: r.owner,
  name: r.name,
  ownerId: r.owner_id,
  visibility: r.visibility,
  defaultBranch: r.default_branch,
  description: r.description,
  createdAt: new Date(r.created_at).toISOString(),
});

/**
 * Settings every hosted repository gets. Written once at creation; constants only.
 * - fsckObjects: a push with corrupt or malicious objects is refused, not stored.
 * - allowReachableSHA1InWant/allowFilter: runners fetch one commit, shallow or partial.
 */
const REPO_CONFIG = `[receive]
\tfsckObjects = true
\tdenyNonFastForwards = false
[uploadpack]
\tallowReachableSHA1InWant = true
\tallowFilter = true
[http]
\treceivepack = true
`;

/** The backstop: a change reaches every replica's cache through `repo:<id>` at once (see update). */
const REPO_CACHE_MS = 30_000;
const REPO_CACHE_ENTRIES = 1000;

/** Names are unique regardless of case, and so are cache entries. */
const cacheKey = (owner: string, name: string) => `${owner.toLowerCase()}/${name.toLowerCase()}`;

export class RepoStore {
  /** `<data dir>/repos`: GIT_PROJECT_ROOT for http-backend. */
  readonly root: string;
  private readonly cache: AuthCache<Repository>;

  constructor(
    private readonly db: Db,
    dataDir: string,
    private readonly auth: AuthChanges,
  ) {
    this.root = path.join(dataDir, "repos");
    this.cache = auth.cache({ max: REPO_CACHE_ENTRIES, ttlMs: REPO_CACHE_MS });
  }

  gitDir(repo: Pick<Repository, "owner" | "name">): string {
    // Stored names passed validation at creation; checking again keeps this function safe alone.
    return path.join(this.root, validateOwner(repo.owner), `${validateRepoName(repo.name)}.git`);
  }

  async find(owner: string, name: string): Promise<Repository | undefined> {
    const r = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM repositories WHERE lower(owner) = lower($1) AND lower(name) = lower($2)`,
      [owner, name],
    );
    return r.rows[0] && toRepository(r.rows[0]);
  }

  /**
   * `find` through a cache of repositories that exist, for the hot read paths (file serving,
   * access checks). Each entry is tagged `repo:<id>`: `update` and `delete` drop it on every
   * replica (AuthChanges), so a repository made private is private everywhere at once. A missing
   * repository is not cached (a create is seen at once).
   */
  async findCached(owner: string, name: string): Promise<Repository | undefined> {
    return this.cache.get(cacheKey(owner, name), async () => {
      const found = await this.find(owner, name);
      return found && { value: found, tags: [`repo:${found.id}`] };
    });
  }

  /** Changes a repository's settings; every replica's caches drop it. Undefined: no such repository. */
  async update(repo: Repository, settings: RepoSettings): Promise<Repository | undefined> {
    const branch = settings.defaultBranch === undefined ? null : validateBranchName(settings.defaultBranch);
    const r = await this.db.query<Row>(
      `UPDATE repositories SET visibility = COALESCE($2, visibility),
              default_branch = COALESCE($3, default_branch), description = COALESCE($4, description)
        WHERE id = $1 RETURNING ${COLUMNS}`,
      [repo.id, settings.visibility ?? null, branch, settings.description ?? null],
    );
    // What a clone checks out follows the default branch (GitHub's and Forgejo's behaviour).
    if (branch !== null && r.rows[0]) {
      await git(["symbolic-ref", "HEAD", `refs/heads/${branch}`], { gitDir: this.gitDir(repo) });
    }
    await this.auth.changed(`repo:${repo.id}`);
    return r.rows[0] && toRepository(r.rows[0]);
  }

  /**
   * Deletes the row (its push events, workflow definitions and runs go with it; sessions about it
   * keep their history without it), then the repository on disk: moved aside first, so its name
   * is free at once, and removed after.
   */
  async delete(repo: Repository): Promise<void> {
    await this.db.query("DELETE FROM repositories WHERE id = $1", [repo.id]);
    await this.auth.changed(`repo:${repo.id}`);
    const trash = path.join(this.root, `.deleted-${repo.id}-${randomBytes(6).toString("hex")}`);
    try {
      fs.renameSync(this.gitDir(repo), trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      return;
    }
    await fs.promises.rm(trash, { recursive: true, force: true });
  }

  async byId(id: number): Promise<Repository | undefined> {
    const r = await this.db.query<Row>(`SELECT ${COLUMNS} FROM repositories WHERE id = $1`, [id]);
    return r.rows[0] && toRepository(r.rows[0]);
  }

  /**
   * The repositories `user` holds a role on beyond public read (app/auth/permissions.ts): owned,
   * collaborations, its organizations' and teams', by owner and name.
   */
  async listAffiliated(user: { id: number }): Promise<Repository[]> {
    // The condition's subqueries name their own tables: the select list is the repository's alone.
    const r = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM repositories r WHERE ${affiliatedRepoSql(1)}
        ORDER BY lower(r.owner), lower(r.name)`,
      [user.id],
    );
    return r.rows.map(toRepository);
  }

  async listOwnedBy(userId: number): Promise<Repository[]> {
    const r = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM repositories WHERE owner_id = $1 ORDER BY lower(name)`,
      [userId],
    );
    return r.rows.map(toRepository);
  }

  /**
   * Creates the row and the bare repository. The repository is initialised under a temporary
   * name and renamed into place inside the row's transaction, so a crash leaves either nothing
   * or a directory without a row (which the next create of that name moves aside).
   */
  async create(
    owner: { id: number; username: string },
    input: {
      name: string;
      visibility?: Visibility;
      defaultBranch?: string;
      description?: string;
      maxRepos?: number;
    },
  ): Promise<Repository> {
    validateOwner(owner.username);
    validateRepoName(input.name);
    const branch = validateBranchName(input.defaultBranch ?? "main");
    return this.db.transaction(async (tx) => {
      if (input.maxRepos) {
        // Serialises this owner's creations (on every replica) so that racing ones cannot both
        // pass the count; the lock ends with the transaction.
        await tx.query("SELECT pg_advisory_xact_lock($1, $2)", [OWNER_LOCK, owner.id]);
        const n = await tx.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM repositories WHERE owner_id = $1",
          [owner.id],
        );
        if (n.rows[0]!.n >= input.maxRepos) throw new RepoLimitError(owner.username, input.maxRepos);
      }
      const row = await insertRow(
        tx,
        owner,
        input.name,
        input.visibility ?? "public",
        branch,
        input.description,
      );
      const repo = toRepository(row);
      await this.initOnDisk(repo);
      return repo;
    });
  }

  private async initOnDisk(repo: Repository): Promise<void> {
    const final = this.gitDir(repo);
    const ownerDir = path.dirname(final);
    fs.mkdirSync(ownerDir, { recursive: true });
    const tmp = path.join(ownerDir, `.tmp-${randomBytes(6).toString("hex")}.git`);
    try {
      await git(["init", "--quiet", "--bare", "--template=", `--initial-branch=${repo.defaultBranch}`, tmp]);
      fs.appendFileSync(path.join(tmp, "config"), REPO_CONFIG);
      if (fs.existsSync(final)) fs.renameSync(final, `${final}.orphan-${Date.now()}`);
      fs.renameSync(tmp, final);
    } catch (err) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
  }
}

async function insertRow(
  tx: Queryable,
  owner: { id: number; username: string },
  name: string,
  visibility: Visibility,
  branch: string,
  description = "",
): Promise<Row> {
  const r = await tx.query<Row>(
    `INSERT INTO repositories (owner, name, owner_id, visibility, default_branch, description)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT DO NOTHING
     RETURNING ${COLUMNS}`,
    [owner.username, name, owner.id, visibility, branch, description],
  );
  if (!r.rows[0]) throw new RepoExistsError(owner.username, name);
  return r.rows[0];
}
