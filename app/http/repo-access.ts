/**
 * May this caller see this repository: decided here for every HTTP route that names one (the
 * rule itself is `canRead`, app/git/repos.ts). A missing repository, an invisible one and a name
 * that cannot be one all get the same 404, so a private repository's existence is not revealed.
 *
 * `repoAccess` is the middleware of the `:owner/:repo` API routes: it loads the repository once
 * and hands it to the handler in `res.locals.repo`. The routes that are not plain Express
 * handlers ask `findVisibleRepo` the same question: `FileServer` (files.ts, also behind the fast
 * path of fast-files.ts) and git smart HTTP (git-http.ts), which answers an anonymous caller 401
 * instead so that git sends its credentials, and reads the row uncached.
 */
import type { RequestHandler } from "express";
import { notFound } from "../errors";
import { type Caller, canRead, type Repository } from "../git/repos";
import type { GitService } from "../git/service";
import { isRepoPath } from "../wire/names";

declare global {
  namespace Express {
    interface Locals {
      /** Set by `repoAccess`: the route's repository, visible to the caller. */
      repo?: Repository;
    }
  }
}

/**
 * The repository at `owner/name` if `caller` may see it. Read through the short repository cache
 * (`RepoStore.findCached`) unless `fresh`: a push must see the current row.
 */
export async function findVisibleRepo(
  git: GitService,
  caller: Caller,
  owner: string,
  name: string,
  { fresh = false } = {},
): Promise<Repository | undefined> {
  if (!isRepoPath(owner, name)) return undefined;
  const repo = fresh ? await git.repos.find(owner, name) : await git.repos.findCached(owner, name);
  return repo && canRead(caller, repo) ? repo : undefined;
}

export const repoNotFound = (owner: string, name: string) =>
  notFound(`repository ${owner}/${name} not found`);

/** `findVisibleRepo`, or the 404. */
export async function visibleRepo(
  git: GitService,
  caller: Caller,
  owner: string,
  name: string,
): Promise<Repository> {
  const repo = await findVisibleRepo(git, caller, owner, name);
  if (!repo) throw repoNotFound(owner, name);
  return repo;
}

/** Puts the `:owner/:repo` of the route in `res.locals.repo`, or answers 404. */
export function repoAccess(git: GitService): RequestHandler {
  return async (req, res, next) => {
    const { owner, repo } = req.params as { owner: string; repo: string };
    res.locals.repo = await visibleRepo(git, { user: res.locals.user }, owner, repo);
    next();
  };
}
