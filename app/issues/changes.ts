/**
 * The changes an issue update makes inside its transaction, each with its timeline entries:
 * title and body (`edited`), state (`closed` with its reason, `reopened`), labels and assignees
 * (replaced: `labeled`/`unlabeled`, `assigned`/`unassigned`).
 */
import type { Queryable } from "../db";
import { conflict } from "../errors";
import type { LabelView, UpdateIssue } from "../wire/pulls";
import type { Person } from "./people";
import { recordTimeline } from "./timeline";
import type { IssueRow } from "./views";

type UpdateInput = import("zod").output<typeof UpdateIssue>;

export async function edit(
  tx: Queryable,
  issue: IssueRow,
  actorId: number,
  input: UpdateInput,
): Promise<boolean> {
  const changes: Record<string, unknown> = {};
  if (input.title !== undefined && input.title !== issue.title) changes.title = { from: issue.title };
  if (input.body !== undefined && input.body !== issue.body) changes.body = { changed: true };
  if (Object.keys(changes).length === 0) return false;
  await tx.query("UPDATE issues SET title = $2, body = $3 WHERE id = $1", [
    issue.id,
    input.title ?? issue.title,
    input.body ?? issue.body,
  ]);
  await recordTimeline(tx, issue.id, actorId, "edited", { changes });
  return true;
}

export async function changeState(
  tx: Queryable,
  issue: IssueRow,
  actorId: number,
  input: UpdateInput,
): Promise<"closed" | "reopened" | undefined> {
  if (input.state === "closed" && issue.state === "open") {
    // A pull request closed here is closed unmerged; only its merge says `merged`.
    const reason = issue.is_pull ? null : (input.state_reason ?? "completed");
    await tx.query(
      `UPDATE issues SET state = 'closed', state_reason = $2, closed_at = now(), closed_by_id = $3 WHERE id = $1`,
      [issue.id, reason, actorId],
    );
    await recordTimeline(tx, issue.id, actorId, "closed", reason ? { state_reason: reason } : {});
    return "closed";
  }
  if (input.state === "open" && issue.state === "closed") {
    if (issue.is_pull) await refuseMerged(tx, issue);
    await tx.query(
      `UPDATE issues SET state = 'open', state_reason = 'reopened', closed_at = NULL, closed_by_id = NULL
        WHERE id = $1`,
      [issue.id],
    );
    await recordTimeline(tx, issue.id, actorId, "reopened");
    return "reopened";
  }
  if (
    input.state_reason &&
    issue.state === "closed" &&
    !issue.is_pull &&
    input.state_reason !== issue.state_reason
  ) {
    await tx.query("UPDATE issues SET state_reason = $2 WHERE id = $1", [issue.id, input.state_reason]);
    await recordTimeline(tx, issue.id, actorId, "closed", { state_reason: input.state_reason });
  }
  return undefined;
}

export async function refuseMerged(tx: Queryable, issue: IssueRow): Promise<void> {
  const r = await tx.query("SELECT 1 FROM pull_requests WHERE issue_id = $1 AND merged_at IS NOT NULL", [
    issue.id,
  ]);
  if (r.rowCount > 0)
    throw conflict(`pull request #${issue.number} is merged: it cannot be reopened`, "merged");
}

export async function labelsOf(db: Queryable, issue: IssueRow): Promise<LabelView[]> {
  const r = await db.query<LabelView>(
    `SELECT l.id::int AS id, l.name, l.color, l.description FROM issue_labels il
       JOIN labels l ON l.id = il.label_id WHERE il.issue_id = $1 ORDER BY lower(l.name)`,
    [issue.id],
  );
  return r.rows;
}

/** Makes `labels` the issue's labels, recording each one added and removed. */
export async function changeLabels(
  tx: Queryable,
  issue: IssueRow,
  actorId: number,
  labels: readonly LabelView[],
): Promise<{ added: LabelView[]; removed: LabelView[] }> {
  const current = await labelsOf(tx, issue);
  const added = labels.filter((l) => !current.some((c) => c.id === l.id));
  const removed = current.filter((c) => !labels.some((l) => l.id === c.id));
  for (const l of removed) {
    await tx.query("DELETE FROM issue_labels WHERE issue_id = $1 AND label_id = $2", [issue.id, l.id]);
    await recordTimeline(tx, issue.id, actorId, "unlabeled", { label: l.name, color: l.color });
  }
  for (const l of added) {
    await tx.query("INSERT INTO issue_labels (issue_id, label_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", [
      issue.id,
      l.id,
    ]);
    await recordTimeline(tx, issue.id, actorId, "labeled", { label: l.name, color: l.color });
  }
  return { added, removed };
}

export async function changeAssignees(
  tx: Queryable,
  issue: IssueRow,
  actorId: number,
  people: readonly Person[],
): Promise<void> {
  const r = await tx.query<{ id: number; username: string }>(
    `SELECT u.id::int AS id, u.username FROM issue_assignees a JOIN users u ON u.id = a.user_id
      WHERE a.issue_id = $1`,
    [issue.id],
  );
  for (const u of r.rows.filter((c) => !people.some((p) => p.id === c.id))) {
    await tx.query("DELETE FROM issue_assignees WHERE issue_id = $1 AND user_id = $2", [issue.id, u.id]);
    await recordTimeline(tx, issue.id, actorId, "unassigned", { assignee: u.username });
  }
  for (const p of people.filter((p) => !r.rows.some((c) => c.id === p.id))) {
    await tx.query("INSERT INTO issue_assignees (issue_id, user_id) VALUES ($1, $2)", [issue.id, p.id]);
    await recordTimeline(tx, issue.id, actorId, "assigned", { assignee: p.username });
  }
}
