/**
 * Agent sessions: a conversation owned by its creating user (others get 404), optionally about a
 * repository. `run` stores the user message and starts an `agent` workload (on a repository, also
 * the workflows the message triggers); when the workload ends, its events are folded into
 * `messages`/`parts`, so history survives without the stream.
 *
 * Session status: idle → running → (aborting →) idle | aborted | failed; a new run may start from
 * any state but running/aborting.
 */
import { type Action, type RepoPermissions, type RepoRef, readableRepoSql } from "../auth/permissions";
import type { User } from "../auth/tokens";
import type { Db, Queryable } from "../db";
import type { Dispatcher, WorkloadEnd } from "../dispatch/dispatcher";
import { LIVE_WORKLOAD_SQL } from "../dispatch/status";
import { AppError, conflict, notFound } from "../errors";
import type { EventHub } from "../events/hub";
import { allEvents } from "../events/store";
import { sessionTopic } from "../events/topics";
import type { Logger } from "../log";
import type {
  CreatedRun,
  EndStatus,
  MessageView,
  SessionRunStarted,
  SessionStatus,
  SessionSummary,
  SessionView,
  WorkloadStatus,
} from "../wire/api";
import { isUuid } from "../wire/ids";
import { type ChatMessage, type ChatPart, Limits } from "../wire/protocol";
import { foldEvents, mergeRoles } from "./fold";

const SESSION_STATUS_AFTER: Record<EndStatus, SessionStatus> = {
  succeeded: "idle",
  aborted: "aborted",
  failed: "failed",
};

export interface SessionServiceDeps {
  readonly db: Db;
  readonly log: Logger;
  readonly hub: EventHub;
  readonly dispatcher: Dispatcher;
  /** The URL an agent's runner clones the session's repository from. */
  readonly publicUrl: () => string;
  /** The model agents run (PLUE_MODEL). */
  readonly model: string;
  /**
   * Who may open or read a session about a repository (read) and post to it or stop its runner
   * (write); a user who loses read access stops seeing their sessions about it.
   */
  readonly permissions: RepoPermissions;
  /** Starts the workflows a message on a repository triggers (app/runs). */
  readonly workflows: ChatWorkflows;
}

/** A chat message on a repository is a `chat` event (and a `mention` per @handle) for its workflows. */
export interface ChatWorkflows {
  onChatMessage(user: User, repoId: number, sessionId: string, message: string): Promise<CreatedRun[]>;
}

interface SessionRow {
  id: string;
  user_id: number | null;
  title: string | null;
  status: SessionStatus;
  repo_id: number | null;
  repo: string | null;
  repo_owner: string | null;
  repo_name: string | null;
  repo_owner_id: number | null;
  repo_visibility: "public" | "private" | null;
  created_at: Date;
  updated_at: Date;
}

export class SessionService {
  private readonly db: Db;
  private readonly hub: EventHub;
  private readonly dispatcher: Dispatcher;

  constructor(private readonly deps: SessionServiceDeps) {
    this.db = deps.db;
    this.hub = deps.hub;
    this.dispatcher = deps.dispatcher;
    this.dispatcher.onWorkloadEnd("agent", (tx, end) => this.runEnded(tx, end));
  }

  async create(user: User, input: { repo?: string; title?: string }): Promise<SessionView> {
    const repoId = input.repo ? (await this.visibleRepo(user, input.repo)).id : null;
    const id = crypto.randomUUID();
    await this.db.query("INSERT INTO sessions (id, user_id, repo_id, title) VALUES ($1, $2, $3, $4)", [
      id,
      user.id,
      repoId,
      input.title ?? null,
    ]);
    return this.get(user, id);
  }

  async get(user: User, id: string): Promise<SessionView> {
    const s = await this.owned(this.db, user, id);
    const r = await this.db.query<{ id: string; status: WorkloadStatus; created_at: Date }>(
      "SELECT id, status, created_at FROM workloads WHERE session_id = $1 ORDER BY created_at DESC, id LIMIT 1",
      [id],
    );
    const run = r.rows[0];
    return {
      id: s.id,
      title: s.title,
      repo: s.repo,
      status: s.status,
      run: run ? { workload_id: run.id, status: run.status, created_at: iso(run.created_at) } : null,
      created_at: iso(s.created_at),
      updated_at: iso(s.updated_at),
    };
  }

