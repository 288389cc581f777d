/**
 * The warm pool's runner endpoints (DESIGN.md §4; types in app/wire/protocol.ts). Runners pull,
 * because runner pods accept no inbound connections:
 *   POST   /internal/runners/register            pool secret → 201 {runner_id, token, poll_seconds}
 *   GET    /internal/runners/:id/assignment?wait=N   runner token → 200 Assignment | 204 (heartbeat)
 *   POST   /internal/runners/:id/heartbeat       runner token → {status, abort}
 *   DELETE /internal/runners/:id                 runner token → 204 (leaves the pool)
 * Refusals are `PoolRejection`s: 401 wrong secret or token, 403 another runner's token, 404 unknown
 * runner, 409 task_taken / pod_used, 410 runner_terminated, 503 pool_disabled.
 */
import { type Request, Router } from "express";
import type { AppContext } from "../compose";
import { PoolError } from "../dispatch/registry";
import { isUuid } from "../wire/ids";
import { RegisterRequest } from "../wire/protocol";
import { tokenFrom } from "./auth";
import { parseBody } from "./errors";

export function internalRunnersRouter(ctx: AppContext): Router {
  const router = Router();
  const pool = ctx.runners;

  router.post("/internal/runners/register", async (req, res) => {
    // The secret is checked before the body, so nothing is revealed to callers without it.
    const secret = tokenFrom(req.headers.authorization, { challenge: poolChallenge });
    pool.checkSecret(secret);
    res.status(201).json(await pool.register(secret, parseBody(RegisterRequest, req.body ?? {})));
  });

  router.get("/internal/runners/:id/assignment", async (req, res) => {
    const { id, token } = runner(req);
    const wait = waitSeconds(req.query.wait, pool.pollSeconds);
    const gone = new AbortController();
    res.on("close", () => gone.abort());
    const assignment = await pool.poll(id, token, wait, gone.signal);
    res.set("Cache-Control", "no-store");
    // Shutting down: the runner's next poll must open a new connection, which reaches another
    // replica (or waits for this one to come back) instead of looping on this one.
    if (pool.closing) res.set("Connection", "close");
    if (!assignment) res.status(204).end();
    else res.json(assignment);
  });

  router.post("/internal/runners/:id/heartbeat", async (req, res) => {
    const { id, token } = runner(req);
    res.set("Cache-Control", "no-store").json(await pool.heartbeat(id, token));
  });

  router.delete("/internal/runners/:id", async (req, res) => {
    const { id, token } = runner(req);
    await pool.leave(id, token);
    res.status(204).end();
  });

  return router;
}

const poolChallenge = (message: string) => new PoolError(401, "unauthorized", message);

function runner(req: Request): { id: string; token: string } {
  const token = tokenFrom(req.headers.authorization, { challenge: poolChallenge });
  if (!token) throw new PoolError(401, "unauthorized", "a runner token is required (Authorization: Bearer)");
  const id = req.params.id as string;
  if (!isUuid(id)) throw new PoolError(404, "not_found", `no runner ${id}`);
  return { id, token };
}

function waitSeconds(raw: unknown, max: number): number {
  if (raw === undefined) return max;
  const n = Number(raw);
  if (typeof raw !== "string" || !/^\d{1,4}$/.test(raw) || !Number.isInteger(n)) {
    throw new PoolError(
      400,
      "invalid_request",
      `wait must be a whole number of seconds (0–${max}), got ${String(raw)}`,
    );
  }
  return Math.min(n, max);
}
