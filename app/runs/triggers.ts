/**
 * From an event to runs. An event (a push from the git bus, a webhook, a manual dispatch, a chat
 * message or mention) names a repository and a commit. The workflow files at that commit are
 * evaluated (cached by blob id), matched against the event, and each matching workflow becomes a
 * run (starter.ts creates and starts it). A file with an error becomes a run with status `error`
 * that shows the `path:line:col` message; it never keeps the other files from running.
 */
import type { RepoPermissions } from "../auth/permissions";
import type { User } from "../auth/tokens";
import type { Db } from "../db";
import { AppError, notFound } from "../errors";
import { git } from "../git/exec";
import type { PushEvent } from "../git/push-events";
import type { Repository } from "../git/repos";
import type { GitService } from "../git/service";
import type { Logger } from "../log";
import type { CreatedRun } from "../wire/api";
import { isUuid } from "../wire/ids";
import {
  formatError,
  matchTriggers,
  type WorkflowEvent,
  type WorkflowEventInput,
  WorkflowEventSchema,
} from "../workflows/index";
import {
  fileErrors,
  type LoadedWorkflowFile,
  upsertDefinition,
  type WorkflowDefinitions,
} from "./definitions";
import type { NewRun, RunStarter } from "./starter";

const ZERO_SHA = /^0{40}$/;
/** Changed paths computed for `paths=` filters (beyond that the filters pass, see glob.ts). */
const MAX_CHANGED_PATHS = 1000;
/** Most mentions one message starts workflows for. */
const MAX_MENTIONS = 5;

export interface RunTriggersDeps {
  readonly db: Db;
  readonly log: Logger;
  readonly git: GitService;
  readonly definitions: WorkflowDefinitions;
  readonly starter: RunStarter;
  /** Who may start the repository's runs from a chat message (write access). */
  readonly permissions: RepoPermissions;
}

/** One event for one repository at one commit. */
export interface TriggerInput {
  repo: Repository;
  event: WorkflowEventInput;
  /** Where workflow files are read and the runner checks out. */
  commit: string;
  /** Full ref the run is about (`refs/heads/main`); null when there is none. */
  ref: string | null;
}

export class RunTriggers {
  constructor(private readonly deps: RunTriggersDeps) {}

  async onPush(e: PushEvent): Promise<CreatedRun[]> {
    if (ZERO_SHA.test(e.after)) return []; // a deletion: nothing to run
    const repo = await this.deps.git.repos.byId(e.repo.id);
    if (!repo) return [];
    const event = {
      kind: "push" as const,
      ref: e.ref,
      before: e.before,
      after: e.after,
      ...(e.pusher ? { pusher: e.pusher.username } : {}),
    };
    return this.trigger({ repo, event, commit: e.after, ref: e.ref });
  }

