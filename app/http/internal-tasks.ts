/**
 * The runner callback (DESIGN.md §4): `POST /internal/tasks/:id/events` with the workload's task
 * token as bearer, body `{events:[{seq, type, data}]}` → `{ack, abort}`. Events are stored before
 * the ack; a retried batch is stored once and answered with the same ack. A rejected batch
 * stores nothing and is answered with `EventRejection` (app/wire/protocol.ts):
 *   401 no, malformed or invalid token (checked first: a stranger learns nothing about the
 *   workload) · 403 another workload's token · 404 unknown workload ·
 *   409 workload_ended (with `ack`) or seq_gap (with `expected_seq`) ·
 *   400 malformed or inconsistent batch · 413 too many events or too many bytes.
 *
 * `GET /internal/tasks/:id/abort?wait=<s>` (same token) → `{abort}`: true as soon as the workload
 * is aborted, false after `wait` seconds (default and most MAX_ABORT_WAIT_SECONDS). A runner keeps
 * one open while it works, so it stops at once even while it waits on the model. 401 once the
 * workload has ended (its token is cleared), 403 for another workload's token.
 */
import { type Request, Router } from "express";
import { hashToken } from "../auth/tokens";
import type { AppContext } from "../compose";
import type { Queryable } from "../db";
import { EventRejectionError } from "../dispatch/dispatcher";
import { TASK_TOKEN_PREFIX, workloadForTaskToken } from "../dispatch/tokens";
import { unauthorized } from "../errors";
import { InvalidBatchError, SeqGapError } from "../events/store";
import { isUuid } from "../wire/ids";
import { type AbortPoll, EventBatch, MAX_ABORT_WAIT_SECONDS, MAX_BATCH_EVENTS } from "../wire/protocol";
import { tokenFrom } from "./auth";
import { parseBody } from "./errors";

export function internalTasksRouter(ctx: AppContext): Router {
  const router = Router();
  router.post("/internal/tasks/:id/events", async (req, res) => {
    res.json(await accept(ctx, req));
  });
  router.get("/internal/tasks/:id/abort", async (req, res) => {
    const { id } = await authorize(ctx, req, { ended: false });
    const wait = waitSeconds(req.query.wait);
    // A runner that goes away (its connection closes) is not waited for.
    const gone = new AbortController();
    res.once("close", () => gone.abort());
    const abort = await ctx.dispatcher.waitForAbort(id, wait * 1000, gone.signal);
    if (!res.writableEnded && !res.destroyed) res.json({ abort } satisfies AbortPoll);
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

/**
 * The workload id of the URL and the task token, once the token is shown to be that workload's.
 * Authentication comes first: without a genuine task token a caller learns nothing about the
 * workload of the URL, not even whether it exists (the same 401 for a missing, a live and an
 * ended workload). `ended`: an ended workload's own token still authenticates (its runner may be
 * retrying a batch whose ack it lost; the dispatcher then answers 409 workload_ended with `ack`).
 * An authenticated runner that names another workload gets 404 or 403.
 */
async function authorize(
  ctx: AppContext,
  req: Request,
  { ended }: { ended: boolean },
): Promise<{ token: string; id: string }> {
  const token = tokenFrom(req.headers.authorization);
  if (!token) throw unauthorized("a task token is required (Authorization: Bearer)");
  const owner = await taskTokenOwner(ctx.db, token, ended);
  if (!owner) throw unauthorized("the task token is not valid (or the workload ended)");
  const id = req.params.id as string;
  if (owner === id) return { token, id };
  if (!isUuid(id) || !(await workloadExists(ctx.db, id))) {
    throw new EventRejectionError(404, "not_found", `no workload ${id}`);
  }
  throw new EventRejectionError(403, "forbidden", "the task token is for another workload");
}

/** The workload a task token belongs to: a live one, or (with `ended`) one that ended. */
async function taskTokenOwner(db: Queryable, token: string, ended: boolean): Promise<string | undefined> {
  const live = await workloadForTaskToken(db, token);
  if (live || !ended || !token.startsWith(TASK_TOKEN_PREFIX) || token.length > 200) return live?.workloadId;
  const r = await db.query<{ id: string }>("SELECT id FROM workloads WHERE ended_token_hash = $1", [
    hashToken(token),
  ]);
  return r.rows[0]?.id;
}

async function workloadExists(db: Queryable, id: string): Promise<boolean> {
  return (await db.query("SELECT 1 FROM workloads WHERE id = $1", [id])).rows.length > 0;
}

async function accept(ctx: AppContext, req: Request) {
  const { token, id } = await authorize(ctx, req, { ended: true });
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
