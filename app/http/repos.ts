/**
 * Repositories API:
 *   POST /api/repos {name, visibility?, default_branch?} → 201, owned by the caller
 *   GET  /api/repos                                      → the caller's repositories
 *   GET  /api/repos/:owner/:repo                         → one repository (404 if not visible)
 *   GET  /api/repos/:owner/:repo/refs                    → {branches, tags: [{name, commit}], truncated}
 *   DELETE /api/repos/:owner/:repo                       → 204; owner or admin only; 409 while a
 *                                                          workflow run of it is queued or running
 */
import { Router } from "express";
import { z } from "zod";
import type { AppContext } from "../compose";
import { AppError, badRequest, conflict, forbidden } from "../errors";
import { canWrite, RepoExistsError, RepoLimitError, type Repository } from "../git/repos";
import type { RefListing, RepoView } from "../wire/api";
import { NameError } from "../wire/names";
import { requireUser } from "./auth";
import { parseBody } from "./errors";
import { rateLimit } from "./rate-limit";
import { repoAccess } from "./repo-access";

const CreateRepo = z.object({
  name: z.string(),
  visibility: z.enum(["public", "private"]).optional(),
  default_branch: z.string().optional(),
});

export function reposRouter(ctx: AppContext): Router {
  const { git, config, publicUrl } = ctx;
  const router = Router();
  const access = repoAccess(git);

  const view = (repo: Repository): RepoView => ({
    id: repo.id,
    owner: repo.owner,
    name: repo.name,
    visibility: repo.visibility,
    default_branch: repo.defaultBranch,
    clone_url: `${publicUrl()}/${repo.owner}/${repo.name}.git`,
    created_at: repo.createdAt,
  });

  router.post("/api/repos", requireUser, async (req, res) => {
    const body = parseBody(CreateRepo, req.body ?? {});
    const user = res.locals.user!;
    // Admins (the operators) are not limited.
    if (!user.is_admin) {
      await rateLimit(ctx.db, user.id, {
        action: "repository creation",
        limit: config.PLUE_REPO_CREATES_PER_HOUR,
        variable: "PLUE_REPO_CREATES_PER_HOUR",
      });
    }
    try {
      const repo = await git.repos.create(user, {
        name: body.name,
        visibility: body.visibility,
        defaultBranch: body.default_branch,
        maxRepos: user.is_admin ? undefined : config.PLUE_MAX_REPOS_PER_USER,
      });
      res.status(201).location(`/api/repos/${repo.owner}/${repo.name}`).json(view(repo));
    } catch (err) {
      if (err instanceof NameError) throw badRequest(err.message, "invalid_name");
      if (err instanceof RepoExistsError) throw conflict(err.message, "repo_exists");
      if (err instanceof RepoLimitError) throw new AppError(403, "repository_limit", err.message);
      throw err;
    }
  });

  router.get("/api/repos", requireUser, async (_req, res) => {
    const repos = await git.repos.listOwnedBy(res.locals.user!.id);
    res.json(repos.map(view));
  });

  router.get("/api/repos/:owner/:repo", access, (_req, res) => {
    res.json(view(res.locals.repo!));
  });

  router.delete("/api/repos/:owner/:repo", requireUser, access, async (_req, res) => {
    const user = res.locals.user!;
    const repo = res.locals.repo!;
    if (!canWrite({ user }, repo))
      throw forbidden(`only the owner of ${repo.owner}/${repo.name} (or an admin) can delete it`);
    if (await ctx.runs.hasLiveRuns(repo)) {
      throw conflict(
        `${repo.owner}/${repo.name} has workflow runs in progress: cancel them first`,
        "runs_in_progress",
      );
    }
    await git.deleteRepo(repo);
    ctx.log.info({ repo: `${repo.owner}/${repo.name}`, by: user.username }, "repository deleted");
    res.status(204).end();
  });

  router.get("/api/repos/:owner/:repo/refs", access, async (_req, res) => {
    const repo = res.locals.repo!;
    const listing = await git.listRefs(repo);
    // Refs move: cache as briefly as the single-ref endpoint does.
    res.set("Cache-Control", `${repo.visibility === "public" ? "public" : "private"}, max-age=5`);
    res.json({ default_branch: repo.defaultBranch, ...listing } satisfies RefListing);
  });

  return router;
}
