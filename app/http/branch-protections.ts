/**
 * Branch protection rules (docs/pulls.md, "Protected branches"):
 *   GET    /api/repos/:owner/:repo/branch-protections       → the rules (write)
 *   POST   /api/repos/:owner/:repo/branch-protections       BranchProtectionInput → 201 the rule (admin;
 *                                                          409 when the pattern has a rule)
 *   GET    /api/repos/:owner/:repo/branch-protections/:id   → the rule (write)
 *   PATCH  /api/repos/:owner/:repo/branch-protections/:id   UpdateBranchProtection → the rule (admin)
 *   DELETE /api/repos/:owner/:repo/branch-protections/:id   → 204 (admin)
 */
import { Router } from "express";
import type { AppContext } from "../compose";
import { notFound } from "../errors";
import type { ProtectionUpdate } from "../pulls/protection";
import { BranchProtectionInput, type BranchProtectionView, UpdateBranchProtection } from "../wire/pulls";
import { requireUser } from "./auth";
import { parseBody } from "./errors";
import { repoAccess } from "./repo-access";

const BASE = "/api/repos/:owner/:repo/branch-protections";

function ruleId(raw: unknown): number {
  const id = typeof raw === "string" && /^\d{1,15}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(id) || id < 1) throw notFound(`no branch protection ${String(raw).slice(0, 40)}`);
  return id;
}

export function branchProtectionsRouter(ctx: AppContext): Router {
  const { protections } = ctx;
  const router = Router();
  const read = [requireUser, repoAccess(ctx, "write")];
  const change = [requireUser, repoAccess(ctx, "admin")];

  router.get(BASE, ...read, async (_req, res) => {
    res.json((await protections.list(res.locals.repo!)) satisfies BranchProtectionView[]);
  });

  router.post(BASE, ...change, async (req, res) => {
    const input = parseBody(BranchProtectionInput, req.body ?? {});
    const rule = await protections.create(res.locals.repo!, input);
    res
      .status(201)
      .location(`${req.baseUrl}${req.path}/${rule.id}`)
      .json(rule satisfies BranchProtectionView);
  });

  router.get(`${BASE}/:id`, ...read, async (req, res) => {
    res.json((await protections.get(res.locals.repo!, ruleId(req.params.id))) satisfies BranchProtectionView);
  });

  router.patch(`${BASE}/:id`, ...change, async (req, res) => {
    const parsed = parseBody(UpdateBranchProtection, req.body ?? {});
    // The schema fills defaults in; a PATCH changes only the fields it names.
    const given = new Set(Object.keys((req.body ?? {}) as object));
    const patch = Object.fromEntries(
      Object.entries(parsed).filter(([k]) => given.has(k)),
    ) as ProtectionUpdate;
    const rule = await protections.update(res.locals.repo!, ruleId(req.params.id), patch);
    res.json(rule satisfies BranchProtectionView);
  });

  router.delete(`${BASE}/:id`, ...change, async (req, res) => {
    await protections.delete(res.locals.repo!, ruleId(req.params.id));
    res.status(204).end();
  });

  return router;
}
