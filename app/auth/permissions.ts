/**
 * Who may do what to a repository: the one rule every route and service asks (docs/accounts.md,
 * "Repository permissions"). A caller's role on a repository is the highest of:
 * - admin: a site admin, the repository's owner, an owner of the organization that owns it;
 * - the permission of a collaborator on it, or of a team (of its organization) holding it;
 * - read: a member of the organization that owns it (GitHub's default base permission);
 * - read: anyone, even anonymous, on a public repository; a workload's task token on its repository.
 * An action needs the role of the same name and, for a token, the scope `repo:<action>` (reading a
 * public repository needs no scope: anonymous callers may do it too).
 *
 * The stored part (collaborators, teams, org membership) is cached per (user, repository), tagged
 * `user:<id>` and `repo:<id>`; whoever changes one of those calls `auth.changed(tag)` after commit
 * and every replica drops the entry at once (app/auth/changes.ts). A lookup queries the database
 * outside any transaction: never ask inside one (PGlite has a single connection; ask before).
 */
import type { Queryable } from "../db";
import { AppError, forbidden, notFound, unauthorized } from "../errors";
import { type Action, ROLES, type Role } from "../wire/accounts";
import type { AuthCache, AuthChanges } from "./changes";
import { hasScope, missingScope } from "./scopes";
import type { User } from "./tokens";

export type { Action, Role };

/** Who is asking: an API user, and/or a workload whose task token grants read access to one repo. */
export interface Caller {
  user?: User;
  taskRepoId?: number;
}

/** What the rule needs of a repository (app/git/repos.ts `Repository` has it). */
export interface RepoRef {
  id: number;
  owner: string;
  name: string;
  ownerId: number | null;
  visibility: "public" | "private";
}

/** The answer to a caller without read access, word for word the answer for a missing repository. */
export const repoNotFound = (owner: string, name: string) =>
  notFound(`repository ${owner}/${name} not found`);

/**
 * The refusal of a caller who may read but lacks `action`'s role. When its token lacks the scope
 * too, the answer says so as well: being given the role alone would not be enough.
 */
export function needsRole(repo: Pick<RepoRef, "owner" | "name">, action: Action, tokenLacksScope = false) {
  const message = `you need ${action} access to ${repo.owner}/${repo.name}`;
  if (!tokenLacksScope) return forbidden(message);
  return new AppError(403, "forbidden", `${message}, and this token lacks the scope repo:${action}`, {
    missing_scope: `repo:${action}`,
  });
}

const rank = (role: Role | undefined | null): number => (role ? ROLES.indexOf(role) + 1 : 0);
const higher = (a: Role | undefined, b: Role | undefined | null): Role | undefined =>
  rank(b) > rank(a) ? (b ?? undefined) : a;

/** The ranks of `ROLES` in SQL: read 1, write 2, admin 3. */
const RANK_SQL = (column: string) =>
  `CASE ${column} WHEN 'read' THEN 1 WHEN 'write' THEN 2 WHEN 'admin' THEN 3 ELSE 0 END`;

/**
 * The stored roles of user `$2` on repository `$1` owned by `$3`, one rank per row: collaborator,
 * team (only teams of the owning organization), organization owner (3) or member (1).
 */
const STORED_ROLE_SQL = `
  SELECT max(rank)::int AS rank FROM (
    SELECT ${RANK_SQL("permission")} AS rank FROM collaborators WHERE repo_id = $1 AND user_id = $2
    UNION ALL
    SELECT ${RANK_SQL("t.permission")} FROM team_repos tr
      JOIN teams t ON t.id = tr.team_id AND t.org_id = $3
      JOIN team_members tm ON tm.team_id = t.id AND tm.user_id = $2
     WHERE tr.repo_id = $1
    UNION ALL
    SELECT CASE role WHEN 'owner' THEN 3 ELSE 1 END FROM org_members WHERE org_id = $3 AND user_id = $2
  ) roles`;

/**
 * A SQL condition true for the repositories (alias `r`) user `$<param>` holds a role on beyond
 * public read: owned, collaborations, its organizations' (and their teams'). The same rule as
 * `role`, for listings that cannot ask one repository at a time.
 */