  /**
   * Creates the runs an event starts at a commit. Every workflow file is loaded; broken files
   * give `error` runs, matching workflows give runs with their plans.
   */
  async trigger(input: TriggerInput): Promise<CreatedRun[]> {
    const parsed = WorkflowEventSchema.safeParse(input.event);
    if (!parsed.success) {
      throw new AppError(
        422,
        "invalid_event",
        `invalid event: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      );
    }
    const pushed = parsed.data;
    // Evaluated in a worker, all files within one deadline; the changed paths only if a filter needs them.
    const evaluated = await this.deps.definitions.evaluate(input.repo, input.commit, {
      event: pushed,
      ...(pushed.kind === "push" && !pushed.paths
        ? { paths: () => this.changedPaths(input.repo, pushed.before, pushed.after) }
        : {}),
    });
    const files = evaluated.files;
    if (files.length === 0) return [];
    const event = (evaluated.event ?? pushed) as WorkflowEvent;
    if (event.kind === "pull_request") await this.recordSkips(input, files, event);
    const runs: NewRun[] = [];
    const sessionId = await this.sessionFor(event);
    for (const file of files) {
      const definitionId = await upsertDefinition(this.deps.db, input.repo.id, file);
      const base = { repo: input.repo, path: file.path, definitionId, commit: input.commit, ref: input.ref };
      const common = { ...base, event, eventKind: event.kind, sessionId };
      if (!file.result.ok) {
        // A dispatch names a workflow of a file that loads; chat messages and mentions would turn
        // one broken file into an error run per message (its push already reported it).
        if (event.kind === "manual" || event.kind === "chat" || event.kind === "mention") continue;
        runs.push({ ...common, workflow: stem(file.path), plan: null, error: fileErrors(file.result)! });
        continue;
      }
      for (const { name, event: matched, outcome } of file.plans) {
        runs.push({
          ...common,
          event: matched,
          workflow: name,
          plan: outcome.ok ? outcome.plan : null,
          error: outcome.ok ? null : outcome.errors.map(formatError).join("\n"),
        });
      }
    }
    const created: CreatedRun[] = [];
    for (const run of runs) created.push(await this.deps.starter.create(run));
    if (created.length > 0) {
      this.deps.log.info(
        { repo: `${input.repo.owner}/${input.repo.name}`, event: event.kind, runs: created.length },
        "workflow runs created",
      );
    }
    return created;
  }

  /**
   * The workflows of loaded files that run on pull requests but whose filters kept this event from
   * starting them, with matchTriggers' reason (`no changed path matches docs/**`): a required check
   * of that name is satisfied as skipped at this commit (app/pulls/checks.ts), instead of waiting
   * for a run that never comes. Workflows without a pull_request trigger are not checks of pull
   * requests at all, and are left out.
   */
  private async recordSkips(input: TriggerInput, files: LoadedWorkflowFile[], event: WorkflowEvent) {
    const skipped: Array<{ workflow: string; reason: string }> = [];
    for (const file of files) {
      if (!file.result.ok) continue;
      const started = new Set(file.plans.map((p) => p.name));
      for (const header of file.result.workflows) {
        if (started.has(header.name) || !header.triggers.some((t) => t.kind === "pull_request")) continue;
        const match = matchTriggers(header, event);
        if (!match.matched) skipped.push({ workflow: header.name, reason: match.reason });
      }
    }
    if (skipped.length === 0) return;
    await this.deps.db.query(
      `INSERT INTO check_skips (repo_id, sha, workflow, reason)
       SELECT $1, $2, w, r FROM unnest($3::text[], $4::text[]) AS x(w, r)
       ON CONFLICT (repo_id, sha, workflow) DO UPDATE SET reason = EXCLUDED.reason`,
      [input.repo.id, input.commit, skipped.map((s) => s.workflow), skipped.map((s) => s.reason)],
    );
    await this.deps.starter.checksSkipped(input.repo.id, input.commit);
  }

  /**
   * A chat message in a session on a repository: a `chat` event, and a `mention` event for each
   * `@handle` in it, at the head of the default branch; matching workflows run in `agent` mode
   * with the session. Only a user who may start the repository's runs (write access)
   * starts them: anyone may chat about a public repository, not spend its runners.
   */
  async onChatMessage(user: User, repoId: number, sessionId: string, message: string): Promise<CreatedRun[]> {
    const repo = await this.deps.git.repos.byId(repoId);
    if (!repo || !(await this.deps.permissions.can({ user }, repo, "write"))) return [];
    const commit = await this.deps.git.resolveRef(repo, repo.defaultBranch).catch(() => undefined);
    if (!commit) return []; // an empty repository has no workflows
    const ref = `refs/heads/${repo.defaultBranch}`;
    const events: WorkflowEventInput[] = [
      { kind: "chat", session_id: sessionId, message },
      ...mentions(message).map((handle) => ({
        kind: "mention" as const,
        handle,
        body: message,
        session_id: sessionId,
      })),
    ];
    const created: CreatedRun[] = [];
    for (const event of events) created.push(...(await this.trigger({ repo, event, commit, ref })));
    return created;
  }

  /**
   * A manual run of one workflow at a ref (default branch), for a caller already allowed to start
   * the repository's runs. 404 when no workflow file at that commit defines it, 422 when its
   * triggers refuse the dispatch (no manual trigger, a missing or unknown input).
   */
  async dispatchManual(
    repo: Repository,
    name: string,
    input: { ref?: string; inputs?: Record<string, string | number | boolean> },
  ): Promise<CreatedRun> {
    const refName = input.ref ?? repo.defaultBranch;
    const commit = await this.deps.git.resolveRef(repo, refName).catch(() => undefined);
    if (!commit) throw notFound(`no branch, tag or commit ${refName} in ${repo.owner}/${repo.name}`);
    const ref =
      commit === refName ? null : refName.startsWith("refs/") ? refName : await this.fullRef(repo, refName);
    const event = {
      kind: "manual" as const,
      workflow: name,
      ...(ref ? { ref } : {}),
      inputs: input.inputs ?? {},
    };
    const { files } = await this.deps.definitions.evaluate(repo, commit, { event, only: { workflow: name } });
    const found = files.find((f) => f.result.ok && f.result.workflows.some((w) => w.name === name));
    if (!found?.result.ok) {
      const broken = files.map((f) => fileErrors(f.result)).filter(Boolean);
      const hint = broken.length ? `; files with errors:\n${broken.join("\n")}` : "";
      throw notFound(`no workflow named ${name} at ${refName}${hint}`);
    }
    const header = found.result.workflows.find((w) => w.name === name)!;
    const match = matchTriggers(header, event);
    if (!match.matched)
      throw new AppError(422, "not_dispatchable", `cannot dispatch ${name}: ${match.reason}`);
    const outcome = found.plans.find((p) => p.name === name)?.outcome ?? {
      ok: false as const,
      errors: [{ ...header.source, message: `${name} was not evaluated` }],
    };
    const definitionId = await upsertDefinition(this.deps.db, repo.id, found);
    return this.deps.starter.create({
      repo,
      workflow: name,
      path: found.path,
      definitionId,
      event: match.event,
      eventKind: "manual",
      commit,
      ref,
      plan: outcome.ok ? outcome.plan : null,
      error: outcome.ok ? null : outcome.errors.map(formatError).join("\n"),
      sessionId: null,
    });
  }

  private async fullRef(repo: Repository, name: string): Promise<string | null> {
    const gitDir = this.deps.git.repos.gitDir(repo);
    for (const ref of [`refs/heads/${name}`, `refs/tags/${name}`]) {
      if (await this.deps.git.objects.resolveCommit(gitDir, ref)) return ref;
    }
    return null;
  }

  /** The session a chat or mention run belongs to (mode `agent`), when it names an existing one. */
  private async sessionFor(event: WorkflowEvent): Promise<string | null> {
    if (event.kind !== "chat" && event.kind !== "mention") return null;
    const sessionId = event.session_id;
    if (typeof sessionId !== "string" || !isUuid(sessionId)) return null;
    const r = await this.deps.db.query("SELECT 1 FROM sessions WHERE id = $1", [sessionId]);
    return r.rowCount > 0 ? sessionId : null;
  }

  /** Paths changed by a push, for `paths=` filters; undefined when unknown (new branch, too many). */
  private async changedPaths(repo: Repository, before: string, after: string): Promise<string[] | undefined> {
    if (ZERO_SHA.test(before)) return undefined;
    try {
      const out = await git(["diff-tree", "-r", "-z", "--name-only", "--no-renames", before, after], {
        gitDir: this.deps.git.repos.gitDir(repo),
      });
      const paths = out.split("\0").filter(Boolean);
      return paths.length > MAX_CHANGED_PATHS ? undefined : paths;
    } catch {
      return undefined; // `before` is unknown here (a force push): the change set is unknown
    }
  }
}

/** `.plue/workflows/ci.py` → `ci`: the name of an error run whose file defines none. */
function stem(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1);
  return base.endsWith(".py") ? base.slice(0, -3) : base;
}

/** The distinct `@handle`s in a message (lower case; not an address like a@b.c), at most MAX_MENTIONS. */
export function mentions(message: string): string[] {
  const handles = [...message.matchAll(/(?<![\w.@])@([A-Za-z0-9][A-Za-z0-9_-]{0,38})/g)].map((m) =>
    m[1]!.toLowerCase(),
  );
  return [...new Set(handles)].slice(0, MAX_MENTIONS);
}
