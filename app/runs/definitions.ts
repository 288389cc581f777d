/**
 * Workflow files of a repository at one commit: `.plue/workflows/*.py` read through the cat-file
 * pool, evaluated in worker threads (app/workflows/pool.ts: each keeps a WorkflowCache keyed by blob
 * id, so an unchanged file is parsed once per worker) within one deadline per event, and recorded in
 * `workflow_definitions` (one row per file version).
 */
import type { Config } from "../config";
import type { Queryable } from "../db";
import type { Repository } from "../git/repos";
import type { GitService } from "../git/service";
import type { FileOutcome, HeaderResult, SourceFile } from "../workflows/batch";
import {
  DEFAULT_LIMITS,
  formatError,
  PROMPTS_DIR,
  WORKFLOWS_DIR,
  type WorkflowEvent,
  type WorkflowEventInput,
} from "../workflows/index";
import { DEFAULT_POOL_OPTIONS, type PoolOptions, WorkflowPool } from "../workflows/pool";
import { sizeMessage } from "../workflows/syntax";

export const MAX_PROMPT_FILES = 200;
const MAX_PROMPT_BYTES = 256 * 1024;

/** A workflow file at a commit: its headers (or errors), and its plans for the event asked about. */
export type LoadedWorkflowFile = FileOutcome;

export type DefinitionsOptions = PoolOptions & {
  /** Workflow files read per commit; the rest is one error (PLUE_WORKFLOW_FILES_PER_PUSH). */
  maxFiles: number;
};

/** The pool's options from the configuration. */
export function definitionsOptions(config: Config): DefinitionsOptions {
  return {
    threads: config.PLUE_WORKFLOW_WORKERS,
    deadlineMs: config.PLUE_WORKFLOW_DEADLINE_MS,
    memoryMb: Math.max(16, Math.round(config.PLUE_WORKFLOW_WORKER_MEMORY / 1024 ** 2)),
    maxFiles: config.PLUE_WORKFLOW_FILES_PER_PUSH,
    limits: { maxWorkflows: config.PLUE_WORKFLOWS_PER_FILE },
  };
}

export type EvaluateRequest = {
  /** Plans for the workflows this event triggers; without one, headers only. */
  event?: WorkflowEventInput;
  /** One workflow (see BatchRequest.only). */
  only?: { workflow: string; path?: string; match?: boolean };
  /** A push without `paths`: called, when some workflow filters by path, for the changed paths. */
  paths?: () => Promise<string[] | undefined>;
};

export class WorkflowDefinitions {
  /** Evaluation happens in worker threads (app/workflows/pool.ts); each keeps a WorkflowCache. */
  readonly pool: WorkflowPool;
  private readonly maxFiles: number;

  constructor(
    private readonly git: GitService,
    options: DefinitionsOptions = { ...DEFAULT_POOL_OPTIONS, maxFiles: 50 },
  ) {
    this.pool = new WorkflowPool(options);
    this.maxFiles = options.maxFiles;
  }

  /** Every workflow file at `commit`, loaded (headers only; plans come per event). */
  async load(repo: Repository, commit: string): Promise<LoadedWorkflowFile[]> {
    return (await this.evaluate(repo, commit, {})).files;
  }

  /**
   * Every workflow file at `commit`, and the plans of the workflows `event` triggers, evaluated in a
   * worker within one deadline for all files. A repository's events are evaluated one at a time.
   * `event` in the answer is the request's, with the changed paths when they were computed.
   */
  evaluate(
    repo: Repository,
    commit: string,
    request: EvaluateRequest,
  ): Promise<{ event: WorkflowEventInput | undefined; files: LoadedWorkflowFile[] }> {
    return this.pool.serial(String(repo.id), async () => {
      const { sources, refused, prompts } = await this.read(repo, commit);
      let event = request.event;
      if (sources.length === 0) return { event, files: refused };
      const input = { files: sources, prompts, ...(request.only ? { only: request.only } : {}) };
      let answer = await this.pool.run({
        ...input,
        ...(event ? { event } : {}),
        stopIfPathsNeeded: request.paths !== undefined,
      });
      if (answer.pathsNeeded && event) {
        const paths = await request.paths?.();
        if (paths) event = { ...(event as WorkflowEvent & { kind: "push" }), paths };
        answer = await this.pool.run({ ...input, ...(event ? { event } : {}) }, answer.spentMs);
      }
      const files = [...answer.files, ...refused].sort((a, b) => (a.path < b.path ? -1 : 1));
      return { event, files };
    });
  }