  /**
   * The user's sessions, most recently active first; `repo` keeps those about one repository,
   * `before` (a session id) continues after that session. One more than `limit` is read to know
   * whether there is a next page.
   */
  async list(
    user: User,
    query: { repo?: string; limit: number; before?: string },
  ): Promise<{ sessions: SessionSummary[]; next: string | null }> {
    const params: unknown[] = [user.id];
    // Only sessions about repositories the user may still read (or about none).
    const where = ["s.user_id = $1", `(r.id IS NULL OR ${readableRepoSql(1, user.is_admin)})`];
    if (query.repo) {
      const [owner, name] = query.repo.split("/");
      params.push(owner, name);
      where.push(
        `lower(r.owner) = lower($${params.length - 1}) AND lower(r.name) = lower($${params.length})`,
      );
    }
    if (query.before) {
      await this.owned(this.db, user, query.before); // 404 unless it is the user's
      params.push(query.before);
      // Compared in SQL: a timestamp through JavaScript would lose its microseconds.
      where.push(`(s.updated_at, s.id) < (SELECT updated_at, id FROM sessions WHERE id = $${params.length})`);
    }
    params.push(query.limit + 1);
    const r = await this.db.query<
      Pick<SessionRow, "id" | "title" | "status" | "repo" | "created_at" | "updated_at">
    >(
      `SELECT s.id, s.title, s.status, s.created_at, s.updated_at,
              CASE WHEN r.id IS NULL THEN NULL ELSE r.owner || '/' || r.name END AS repo
         FROM sessions s LEFT JOIN repositories r ON r.id = s.repo_id
        WHERE ${where.join(" AND ")}
        ORDER BY s.updated_at DESC, s.id DESC
        LIMIT $${params.length}`,
      params,
    );
    const page = r.rows.slice(0, query.limit);
    return {
      sessions: page.map((s) => ({
        id: s.id,
        title: s.title,
        repo: s.repo,
        status: s.status,
        created_at: iso(s.created_at),
        updated_at: iso(s.updated_at),
      })),
      next: r.rows.length > query.limit ? page.at(-1)!.id : null,
    };
  }

  async messages(user: User, id: string): Promise<MessageView[]> {
    await this.owned(this.db, user, id);
    return loadMessages(this.db, id);
  }

  /**
   * Stores the user message and starts a run; 409 while another run is in progress. On a
   * repository the message also starts its chat and mention workflows: the agent already runs,
   * so a failure there is logged, not answered.
   */
  async run(user: User, id: string, text: string): Promise<SessionRunStarted> {
    // Checked before the transaction: the permission lookup queries outside it (and PGlite has one
    // connection), and a check inside could only repeat this one.
    await this.owned(this.db, user, id, false, "write");
    const started = await this.db.transaction(async (tx) => {
      const s = await this.owned(tx, user, id, true, null);
      if (s.status === "running" || s.status === "aborting") {
        throw conflict(`session ${id} already has a run in progress; abort it or wait for it to end`, "busy");
      }
      const m = await tx.query<{ id: number }>(
        "INSERT INTO messages (session_id, role) VALUES ($1, 'user') RETURNING id::int AS id",
        [id],
      );
      const messageId = m.rows[0]!.id;
      await tx.query("INSERT INTO parts (message_id, idx, type, data) VALUES ($1, 0, 'text', $2)", [
        messageId,
        JSON.stringify({ type: "text", text }),
      ]);
      const history = mergeRoles((await loadMessages(tx, id)).map(({ role, parts }) => ({ role, parts })));
      const assignment = await this.dispatcher.create(tx, {
        type: "agent",
        session_id: id,
        repo: s.repo_id ? await this.repoRef(tx, s.repo_id) : undefined,
        model: this.deps.model,
        messages: history,
        limits: Limits.parse({}),
      });
      await tx.query("UPDATE messages SET workload_id = $2 WHERE id = $1", [
        messageId,
        assignment.workload.id,
      ]);
      await tx.query("UPDATE sessions SET status = 'running', updated_at = now() WHERE id = $1", [id]);
      return { assignment, repoId: s.repo_id };
    });
    // Streams waiting for a run (or following the session) learn of it now.
    await this.hub.signal(sessionTopic(id));
    await this.dispatcher.dispatch(started.assignment);
    const runs = started.repoId
      ? await this.deps.workflows.onChatMessage(user, started.repoId, id, text).catch((err) => {
          this.deps.log.error({ err, session: id }, "starting chat workflows failed");
          return [];
        })
      : [];
    return { workload_id: started.assignment.workload.id, runs };
  }

  /** Asks the running workload to stop; 409 when nothing is running. */
  async abort(user: User, id: string): Promise<{ workload_id: string; status: "aborting" }> {
    await this.owned(this.db, user, id, false, "write");
    const r = await this.db.query<{ id: string }>(
      `SELECT id FROM workloads WHERE session_id = $1 AND status IN ${LIVE_WORKLOAD_SQL}
        ORDER BY created_at DESC LIMIT 1`,
      [id],
    );
    const workloadId = r.rows[0]?.id;
    const marked =
      workloadId !== undefined &&
      (await this.dispatcher.requestAbort(workloadId, async (tx) => {
        await tx.query("UPDATE sessions SET status = 'aborting', updated_at = now() WHERE id = $1", [id]);
      }));
    if (!workloadId || !marked) throw conflict(`session ${id} has no run in progress`, "not_running");
    return { workload_id: workloadId, status: "aborting" };
  }

