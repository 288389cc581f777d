/**
 * Workflow runs API:
 *   GET  /api/repos/:owner/:repo/runs   ?status= &event= &workflow= &limit= (1–100, default 20) &before=<run id>
 *                                        → {runs: [...]} newest first
 *   GET  /api/runs/:id                   → the run with its steps
 *   GET  /api/runs/:id/log               → text/plain: the steps' output with start/end lines (runs/log.ts)
 *   GET  /api/runs/:id/stream            SSE of its workload's events; Last-Event-ID or ?lastEventId=
 *   POST /api/runs/:id/cancel            → 202 {id, status: "cancelling" | "cancelled"}; 409 when not running
 *   POST /api/runs/:id/rerun             {failed_only?: boolean} → 201 the new run
 *   POST /api/repos/:owner/:repo/workflows/:name/dispatch  {ref?, inputs?} → 201 the new run
 * Reading needs read access to the repository; dispatching, cancelling and rerunning need write
 * (app/auth/permissions.ts).
 */
import { Router } from "express";
import { z } from "zod";
import type { AppContext } from "../compose";
import { badRequest } from "../errors";
import { readEvents } from "../events/store";
import { formatRunEvent } from "../runs/log";
import { runSource } from "../runs/stream";
import { RUN_STATUSES, type RunCancel, type RunList } from "../wire/api";
import { requireUser } from "./auth";
import { parseBody } from "./errors";
import { repoAccess } from "./repo-access";
import { serveStream } from "./streams";

const ListQuery = z.object({
  status: z.enum(RUN_STATUSES).optional(),
  event: z.string().min(1).max(40).optional(),
  workflow: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  before: z.string().uuid().optional(),
});

const RerunBody = z.object({ failed_only: z.boolean().default(false) }).strict();

const DispatchBody = z
  .object({
    ref: z.string().min(1).max(255).optional(),
    inputs: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  })
  .strict();

const LOG_PAGE = 1000;

export function runsRouter(ctx: AppContext): Router {
  const { runs, db } = ctx;
  const router = Router();

  const access = repoAccess(ctx, "read");

  router.get("/api/repos/:owner/:repo/runs", access, async (req, res) => {
    const query = parseQuery(req.query);
    res.json({ runs: await runs.list(res.locals.user, res.locals.repo!, query) } satisfies RunList);
  });

  router.post(
    "/api/repos/:owner/:repo/workflows/:name/dispatch",
    requireUser,
    repoAccess(ctx, "write"),
    async (req, res) => {
      const body = parseBody(DispatchBody, req.body ?? {});
      const workflow = req.params.name as string;
      const run = await runs.dispatchManual(res.locals.user!, res.locals.repo!, workflow, body);
      res.status(201).location(`/api/runs/${run.id}`).json(run);
    },
  );

  router.get("/api/runs/:id", async (req, res) => {
    res.json(await runs.get(res.locals.user, req.params.id));
  });

  router.get("/api/runs/:id/log", async (req, res) => {
    const run = await runs.visible(res.locals.user, req.params.id);
    res.type("text/plain; charset=utf-8").set("X-Content-Type-Options", "nosniff");
    if (run.workload_id) {
      // Paged, so a long log never sits in memory whole.
      for (let after = 0; ; ) {
        const page = await readEvents(db, run.workload_id, after, LOG_PAGE);
        const text = page.map((e) => formatRunEvent(e.type, e.data)).join("");
        if (text && !res.write(text)) await new Promise((r) => res.once("drain", r));
        if (page.length < LOG_PAGE) break;
        after = page[page.length - 1]!.id;
      }
    }
    if (run.error) res.write(`${run.error}\n`);
    res.end();
  });

  router.get("/api/runs/:id/stream", async (req, res) => {
    const run = await runs.visible(res.locals.user, req.params.id);
    await serveStream(ctx, req, res, runSource(db, run.id));
  });

  router.post("/api/runs/:id/cancel", requireUser, async (req, res) => {
    res.status(202).json((await runs.cancel(res.locals.user!, req.params.id as string)) satisfies RunCancel);
  });

  router.post("/api/runs/:id/rerun", requireUser, async (req, res) => {
    const { failed_only } = parseBody(RerunBody, req.body ?? {});
    const run = await runs.rerun(res.locals.user!, req.params.id as string, failed_only);
    res.status(201).location(`/api/runs/${run.id}`).json(run);
  });

  return router;
}

function parseQuery(query: unknown): z.infer<typeof ListQuery> {
  const parsed = ListQuery.safeParse(query);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw badRequest(`invalid query: ${detail}`, "invalid_request");
  }
  return parsed.data;
}
