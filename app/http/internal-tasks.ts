/**
 * The runner callback (DESIGN.md §4): `POST /internal/tasks/:id/events` with the workload's task
 * token as bearer, body `{events:[{seq, type, data}]}` → `{ack, abort}`. Events are stored before
 * the ack; a retried batch is stored once and answered with the same ack. A rejected batch
 * stores nothing and is answered with `EventRejection` (app/wire/protocol.ts):
 *   401 no/invalid token · 403 another workload's token · 404 unknown workload ·
 *   409 workload_ended (with `ack`) or seq_gap (with `expected_seq`) ·
 *   400 malformed or inconsistent batch · 413 too many events or too many bytes.
 */
import { type Request, type Response, Router } from "express";
import type { AppContext } from "../context";
import { EventRejectionError } from "../dispatch/dispatcher";
import { InvalidBatchError, SeqGapError } from "../events/store";
import { EventBatch, type EventRejection, MAX_BATCH_EVENTS } from "../wire/protocol";
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
  return router;
}

async function accept(ctx: AppContext, req: Request) {
  const token = tokenFrom(req.headers.authorization);
  if (!token)
    throw new EventRejectionError(401, "unauthorized", "a task token is required (Authorization: Bearer)");
  const id = req.params.id as string;
  if (!UUID.test(id)) throw new EventRejectionError(404, "not_found", `no workload ${id}`);
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