export function affiliatedRepoSql(userParam: number): string {
  const u = `$${userParam}::bigint`;
  return `(r.owner_id = ${u}
    OR EXISTS (SELECT 1 FROM collaborators c WHERE c.repo_id = r.id AND c.user_id = ${u})
    OR EXISTS (SELECT 1 FROM org_members om WHERE om.org_id = r.owner_id AND om.user_id = ${u})
    OR EXISTS (SELECT 1 FROM team_repos tr JOIN teams t ON t.id = tr.team_id AND t.org_id = r.owner_id
                 JOIN team_members tm ON tm.team_id = t.id AND tm.user_id = ${u}
                WHERE tr.repo_id = r.id))`;
}

/** `affiliatedRepoSql`, public repositories, and (for a site admin) every repository: what `$<param>` may read. */
export function readableRepoSql(userParam: number, admin: boolean): string {
  return admin
    ? `($${userParam}::bigint IS NOT NULL)`
    : `(r.visibility = 'public' OR ${affiliatedRepoSql(userParam)})`;
}

/** What services take to decide access (RunServiceDeps, SessionServiceDeps). */
export interface RepoPermissions {
  role(caller: Caller, repo: RepoRef): Promise<Role | undefined>;
  can(caller: Caller, repo: RepoRef, action: Action): Promise<boolean>;
  authorize(caller: Caller, repo: RepoRef, action: Action): Promise<void>;
}

export class Permissions implements RepoPermissions {
  private readonly stored: AuthCache<Role | null>;

  constructor(
    private readonly db: Queryable,
    readonly auth: AuthChanges,
  ) {
    this.stored = auth.cache<Role | null>({ max: 50_000 });
  }

  /** The caller's role on the repository; undefined: none (it may not even know it exists). */
  async role(caller: Caller, repo: RepoRef): Promise<Role | undefined> {
    const { user } = caller;
    if (user && (user.is_admin || user.id === repo.ownerId)) return "admin";
    let role: Role | undefined =
      repo.visibility === "public" || caller.taskRepoId === repo.id ? "read" : undefined;
    if (user && repo.ownerId !== null) role = higher(role, await this.storedRole(user.id, repo));
    return role;
  }

  /** Whether the caller may do `action` (its role and its token's scopes). */
  async can(caller: Caller, repo: RepoRef, action: Action): Promise<boolean> {
    try {
      await this.authorize(caller, repo, action);
      return true;
    } catch (err) {
      if (err instanceof AppError) return false;
      throw err;
    }
  }

  /**
   * Throws unless the caller may do `action`: 404 without read access (as if it did not exist),
   * 401 for an anonymous caller that needs more, 403 naming the role needed, 403 naming the scope
   * its token lacks.
   */
  async authorize(caller: Caller, repo: RepoRef, action: Action): Promise<void> {
    const role = await this.role(caller, repo);
    if (!role) throw repoNotFound(repo.owner, repo.name);
    if (rank(role) < rank(action)) {
      if (!caller.user && caller.taskRepoId === undefined)
        throw unauthorized(`${action} access needs a token`);
      throw needsRole(repo, action, !!caller.user && !hasScope(caller.user.scopes, `repo:${action}`));
    }
    const publicRead = action === "read" && repo.visibility === "public";
    if (caller.user && !publicRead && !hasScope(caller.user.scopes, `repo:${action}`)) {
      throw missingScope(`repo:${action}`);
    }
  }

  private storedRole(userId: number, repo: RepoRef): Promise<Role | null | undefined> {
    return this.stored.get(`${userId}:${repo.id}`, async () => {
      const r = await this.db.query<{ rank: number | null }>(STORED_ROLE_SQL, [
        repo.id,
        userId,
        repo.ownerId,
      ]);
      const n = r.rows[0]?.rank ?? 0;
      return { value: n > 0 ? ROLES[n - 1]! : null, tags: [`user:${userId}`, `repo:${repo.id}`] };
    });
  }
}
