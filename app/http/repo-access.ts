/**
 * May this caller do this to this repository: asked here for every HTTP route that names one (the
 * rule itself is `Permissions`, app/auth/permissions.ts). A missing repository, an invisible one and
 * a name that cannot be one all get the same 404, so a private repository's existence is not
 * revealed; a caller who may read it but not do the action gets 403 naming the role or the scope.
 *
 * `repoAccess` is the middleware of the `:owner/:repo` API routes: it loads the repository once,
 * authorizes the action and hands the repository to the handler in `res.locals.repo`. The routes
 * that are not plain Express handlers ask `authorizedRepo` the same question: `FileServer`
 * (files.ts, also behind the fast path of fast-files.ts) and git smart HTTP (git-http.ts), which
 * answers an anonymous caller 401 instead so that git sends its credentials, and reads the row
 * uncached.
 */
import type { RequestHandler } from "express";
import { type Action, type Caller, type RepoPermissions, repoNotFound } from "../auth/permissions";
import type { Repository } from "../git/repos";
import type { GitService } from "../git/service";
import { isRepoPath } from "../wire/names";

export { repoNotFound };

declare global {
  namespace Express {
    interface Locals {
      /** Set by `repoAccess`: the route's repository, on which the caller may do the route's action. */
      repo?: Repository;
    }
  }
}

/** What the access checks need of the AppContext. */
export interface RepoAccessContext {
  readonly git: GitService;
  readonly permissions: RepoPermissions;
}

/**
 * The repository at `owner/name` (undefined if there is none or the name cannot be one). Read
 * through the repository cache (`RepoStore.findCached`) unless `fresh`: a push must see the current row.
 */
export async function findRepo(
  git: GitService,
  owner: string,
  name: string,
  { fresh = false } = {},
): Promise<Repository | undefined> {
  if (!isRepoPath(owner, name)) return undefined;
  return fresh ? git.repos.find(owner, name) : git.repos.findCached(owner, name);
}

/** The repository at `owner/name` if `caller` may do `action` to it; throws the refusal otherwise. */
export async function authorizedRepo(
  ctx: RepoAccessContext,
  caller: Caller,
  owner: string,
  name: string,
  action: Action = "read",
): Promise<Repository> {
  const repo = await findRepo(ctx.git, owner, name);
  if (!repo) throw repoNotFound(owner, name);
  await ctx.permissions.authorize(caller, repo, action);
  return repo;
}

/** Puts the `:owner/:repo` of the route in `res.locals.repo` once `action` is allowed, or refuses. */
export function repoAccess(ctx: RepoAccessContext, action: Action = "read"): RequestHandler {
  return async (req, res, next) => {
    const { owner, repo } = req.params as { owner: string; repo: string };
    res.locals.repo = await authorizedRepo(ctx, { user: res.locals.user }, owner, repo, action);
    next();
  };
}
