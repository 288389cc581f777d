/** Reading the timeline (`issue_events`) of an issue or pull request, a page at a time, oldest first. */
import type { Queryable } from "../db";
import type { Page, TimelineEventView, TimelineKind } from "../wire/pulls";

interface EventRow {
  id: number;
  kind: TimelineKind;
  actor_id: number | null;
  actor: string | null;
  data: Record<string, unknown> | string;
  created_at: Date;
}

export async function listTimeline(
  db: Queryable,
  issueId: number,
  page: number,
  perPage: number,
): Promise<Page<TimelineEventView>> {
  const [rows, total] = await Promise.all([
    db.query<EventRow>(
      `SELECT e.id::int AS id, e.kind, e.actor_id::int AS actor_id, u.username AS actor, e.data, e.created_at
         FROM issue_events e LEFT JOIN users u ON u.id = e.actor_id
        WHERE e.issue_id = $1 ORDER BY e.id LIMIT $2 OFFSET $3`,
      [issueId, perPage, (page - 1) * perPage],
    ),
    db.query<{ n: number }>("SELECT count(*)::int AS n FROM issue_events WHERE issue_id = $1", [issueId]),
  ]);
  const n = total.rows[0]?.n ?? 0;
  return {
    items: rows.rows.map((e) => ({
      id: e.id,
      kind: e.kind,
      actor: e.actor_id !== null && e.actor !== null ? { id: e.actor_id, username: e.actor } : null,
      data: typeof e.data === "string" ? JSON.parse(e.data) : e.data,
      created_at: new Date(e.created_at).toISOString(),
    })),
    total: n,
    page,
    per_page: perPage,
    next_page: page * perPage < n ? page + 1 : null,
  };
}
