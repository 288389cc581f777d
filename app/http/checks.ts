/**
 * Checks and commit statuses (docs/pulls.md, "Checks and commit statuses"):
 *   POST /api/repos/:owner/:repo/statuses/:sha         {context?, state, target_url?, description?}
 *                                                       → 201 the status (write; 422 unknown sha, bad body)
 *   GET  /api/repos/:owner/:repo/commits/:sha/statuses  → the commit's statuses, one per context (read)
 *   GET  /api/repos/:owner/:repo/commits/:sha/checks    → ChecksView: runs, statuses and skips (read)
 * `:sha` is a full commit id of the repository: a branch name or a short id is 422.
 */
import { Router } from "express";
import type { AppContext } from "../compose";
import { AppError } from "../errors";
import { type ChecksView, type CommitStatusView, CreateStatus } from "../wire/pulls";
import { requireUser } from "./auth";
import { repoAccess } from "./repo-access";

export function checksRouter(ctx: AppContext): Router {
  const { checks } = ctx;
  const router = Router();

  router.post(
    "/api/repos/:owner/:repo/statuses/:sha",
    requireUser,
    repoAccess(ctx, "write"),
    async (req, res) => {
      // GitHub answers an invalid status with 422 (a javascript: target_url, an unknown state).
      const parsed = CreateStatus.safeParse(req.body ?? {});
      if (!parsed.success) {
        const detail = parsed.error.issues
          .map((i) => `${i.path.join(".") || "body"}: ${i.message}`)
          .join("; ");
        throw new AppError(422, "invalid_status", `invalid status: ${detail}`);
      }
      const status = await checks.statuses.create(
        res.locals.repo!,
        res.locals.user!,
        String(req.params.sha),
        parsed.data,
      );
      res.status(201).json(status satisfies CommitStatusView);
    },
  );

  router.get("/api/repos/:owner/:repo/commits/:sha/statuses", repoAccess(ctx, "read"), async (req, res) => {
    res.json(
      (await checks.statuses.list(res.locals.repo!, String(req.params.sha))) satisfies CommitStatusView[],
    );
  });

  router.get("/api/repos/:owner/:repo/commits/:sha/checks", repoAccess(ctx, "read"), async (req, res) => {
    res.json((await checks.forCommit(res.locals.repo!, String(req.params.sha))) satisfies ChecksView);
  });

  return router;
}
