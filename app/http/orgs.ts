/**
 * Organizations and teams (docs/accounts.md, "Organizations and teams"):
 *   POST   /api/orgs {name, full_name?}                 → 201 UserView (kind org); the caller owns it
 *   GET    /api/orgs                                    → UserView[]: the organizations the caller is in
 *   GET    /api/orgs/:org                               → UserView
 *   GET    /api/orgs/:org/members                       → OrgMemberView[] (signed-in callers)
 *   PUT    /api/orgs/:org/members/:user {role}          → OrgMemberView; owners only
 *   DELETE /api/orgs/:org/members/:user                 → 204; owners only; 409 for the last owner
 *   GET    /api/orgs/:org/teams                         → TeamView[]; members only
 *   POST   /api/orgs/:org/teams {name, permission}      → 201 TeamView; owners only
 *   PATCH  /api/orgs/:org/teams/:team {permission}      → TeamView; owners only
 *   DELETE /api/orgs/:org/teams/:team                   → 204; owners only
 *   PUT|DELETE /api/orgs/:org/teams/:team/members/:user → 204; owners only
 *   PUT|DELETE /api/orgs/:org/teams/:team/repos/:repo   → 204; owners only
 */
import { type Request, type Response, Router } from "express";
import { z } from "zod";
import { type Account, accountView, MAX_FULL_NAME } from "../auth/accounts";
import { Orgs } from "../auth/orgs";
import type { AppContext } from "../compose";
import { badRequest } from "../errors";
import { ORG_ROLES, ROLES } from "../wire/accounts";
import { NameError } from "../wire/names";
import { requireUser } from "./auth";
import { parseBody } from "./errors";

const CreateOrg = z
  .object({ name: z.string().max(100), full_name: z.string().max(MAX_FULL_NAME).optional() })
  .strict();
const SetMember = z.object({ role: z.enum(ORG_ROLES) }).strict();
const CreateTeam = z.object({ name: z.string().max(100), permission: z.enum(ROLES) }).strict();
const ChangeTeam = z.object({ permission: z.enum(ROLES) }).strict();

export function orgsRouter(ctx: AppContext): Router {
  const orgs = new Orgs(ctx.db, ctx.auth);
  const router = Router();
  router.use("/api/orgs", requireUser);

  const actor = (req: Request, res: Response) => ({ user: res.locals.user!, ip: req.ip });
  const org = (req: Request) => orgs.get(req.params.org as string);
  /** The route's organization, once the caller is shown to own it. */
  const owned = async (req: Request, res: Response): Promise<Account> => {
    const o = await org(req);
    await orgs.requireOwner(res.locals.user!, o);
    return o;
  };

  router.post("/api/orgs", async (req, res) => {
    const body = parseBody(CreateOrg, req.body ?? {});
    try {
      const created = await orgs.create(actor(req, res), body);
      res.status(201).location(`/api/orgs/${created.username}`).json(created);
    } catch (err) {
      if (err instanceof NameError) throw badRequest(err.message, "invalid_name");
      throw err;
    }
  });

  router.get("/api/orgs", async (_req, res) => {
    res.json(await orgs.of(res.locals.user!));
  });

  router.get("/api/orgs/:org", async (req, res) => {
    res.json(accountView(await org(req)));
  });

  router.get("/api/orgs/:org/members", async (req, res) => {
    res.json(await orgs.members(await org(req)));
  });

  router.put("/api/orgs/:org/members/:user", async (req, res) => {
    const { role } = parseBody(SetMember, req.body ?? {});
    const o = await owned(req, res);
    res.json(await orgs.setMember(actor(req, res), o, req.params.user as string, role));
  });

  router.delete("/api/orgs/:org/members/:user", async (req, res) => {
    await orgs.removeMember(actor(req, res), await owned(req, res), req.params.user as string);
    res.status(204).end();
  });

  router.get("/api/orgs/:org/teams", async (req, res) => {
    const o = await org(req);
    await orgs.requireMember(res.locals.user!, o);
    res.json(await orgs.teams(o));
  });

  router.post("/api/orgs/:org/teams", async (req, res) => {
    const body = parseBody(CreateTeam, req.body ?? {});
    const o = await owned(req, res);
    res.status(201).json(await orgs.createTeam(actor(req, res), o, body));
  });

  router.patch("/api/orgs/:org/teams/:team", async (req, res) => {
    const { permission } = parseBody(ChangeTeam, req.body ?? {});
    const o = await owned(req, res);
    await orgs.changeTeam(actor(req, res), o, req.params.team as string, permission);
    res.json(
      (await orgs.teams(o)).find((t) => t.name.toLowerCase() === String(req.params.team).toLowerCase()),
    );
  });

  router.delete("/api/orgs/:org/teams/:team", async (req, res) => {
    await orgs.changeTeam(actor(req, res), await owned(req, res), req.params.team as string, null);
    res.status(204).end();
  });

  for (const [method, add] of [
    ["put", true],
    ["delete", false],
  ] as const) {
    router[method]("/api/orgs/:org/teams/:team/members/:user", async (req, res) => {
      const o = await owned(req, res);
      await orgs.teamMember(actor(req, res), o, req.params.team as string, req.params.user as string, add);
      res.status(204).end();
    });
    router[method]("/api/orgs/:org/teams/:team/repos/:repo", async (req, res) => {
      const o = await owned(req, res);
      await orgs.teamRepo(actor(req, res), o, req.params.team as string, req.params.repo as string, add);
      res.status(204).end();
    });
  }

  return router;
}
