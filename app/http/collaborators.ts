/**
 * Collaborators of a repository (docs/accounts.md, "Repository permissions"):
 *   GET    /api/repos/:owner/:repo/collaborators        → CollaboratorView[]; needs write (as GitHub's
 *                                                         push: who else works on it is not public)
 *   PUT    /api/repos/:owner/:repo/collaborators/:user  {permission: read|write|admin} → 200; needs admin
 *   DELETE /api/repos/:owner/:repo/collaborators/:user  → 204; needs admin
 * No such user: 404; an organization cannot be one (give its team access): 422.
 */
import { Router } from "express";
import { z } from "zod";
import { Collaborators } from "../auth/collaborators";
import type { AppContext } from "../compose";
import { ROLES } from "../wire/accounts";
import { requireUser } from "./auth";
import { parseBody } from "./errors";
import { repoAccess } from "./repo-access";

const SetCollaborator = z.object({ permission: z.enum(ROLES) }).strict();

export function collaboratorsRouter(ctx: AppContext): Router {
  const collaborators = new Collaborators(ctx.db, ctx.auth);
  const router = Router();
  const base = "/api/repos/:owner/:repo/collaborators";

  router.get(base, requireUser, repoAccess(ctx, "write"), async (_req, res) => {
    res.json(await collaborators.list(res.locals.repo!));
  });

  router.put(`${base}/:user`, requireUser, repoAccess(ctx, "admin"), async (req, res) => {
    const { permission } = parseBody(SetCollaborator, req.body ?? {});
    const actor = { user: res.locals.user!, ip: req.ip };
    res.json(await collaborators.set(actor, res.locals.repo!, req.params.user as string, permission));
  });

  router.delete(`${base}/:user`, requireUser, repoAccess(ctx, "admin"), async (req, res) => {
    await collaborators.remove(
      { user: res.locals.user!, ip: req.ip },
      res.locals.repo!,
      req.params.user as string,
    );
    res.status(204).end();
  });

  return router;
}