  /**
   * The session if it is `user`'s and, when it is about a repository, `user` may still do `action`
   * to it; 404 otherwise (existence is not revealed), 403 for read access without `action`.
   * `action` null: the caller checked it already (inside a transaction, where it must not query).
   */
  async owned(
    db: Queryable,
    user: User,
    id: string,
    lock = false,
    action: Action | null = "read",
  ): Promise<SessionRow> {
    if (!isUuid(id)) throw notFound(`no session ${id}`);
    const r = await db.query<SessionRow>(
      `SELECT s.id, s.user_id::int AS user_id, s.title, s.status, s.repo_id::int AS repo_id,
              CASE WHEN r.id IS NULL THEN NULL ELSE r.owner || '/' || r.name END AS repo,
              r.owner AS repo_owner, r.name AS repo_name, r.owner_id::int AS repo_owner_id,
              r.visibility AS repo_visibility, s.created_at, s.updated_at
         FROM sessions s LEFT JOIN repositories r ON r.id = s.repo_id
        WHERE s.id = $1 ${lock ? "FOR UPDATE OF s" : ""}`,
      [id],
    );
    const s = r.rows[0];
    if (!s || s.user_id !== user.id) throw notFound(`no session ${id}`);
    if (s.repo_id !== null && action !== null) {
      const repo: RepoRef = {
        id: s.repo_id,
        owner: s.repo_owner!,
        name: s.repo_name!,
        ownerId: s.repo_owner_id,
        visibility: s.repo_visibility!,
      };
      try {
        await this.deps.permissions.authorize({ user }, repo, action);
      } catch (err) {
        if (err instanceof AppError && err.status === 404) throw notFound(`no session ${id}`);
        throw err;
      }
    }
    return s;
  }

  /** In the transaction that ends the workload: history and session status. */
  private async runEnded(tx: Queryable, end: WorkloadEnd): Promise<void> {
    const sessionId = end.workload.session_id;
    if (!sessionId) return;
    const folded = foldEvents(await allEvents(tx, end.workload.id));
    for (const message of folded) await insertMessage(tx, sessionId, end.workload.id, message);
    await tx.query("UPDATE sessions SET status = $2, updated_at = now() WHERE id = $1", [
      sessionId,
      SESSION_STATUS_AFTER[end.status],
    ]);
  }

  /** The repository a new session is about; opening one needs read access to it. */
  private async visibleRepo(user: User, fullName: string): Promise<{ id: number }> {
    const [owner, name] = fullName.split("/");
    const r = await this.db.query<RepoRef>(
      `SELECT id::int AS id, owner, name, visibility, owner_id::int AS "ownerId" FROM repositories
        WHERE lower(owner) = lower($1) AND lower(name) = lower($2)`,
      [owner, name],
    );
    const repo = r.rows[0];
    if (!repo) throw notFound(`no repository ${fullName}`);
    try {
      await this.deps.permissions.authorize({ user }, repo, "read");
    } catch (err) {
      if (err instanceof AppError && err.status === 404) throw notFound(`no repository ${fullName}`);
      throw err;
    }
    return repo;
  }

  private async repoRef(tx: Queryable, repoId: number) {
    const r = await tx.query<{ owner: string; name: string }>(
      "SELECT owner, name FROM repositories WHERE id = $1",
      [repoId],
    );
    const repo = r.rows[0];
    if (!repo) return undefined;
    const base = this.deps.publicUrl();
    return { owner: repo.owner, name: repo.name, clone_url: `${base}/${repo.owner}/${repo.name}.git` };
  }
}

async function insertMessage(tx: Queryable, sessionId: string, workloadId: string, message: ChatMessage) {
  const m = await tx.query<{ id: number }>(
    "INSERT INTO messages (session_id, role, workload_id) VALUES ($1, $2, $3) RETURNING id::int AS id",
    [sessionId, message.role, workloadId],
  );
  const id = m.rows[0]!.id;
  for (const [idx, part] of message.parts.entries()) {
    await tx.query("INSERT INTO parts (message_id, idx, type, data) VALUES ($1, $2, $3, $4)", [
      id,
      idx,
      part.type,
      JSON.stringify(part),
    ]);
  }
}

async function loadMessages(db: Queryable, sessionId: string): Promise<MessageView[]> {
  const r = await db.query<{
    id: number;
    role: "user" | "assistant";
    workload_id: string | null;
    created_at: Date;
    parts: unknown;
  }>(
    `SELECT m.id::int AS id, m.role, m.workload_id, m.created_at,
            COALESCE(json_agg(p.data ORDER BY p.idx) FILTER (WHERE p.id IS NOT NULL), '[]') AS parts
       FROM messages m LEFT JOIN parts p ON p.message_id = m.id
      WHERE m.session_id = $1 GROUP BY m.id ORDER BY m.id`,
    [sessionId],
  );
  return r.rows.map((m) => ({
    id: m.id,
    role: m.role,
    workload_id: m.workload_id,
    parts: (typeof m.parts === "string" ? JSON.parse(m.parts) : m.parts) as ChatPart[],
    created_at: iso(m.created_at),
  }));
}

const iso = (d: Date | string) => new Date(d).toISOString();
