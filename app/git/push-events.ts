/**
 * Push events: one per ref a push updated, recorded in `push_events` and then delivered to
 * in-process subscribers (the workflow engine). Subscribers run after the push has been
 * answered; one that throws is logged and does not affect the others.
 */
import type { Queryable } from "../db";
import type { Logger } from "../log";

export interface PushEvent {
  /** `push_events.id`: increases with every recorded event. */
  id: number;
  repo: { id: number; owner: string; name: string };
  /** Full ref name, e.g. `refs/heads/main` or `refs/tags/v1`. */
  ref: string;
  /** The ref's previous commit; all zeros when the push created it. */
  before: string;
  /** The ref's new commit; all zeros when the push deleted it. */
  after: string;
  pusher: { id: number; username: string } | null;
  createdAt: string;
}

export type PushListener = (event: PushEvent) => void | Promise<void>;

export class PushEventBus {
  private readonly listeners = new Set<PushListener>();

  constructor(private readonly log?: Logger) {}

  /** Calls `listener` for every push event from now on; returns the unsubscribe function. */
  subscribe(listener: PushListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  emit(event: PushEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        const r = listener(event);
        if (r instanceof Promise) r.catch((err) => this.log?.error({ err, event }, "push listener failed"));
      } catch (err) {
        this.log?.error({ err, event }, "push listener failed");
      }
    }
  }
}

/** Records the updates of one push (one row per ref, in the order the client sent them). */
export async function recordPushEvents(
  db: Queryable,
  repo: PushEvent["repo"],
  pusher: PushEvent["pusher"],
  updates: ReadonlyArray<{ ref: string; before: string; after: string }>,
): Promise<PushEvent[]> {
  if (updates.length === 0) return [];
  const r = await db.query<{
    id: number;
    ref: string;
    before_sha: string;
    after_sha: string;
    created_at: Date;
  }>(
    `INSERT INTO push_events (repo_id, ref, before_sha, after_sha, pusher_id)
     SELECT $1, u.ref, u.before_sha, u.after_sha, $5
       FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u(ref, before_sha, after_sha, n)
      ORDER BY u.n
     RETURNING id::int AS id, ref, before_sha, after_sha, created_at`,
    [
      repo.id,
      updates.map((u) => u.ref),
      updates.map((u) => u.before),
      updates.map((u) => u.after),
      pusher?.id ?? null,
    ],
  );
  return r.rows
    .sort((a, b) => a.id - b.id)
    .map((row) => ({
      id: row.id,
      repo,
      ref: row.ref,
      before: row.before_sha,
      after: row.after_sha,
      pusher,
      createdAt: new Date(row.created_at).toISOString(),
    }));
}
