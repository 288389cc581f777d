/**
 * Repositories API:
 *   POST   /api/repos {name, owner?, visibility?, default_branch?, description?} → 201; owned by the
 *          caller, or by `owner`, an organization the caller belongs to
 *   GET    /api/repos                   → the repositories the caller holds a role on: own, collaborations,
 *                                          organizations' and teams' (others' public ones are not listed)
 *   GET    /api/repos/:owner/:repo      → one repository (404 if not visible)
 *   PATCH  /api/repos/:owner/:repo {visibility?, default_branch?, description?} → the repository; admin
 *   GET    /api/repos/:owner/:repo/refs → {branches, tags: [{name, commit}], truncated}
 *   DELETE /api/repos/:owner/:repo      → 204; admin; 409 while a workflow run of it is queued or running
 * Who may do what: app/auth/permissions.ts.
 */
import { type Request, Router } from "express";
import { z } from "zod";
import { type Account, findAccount } from "../auth/accounts";
import { audit } from "../auth/audit";
import { Orgs } from "../auth/orgs";
import type { User } from "../auth/tokens";
import type { AppContext } from "../compose";
import { AppError, badRequest, conflict, forbidden, notFound } from "../errors";
import { RepoExistsError, RepoLimitError, type Repository } from "../git/repos";
import type { RefListing, RepoView } from "../wire/api";
import { NameError, validateBranchName } from "../wire/names";
import { requireUser } from "./auth";
import { parseBody } from "./errors";
import { rateLimit } from "./rate-limit";
import { repoAccess } from "./repo-access";

const Description = z.string().max(1000);

const CreateRepo = z.object({
  name: z.string(),
  owner: z.string().max(100).optional(),
  visibility: z.enum(["public", "private"]).optional(),
  default_branch: z.string().optional(),
  description: Description.optional(),
});

const RepoSettings = z
  .object({
    visibility: z.enum(["public", "private"]).optional(),
    default_branch: z.string().max(255).optional(),
    description: Description.optional(),
  })
  .strict();

export function reposRouter(ctx: AppContext): Router {
  const { git, config, publicUrl, db } = ctx;
  const router = Router();
  const orgs = new Orgs(db, ctx.auth);
  const access = repoAccess(ctx, "read");

  const view = async (repo: Repository, user: User | undefined): Promise<RepoView> => ({
    id: repo.id,
    owner: repo.owner,
    name: repo.name,
    visibility: repo.visibility,
    default_branch: repo.defaultBranch,
    description: repo.description,
    clone_url: `${publicUrl()}/${repo.owner}/${repo.name}.git`,
    created_at: repo.createdAt,
    permission: (await ctx.permissions.role({ user }, repo)) ?? "read",
  });
  const actorOf = (req: Request, user: User) => ({ actor: user, ip: req.ip });

  /** The account a new repository goes under: the caller, or an organization they belong to. */
  async function ownerFor(user: User, name: string | undefined): Promise<{ id: number; username: string }> {
    if (name === undefined || name.toLowerCase() === user.username.toLowerCase()) return user;
    const account: Account | undefined = await findAccount(db, name);
    if (!account) throw notFound(`no organization ${name}`);
    if (account.kind !== "org") throw forbidden(`you cannot create repositories for ${account.username}`);
    await orgs.requireMember(user, account);
    return account;
  }

  router.post("/api/repos", requireUser, async (req, res) => {
    const body = parseBody(CreateRepo, req.body ?? {});
    const user = res.locals.user!;
    const owner = await ownerFor(user, body.owner);
    // Admins (the operators) are not limited.
    if (!user.is_admin) {
      await rateLimit(ctx.db, user.id, {
        action: "repository creation",
        limit: config.PLUE_REPO_CREATES_PER_HOUR,
        variable: "PLUE_REPO_CREATES_PER_HOUR",
      });
    }
    try {
      const repo = await git.repos.create(owner, {
        name: body.name,
        visibility: body.visibility,
        defaultBranch: body.default_branch,
        description: body.description,
        maxRepos: user.is_admin ? undefined : config.PLUE_MAX_REPOS_PER_USER,
      });
      await audit(db, {
        ...actorOf(req, user),
        action: "repo.created",
        target: `${repo.owner}/${repo.name}`,
      });
      res
        .status(201)
        .location(`/api/repos/${repo.owner}/${repo.name}`)
        .json(await view(repo, user));
    } catch (err) {
      if (err instanceof NameError) throw badRequest(err.message, "invalid_name");
      if (err instanceof RepoExistsError) throw conflict(err.message, "repo_exists");
      if (err instanceof RepoLimitError) throw new AppError(403, "repository_limit", err.message);
      throw err;
    }
  });

  router.get("/api/repos", requireUser, async (_req, res) => {
    const repos = await git.repos.listAffiliated(res.locals.user!);
    res.json(await Promise.all(repos.map((r) => view(r, res.locals.user))));
  });

  router.get("/api/repos/:owner/:repo", access, async (_req, res) => {
    res.json(await view(res.locals.repo!, res.locals.user));
  });

  router.patch("/api/repos/:owner/:repo", requireUser, repoAccess(ctx, "admin"), async (req, res) => {
    const body = parseBody(RepoSettings, req.body ?? {});
    const user = res.locals.user!;
    const repo = res.locals.repo!;
    if (body.default_branch !== undefined) {
      try {
        validateBranchName(body.default_branch);
      } catch (err) {
        if (err instanceof NameError) throw badRequest(err.message, "invalid_name");
        throw err;
      }
    }
    const settings = {
      visibility: body.visibility,
      defaultBranch: body.default_branch,
      description: body.description,
    };
    const updated = await git.repos.update(repo, settings);
    if (!updated) throw notFound(`repository ${repo.owner}/${repo.name} not found`);
    const target = `${repo.owner}/${repo.name}`;
    if (body.visibility !== undefined && body.visibility !== repo.visibility) {
      await audit(db, {
        ...actorOf(req, user),
        action: "repo.visibility_changed",
        target,
        details: { from: repo.visibility, to: body.visibility },
      });
    }
    const changed = Object.keys(body).filter((k) => k !== "visibility");
    if (changed.length > 0) {
      await audit(db, {
        ...actorOf(req, user),
        action: "repo.settings_changed",
        target,
        details: { changed },
      });
    }
    res.json(await view(updated, user));
  });

  router.delete("/api/repos/:owner/:repo", requireUser, repoAccess(ctx, "admin"), async (req, res) => {
    const user = res.locals.user!;
    const repo = res.locals.repo!;
    if (await ctx.runs.hasLiveRuns(repo)) {
      throw conflict(
        `${repo.owner}/${repo.name} has workflow runs in progress: cancel them first`,
        "runs_in_progress",
      );
    }
    await git.deleteRepo(repo);
    await audit(db, { ...actorOf(req, user), action: "repo.deleted", target: `${repo.owner}/${repo.name}` });
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
