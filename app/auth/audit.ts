/**
 * The audit log: who did what, when, from where (docs/accounts.md lists the actions). Written in the
 * same transaction as the change it records when there is one, so a change and its entry land
 * together. Details never hold a secret: keys that name one are dropped before the row is written.
 */
import type { Queryable } from "../db";
import type { AuditAction, AuditEntryView, AuditPage } from "../wire/accounts";
import { isSecretName } from "../wire/redact";

export interface AuditEvent {
  /** Who acted; null or absent for an anonymous attempt (a failed sign-in of no such user). */
  actor?: { id: number; username: string } | null;
  action: AuditAction;
  /** What it acted on: `alice`, `acme/api`, `token 12`. */
  target?: string;
  /** The client address (`req.ip`). */
  ip?: string;
  details?: Record<string, unknown>;
}

export async function audit(db: Queryable, event: AuditEvent): Promise<void> {
  const details = Object.fromEntries(Object.entries(event.details ?? {}).filter(([k]) => !isSecretName(k)));
  await db.query(
    "INSERT INTO audit_log (actor_id, actor, action, target, ip, details) VALUES ($1, $2, $3, $4, $5, $6)",
    [
      event.actor?.id ?? null,
      event.actor?.username ?? null,
      event.action,
      event.target ?? null,
      event.ip ?? null,
      JSON.stringify(details),
    ],
  );
}

interface Row {
  id: number;
  at: Date;
  actor: string | null;
  action: AuditEntryView["action"];
  target: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}

/** Newest first, `limit` at a time, from before the entry `before`, optionally of one action. */
export async function auditPage(
  db: Queryable,
  { before, action, limit = 100 }: { before?: number; action?: string; limit?: number } = {},
): Promise<AuditPage> {
  const r = await db.query<Row>(
    `SELECT id::int AS id, at, actor, action, target, ip, details FROM audit_log
      WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR action = $2)
      ORDER BY id DESC LIMIT $3`,
    [before ?? null, action ?? null, limit + 1],
  );
  const rows = r.rows.slice(0, limit);
  return {
    entries: rows.map((row) => ({ ...row, at: new Date(row.at).toISOString() })),
    next: r.rows.length > limit ? rows[rows.length - 1]!.id : null,
  };
}
