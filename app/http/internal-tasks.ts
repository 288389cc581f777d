/**
 * The runner callback (DESIGN.md §4): `POST /internal/tasks/:id/events` with the workload's task
 * token as bearer, body `{events:[{seq, type, data}]}` → `{ack, abort}`. Events are stored before
 * the ack; a retried batch is stored once and answered with the same ack. A rejected batch
 * stores nothing and is answered with `EventRejection` (app/wire/protocol.ts):
 *   401 no/invalid token · 403 another workload's token · 404 unknown workload ·
 *   409 workload_ended (with `ack`) or seq_gap (with `expected_seq`) ·
 *   400 malformed or inconsistent batch · 413 too many events or too many bytes.
 *
 * `GET /internal/tasks/:id/abort?wait=<s>` (same token) → `{abort}`: true as soon as the workload
 * is aborted, false after `wait` seconds (default and most MAX_ABORT_WAIT_SECONDS). A runner keeps
 * one open while it works, so it stops at once even while it waits on the model. 401 once the
 * workload has ended (its token is cleared), 403 for another workload's token.
 */
import { type Request, type Response, Router } from "express";
import type { AppContext } from "../context";
import { EventRejectionError, workloadForTaskToken } from "../dispatch/dispatcher";
import { InvalidBatchError, SeqGapError } from "../events/store";
import {
  type AbortPoll,
  EventBatch,
  type EventRejection,
  MAX_ABORT_WAIT_SECONDS,
  MAX_BATCH_EVENTS,
} from "../wire/protocol";
import { tokenFrom } from "./auth";
import { HttpError, parseBody } from "./errors";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function internalTasksRouter(ctx: AppContext): Router {
  const router = Router();
  router.post("/internal/tasks/:id/events", async (req, res) => {
    try {
      const ack = await accept(ctx, req);
      res.json(ack);
    } catch (err) {
      reject(res, err);
    }
  });
  router.get("/internal/tasks/:id/abort", async (req, res) => {
    try {
      const wait = waitSeconds(req.query.wait);
      const id = await authorize(ctx, req);
      // A runner that goes away (its connection closes) is not waited for.
      const gone = new AbortController();
      res.once("close", () => gone.abort());
      const abort = await ctx.dispatcher.waitForAbort(id, wait * 1000, gone.signal);
      if (!res.writableEnded && !res.destroyed) res.json({ abort } satisfies AbortPoll);
    } catch (err) {
      reject(res, err);
    }
  });
  return router;
}

function waitSeconds(raw: unknown): number {
  if (raw === undefined) return MAX_ABORT_WAIT_SECONDS;
  const n = Number(raw);
  if (typeof raw !== "string" || !Number.isInteger(n) || n < 0 || n > MAX_ABORT_WAIT_SECONDS) {
    throw new EventRejectionError(
      400,
      "invalid_request",
      `wait is a whole number of seconds from 0 to ${MAX_ABORT_WAIT_SECONDS}`,
    );
  }
  return n;
}

/** The bearer task token and the workload id of the URL, both well-formed. */
function taskRequest(req: Request): { token: string; id: string } {
  const token = tokenFrom(req.headers.authorization);
  if (!token)
    throw new EventRejectionError(401, "unauthorized", "a task token is required (Authorization: Bearer)");
  const id = req.params.id as string;
  if (!UUID.test(id)) throw new EventRejectionError(404, "not_found", `no workload ${id}`);
  return { token, id };
}

/** The workload id of the URL, once the bearer task token is shown to be that live workload's. */
async function authorize(ctx: AppContext, req: Request): Promise<string> {
  const { token, id } = taskRequest(req);
  const grant = await workloadForTaskToken(ctx.db, token);
  if (!grant)
    throw new EventRejectionError(401, "unauthorized", "the task token is not valid (or the workload ended)");
  if (grant.workloadId !== id)
    throw new EventRejectionError(403, "forbidden", "the task token is for another workload");
  return id;
}

async function accept(ctx: AppContext, req: Request) {
  const { token, id } = taskRequest(req);
  const count = Array.isArray(req.body?.events) ? req.body.events.length : 0;
  if (count > MAX_BATCH_EVENTS) {
    throw new EventRejectionError(
      413,
      "payload_too_large",
      `a batch holds at most ${MAX_BATCH_EVENTS} events; this one has ${count}: split it`,
    );
  }
  const batch = parseBody(EventBatch, req.body);
  try {
    return await ctx.dispatcher.acceptEvents(id, token, batch.events);
  } catch (err) {
    if (err instanceof SeqGapError) {
      throw new EventRejectionError(409, "seq_gap", err.message, { expected_seq: err.expected });
    }
    if (err instanceof InvalidBatchError) throw new EventRejectionError(400, "invalid_batch", err.message);
    throw err;
  }
}

/** Renders rejections with their extra fields; everything else goes to the app's error handler. */
function reject(res: Response, err: unknown): void {
  if (!(err instanceof HttpError) || err.status >= 500) throw err;
  const extra = err instanceof EventRejectionError ? err.extra : {};
  const body: EventRejection = {
    error: { code: err.code as EventRejection["error"]["code"], message: err.message, ...extra },
  };
  res.status(err.status).set(err.headers).json(body);
}