  /** Stops the workers (shutdown); a later event starts new ones. */
  close(): Promise<void> {
    return this.pool.close();
  }

  /** The files' text, and the files refused without reading (too large, too many). */
  private async read(
    repo: Repository,
    commit: string,
  ): Promise<{ sources: SourceFile[]; refused: LoadedWorkflowFile[]; prompts: Map<string, string> }> {
    const entries = (await this.git.listTree(repo, commit, WORKFLOWS_DIR)) ?? [];
    const files = entries
      .filter((e) => e.type === "blob" && e.name.endsWith(".py"))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    const refused: LoadedWorkflowFile[] = [];
    if (files.length === 0) return { sources: [], refused, prompts: new Map() };
    const prompts = await this.readPrompts(repo, commit);
    const gitDir = this.git.repos.gitDir(repo);
    const sources: SourceFile[] = [];
    await Promise.all(
      files.slice(0, this.maxFiles).map(async (e) => {
        const path = `${WORKFLOWS_DIR}/${e.name}`;
        if ((e.size ?? 0) > DEFAULT_LIMITS.maxSourceBytes) {
          refused.push(failure(path, e.sha, sizeMessage(e.size ?? 0, DEFAULT_LIMITS.maxSourceBytes)));
          return;
        }
        const blob = await this.git.objects.read(gitDir, e.sha);
        sources.push({ path, blobId: e.sha, source: blob?.data.toString("utf8") ?? "" });
      }),
    );
    sources.sort((a, b) => (a.path < b.path ? -1 : 1));
    if (files.length > this.maxFiles) {
      const first = files[this.maxFiles]!;
      const message = `more than ${this.maxFiles} workflow files (PLUE_WORKFLOW_FILES_PER_PUSH); this one and those after it are ignored`;
      refused.push(failure(`${WORKFLOWS_DIR}/${first.name}`, first.sha, message));
    }
    return { sources, refused, prompts };
  }

  /** `.plue/prompts/*.md` by prompt name (read up front: the evaluator reads prompts synchronously). */
  private async readPrompts(repo: Repository, commit: string): Promise<Map<string, string>> {
    const entries = (await this.git.listTree(repo, commit, PROMPTS_DIR)) ?? [];
    const wanted = entries
      .filter((e) => e.type === "blob" && e.name.endsWith(".md") && (e.size ?? 0) <= MAX_PROMPT_BYTES)
      .slice(0, MAX_PROMPT_FILES);
    const gitDir = this.git.repos.gitDir(repo);
    const texts = await Promise.all(wanted.map((e) => this.git.objects.read(gitDir, e.sha)));
    const prompts = new Map<string, string>();
    wanted.forEach((e, i) => {
      const data = texts[i]?.data;
      if (data) prompts.set(e.name.slice(0, -".md".length), data.toString("utf8"));
    });
    return prompts;
  }
}

function failure(path: string, blobId: string, message: string): LoadedWorkflowFile {
  return { path, blobId, result: { ok: false, errors: [{ path, line: 1, col: 1, message }] }, plans: [] };
}

/** A loaded file's errors as `path:line:col: message` lines. */
export function fileErrors(result: HeaderResult): string | undefined {
  return result.ok ? undefined : result.errors.map(formatError).join("\n");
}

/** Records a file version in `workflow_definitions`; returns its row id. */
export async function upsertDefinition(
  db: Queryable,
  repoId: number,
  file: LoadedWorkflowFile,
): Promise<number> {
  const headers = file.result.ok ? file.result.workflows : [];
  const r = await db.query<{ id: number }>(
    `INSERT INTO workflow_definitions (repo_id, path, blob_sha, name, triggers, error)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (repo_id, path, blob_sha) DO UPDATE SET updated_at = now()
     RETURNING id::int AS id`,
    [
      repoId,
      file.path,
      file.blobId,
      headers.map((h) => h.name).join(", ") || null,
      // One entry per workflow in the file: its name, triggers, timeout and concurrency.
      JSON.stringify(headers),
      fileErrors(file.result) ?? null,
    ],
  );
  return r.rows[0]!.id;
}
