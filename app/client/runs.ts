/**
 * Following a workflow run (the run page, `plue run --follow`): an EventStream of the run's steps,
 * logs and end (RUN_STREAM_EVENTS) from `GET /api/runs/:id/stream`.
 */
import { RUN_STREAM_EVENTS, type RunEventType } from "../wire/api";
import { type ClientOptions, EventStream, streamUrl } from "./event-stream";

export type RunStream = EventStream<RunEventType>;

/** The run's events from its first until its terminal `done`/`error`. */
export function streamRun(options: ClientOptions, runId: string): RunStream {
  return new EventStream(options, {
    url: (lastEventId) =>
      streamUrl(options, `/api/runs/${encodeURIComponent(runId)}/stream`, { lastEventId }),
    types: RUN_STREAM_EVENTS,
  });
}
