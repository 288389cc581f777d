/**
 * The timeline of an issue or pull request (`issue_events`): every change is recorded here, in
 * the transaction that makes it, by whichever area makes it (issues, pull requests, merges,
 * commits that reference `#N`). The kinds and their data are the contract's TIMELINE_KINDS.
 */
import type { Queryable } from "../db";
import type { TimelineKind } from "../wire/pulls";

export async function recordTimeline(
  tx: Queryable,
  issueId: number,
  actorId: number | null,
  kind: TimelineKind,
  data: Record<string, unknown> = {},
): Promise<void> {
  await tx.query("INSERT INTO issue_events (issue_id, actor_id, kind, data) VALUES ($1, $2, $3, $4)", [
    issueId,
    actorId,
    kind,
    JSON.stringify(data),
  ]);
  await tx.query("UPDATE issues SET updated_at = now() WHERE id = $1", [issueId]);
}
