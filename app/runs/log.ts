/**
 * A run's events as log text, the same for `GET /api/runs/:id/log` and `plue run --follow`: the
 * steps' output as it was printed, with a line where each step starts and ends.
 */
import type { EventDataOf, EventType } from "../wire/protocol";

export function formatRunEvent(type: EventType | string, data: unknown): string {
  switch (type) {
    case "log":
      return (data as EventDataOf<"log">).text;
    case "step_start": {
      const d = data as EventDataOf<"step_start">;
      return `==> ${d.step}${d.attempt && d.attempt > 1 ? ` (attempt ${d.attempt})` : ""}\n`;
    }
    case "step_end": {
      const d = data as EventDataOf<"step_end">;
      const details = [
        d.exit_code !== undefined && d.exit_code !== null ? `exit code ${d.exit_code}` : undefined,
        d.duration_ms !== undefined ? `${d.duration_ms} ms` : undefined,
        d.error,
      ].filter(Boolean);
      return `<== ${d.step}: ${d.status}${details.length ? ` (${details.join(", ")})` : ""}\n`;
    }
    case "done": {
      const d = data as EventDataOf<"done">;
      const status = d.reason === "completed" ? "success" : d.reason === "failed" ? "failure" : d.reason;
      return `=== run ${status}${d.message ? `: ${d.message}` : ""}\n`;
    }
    case "error":
      return `=== run error: ${(data as EventDataOf<"error">).message}\n`;
    default:
      return ""; // model tokens and tool calls belong to the stream, not the log
  }
}
