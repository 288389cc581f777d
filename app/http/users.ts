/**
 * People and their tokens (docs/accounts.md, "Users and invites", "Tokens and scopes", "Audit log"):
 *   POST   /api/admin/users {CreateUserRequest}      → 201 CreatedUser (password_url without a password)
 *   GET    /api/admin/users                          → AdminUserView[]
 *   POST   /api/admin/users/:name/suspend            → AdminUserView; DELETE … unsuspends
 *   POST   /api/admin/users/:name/tokens {CreateTokenRequest} → 201 CreatedToken (a bot's, CI's)
 *   POST   /api/admin/invites                        → 201 CreatedInvite; GET → InviteView[]
 *   GET    /api/admin/audit?before=&action=          → AuditPage
 *   GET    /api/users/:name                          → UserView (public)
 *   GET    /api/user                                 → SelfView (any token may ask who it is)
 *   POST   /api/user/tokens {CreateTokenRequest}     → 201 CreatedToken; GET → TokenView[]
 *   DELETE /api/user/tokens/:id                      → 204
 * /api/admin/* needs a site admin whose token holds `admin`; /api/user/* a token holding `user`.
 */
import { type Request, type RequestHandler, Router } from "express";
import { z } from "zod";
import {
  type Actor,
  createAccount,
  createSignupInvite,
  createTokenFor,
  listAccounts,
  listInvites,
  profile,
  revokeOwnToken,
  selfView,
  setSuspended,
} from "../auth/accounts";
import { auditPage } from "../auth/audit";
import { listTokens } from "../auth/tokens";
import type { AppContext } from "../compose";
import { badRequest } from "../errors";
import { AUDIT_ACTIONS } from "../wire/accounts";
import { requireAdmin, requireScope, requireUser } from "./auth";
import { parseBody } from "./errors";

const CreateUser = z.strictObject({
  username: z.string().max(200),
  full_name: z.string().max(1000).optional(),
  email: z.string().max(1000).optional(),
  admin: z.boolean().optional(),
  password: z.string().max(1000).optional(),
});

const CreateToken = z.strictObject({
  name: z.string().max(1000),
  scopes: z.array(z.string().max(100)).max(20),
  expires_at: z.string().max(100).optional(),
});

const AuditQuery = z.strictObject({
  before: z
    .string()
    .regex(/^[1-9]\d{0,15}$/, "a positive integer")
    .transform(Number)
    .optional(),
  action: z.enum(AUDIT_ACTIONS).optional(),
});

/** Both checks, in order, as one handler (Express then still types the route's own handler). */
const both =
  (first: RequestHandler, second: RequestHandler): RequestHandler =>
  (req, res, next) =>
    first(req, res, (err?: unknown) => (err ? next(err) : second(req, res, next)));

/** Every /api/admin route: a site admin, with a token that holds `admin`. */
export const adminOnly: RequestHandler = both(requireAdmin, requireScope("admin"));
/** Every /api/user/* route: a caller whose token holds `user`. */
export const userOnly: RequestHandler = both(requireUser, requireScope("user"));

/** Who acts, for the audit log. */
export const actorOf = (req: Request, user: { id: number; username: string }): Actor => ({
  id: user.id,
  username: user.username,
  ip: req.ip,
});

export function usersRouter(ctx: AppContext): Router {
  const { db, auth, publicUrl } = ctx;
  const router = Router();

  router.post("/api/admin/users", adminOnly, async (req, res) => {
    const body = parseBody(CreateUser, req.body ?? {});
    const created = await createAccount(db, actorOf(req, res.locals.user!), body, publicUrl());
    res.status(201).location(`/api/users/${created.user.username}`).json(created);
  });

  router.get("/api/admin/users", adminOnly, async (_req, res) => {
    res.json(await listAccounts(db));
  });

  for (const [method, suspended] of [
    ["post", true],
    ["delete", false],
  ] as const) {
    router[method]("/api/admin/users/:name/suspend", adminOnly, async (req, res) => {
      const actor = actorOf(req, res.locals.user!);
      res.json(await setSuspended(db, auth, actor, String(req.params.name), suspended));
    });
  }

  router.post("/api/admin/users/:name/tokens", adminOnly, async (req, res) => {
    const body = parseBody(CreateToken, req.body ?? {});
    const user = res.locals.user!;
    res.status(201).json(await createTokenFor(db, actorOf(req, user), user, String(req.params.name), body));
  });

  router.post("/api/admin/invites", adminOnly, async (req, res) => {
    res.status(201).json(await createSignupInvite(db, actorOf(req, res.locals.user!), publicUrl()));
  });

  router.get("/api/admin/invites", adminOnly, async (_req, res) => {
    res.json(await listInvites(db));
  });

  router.get("/api/admin/audit", adminOnly, async (req, res) => {
    const query = parseBody(AuditQuery, req.query);
    res.json(await auditPage(db, query));
  });

  router.get("/api/users/:name", async (req, res) => {
    res.json(await profile(db, String(req.params.name)));
  });

  router.get("/api/user", requireUser, async (_req, res) => {
    res.json(await selfView(db, res.locals.user!));
  });

  router.post("/api/user/tokens", userOnly, async (req, res) => {
    const body = parseBody(CreateToken, req.body ?? {});
    const user = res.locals.user!;
    res.status(201).json(await createTokenFor(db, actorOf(req, user), user, user.username, body));
  });

  router.get("/api/user/tokens", userOnly, async (_req, res) => {
    res.json(await listTokens(db, res.locals.user!.id));
  });

  router.delete("/api/user/tokens/:id", userOnly, async (req, res) => {
    const id = String(req.params.id);
    if (!/^[1-9]\d{0,15}$/.test(id)) throw badRequest("a token id is a positive integer");
    await revokeOwnToken(db, auth, actorOf(req, res.locals.user!), Number(id));
    res.status(204).end();
  });

  return router;
}
