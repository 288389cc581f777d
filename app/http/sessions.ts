/**
 * Agent sessions API (DESIGN.md §4 Events):
 *   GET  /api/sessions                 ?repo=owner/name&limit=20&before=<id> → {sessions, next}: your
 *                                      chats, most recently active first; `next` continues the list
 *   POST /api/sessions                 {repo?: "owner/name", title?} → 201 session
 *   GET  /api/sessions/:id             → session with its latest run
 *   GET  /api/sessions/:id/messages    → history (text, tool_use, tool_result parts)
 *   POST /api/sessions/:id/run         {message} → 202 {workload_id, runs}; on a repository the
 *                                      message also starts its chat/mention workflows (runs)
 *   POST /api/sessions/:id/abort       → 202 {workload_id, status: "aborting"}; 409 when idle
 *   GET  /api/sessions/:id/stream      SSE; Last-Event-ID or ?lastEventId=, ?follow=1
 */
import { Router } from "express";
import { z } from "zod";
import type { AppContext } from "../compose";
import { sessionSource } from "../sessions/stream";
import type { MessageList, SessionAbort, SessionList, SessionRunStarted } from "../wire/api";
import { requireUser } from "./auth";
import { parseBody } from "./errors";
import { rateLimit } from "./rate-limit";
import { serveStream } from "./streams";

const CreateSession = z.object({
  repo: z
    .string()
    .regex(/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/, "a repository as owner/name")
    .optional(),
  title: z.string().trim().min(1).max(200).optional(),
});

const RunRequest = z.object({ message: z.string().trim().min(1).max(100_000) });

const ListSessions = z.object({
  repo: z
    .string()
    .regex(/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/, "a repository as owner/name")
    .optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  before: z.string().uuid().optional(),
});

export function sessionsRouter(ctx: AppContext): Router {
  const { sessions, db } = ctx;
  const router = Router();
  router.use("/api/sessions", requireUser);

  router.get("/api/sessions", async (req, res) => {
    res.json(
      (await sessions.list(res.locals.user!, parseBody(ListSessions, req.query))) satisfies SessionList,
    );
  });

  router.post("/api/sessions", async (req, res) => {
    const input = parseBody(CreateSession, req.body ?? {});
    const user = res.locals.user!;
    if (!user.is_admin) {
      await rateLimit(db, user.id, {
        action: "session creation",
        limit: ctx.config.PLUE_SESSION_CREATES_PER_HOUR,
        variable: "PLUE_SESSION_CREATES_PER_HOUR",
      });
    }
    res.status(201).json(await sessions.create(user, input));
  });

  router.get("/api/sessions/:id", async (req, res) => {
    res.json(await sessions.get(res.locals.user!, req.params.id));
  });

  router.get("/api/sessions/:id/messages", async (req, res) => {
    res.json({ messages: await sessions.messages(res.locals.user!, req.params.id) } satisfies MessageList);
  });

  router.post("/api/sessions/:id/run", async (req, res) => {
    const { message } = parseBody(RunRequest, req.body);
    res
      .status(202)
      .json((await sessions.run(res.locals.user!, req.params.id, message)) satisfies SessionRunStarted);
  });

  router.post("/api/sessions/:id/abort", async (req, res) => {
    res.status(202).json((await sessions.abort(res.locals.user!, req.params.id)) satisfies SessionAbort);
  });

  router.get("/api/sessions/:id/stream", async (req, res) => {
    const session = await sessions.owned(db, res.locals.user!, req.params.id);
    await serveStream(ctx, req, res, sessionSource(db, session.id, isTrue(req.query.follow)));
  });

  return router;
}

const isTrue = (v: unknown) => v === "1" || v === "true";
