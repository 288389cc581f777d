/**
 * The SSE endpoints of sessions and runs (`GET /api/sessions/:id/stream`, `/api/runs/:id/stream`):
 * the route has checked who may read it and names the source; this answers the same way for both.
 * A client that saw the end gets 204 (EventSource stops reconnecting); otherwise the stream runs
 * until its end, the client's disconnect or the replica's shutdown (app/events/workload-stream.ts).
 */
import type { Request, Response } from "express";
import type { AppContext } from "../compose";
import { badRequest } from "../errors";
import { SseWriter } from "../events/sse";
import { resolveStart, type WorkloadSource, WorkloadStream } from "../events/workload-stream";

export async function serveStream(
  ctx: Pick<AppContext, "db" | "events" | "sse">,
  req: Request,
  res: Response,
  source: WorkloadSource,
): Promise<void> {
  const start = await resolveStart(ctx.db, source, lastEventId(req.headers["last-event-id"], req.query));
  if (start.kind === "finished") {
    res.status(204).end();
    return;
  }
  const sse = new SseWriter(res, ctx.sse);
  sse.open();
  try {
    await new WorkloadStream(ctx.events, sse, source).start(start);
  } catch (err) {
    req.log?.warn({ err, stream: source.name }, "stream failed; the client will resume");
    sse.end();
  }
}

/** The header wins over `?lastEventId=` (a fresh EventSource can only pass the latter). */
function lastEventId(
  header: string | string[] | undefined,
  query: Record<string, unknown>,
): number | undefined {
  const raw = typeof header === "string" && header !== "" ? header : query.lastEventId;
  if (raw === undefined || raw === "") return undefined;
  if (typeof raw !== "string" || !/^\d{1,15}$/.test(raw)) {
    throw badRequest("Last-Event-ID must be an event id (a non-negative integer)");
  }
  return Number(raw);
}
