/**
 * Workflow files of a repository at one commit: `.plue/workflows/*.py` read through the cat-file
 * pool, loaded through the WorkflowCache (keyed by blob id, so an unchanged file is never parsed
 * twice), and recorded in `workflow_definitions` (one row per file version).
 */
import type { Queryable } from "../db";
import type { Repository } from "../git/repos";
import type { GitService } from "../git/service";
import {
  DEFAULT_LIMITS,
  formatError,
  type LoadResult,
  PROMPTS_DIR,
  WORKFLOWS_DIR,
  WorkflowCache,
} from "../workflows/index";

/** Files looked at per commit; more are reported as an error run, not read. */
export const MAX_WORKFLOW_FILES = 50;
export const MAX_PROMPT_FILES = 200;
const MAX_PROMPT_BYTES = 256 * 1024;

export interface LoadedWorkflowFile {
  /** Repository-relative, e.g. `.plue/workflows/ci.py`. */
  path: string;
  blobId: string;
  result: LoadResult;
}

export class WorkflowDefinitions {
  readonly cache: WorkflowCache;

  constructor(
    private readonly git: GitService,
    cache?: WorkflowCache,
  ) {
    this.cache = cache ?? new WorkflowCache();
  }

  /** Every workflow file at `commit`, loaded (headers only; plans come per event). */
  async load(repo: Repository, commit: string): Promise<LoadedWorkflowFile[]> {
    const entries = (await this.git.listTree(repo, commit, WORKFLOWS_DIR)) ?? [];
    const files = entries
      .filter((e) => e.type === "blob" && e.name.endsWith(".py"))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    if (files.length === 0) return [];
    const prompts = await this.readPrompts(repo, commit);
    const gitDir = this.git.repos.gitDir(repo);
    const loaded = await Promise.all(
      files.slice(0, MAX_WORKFLOW_FILES).map(async (e): Promise<LoadedWorkflowFile> => {
        const path = `${WORKFLOWS_DIR}/${e.name}`;
        if ((e.size ?? 0) > DEFAULT_LIMITS.maxSourceBytes) {
          const message = `the file is ${e.size} bytes; workflow files are at most ${DEFAULT_LIMITS.maxSourceBytes}`;
          return { path, blobId: e.sha, result: failure(path, message) };
        }
        const blob = await this.git.objects.read(gitDir, e.sha);
        const source = blob?.data.toString("utf8") ?? "";
        const result = this.cache.load(e.sha, { path, source, readPrompt: (name) => prompts.get(name) });
        return { path, blobId: e.sha, result };
      }),
    );
    if (files.length > MAX_WORKFLOW_FILES) {
      const path = `${WORKFLOWS_DIR}/${files[MAX_WORKFLOW_FILES]!.name}`;
      const message = `more than ${MAX_WORKFLOW_FILES} workflow files; this one and those after it are ignored`;
      loaded.push({ path, blobId: files[MAX_WORKFLOW_FILES]!.sha, result: failure(path, message) });
    }
    return loaded;
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

function failure(path: string, message: string): LoadResult {
  return { ok: false, errors: [{ path, line: 1, col: 1, message }] };
}

/** A loaded file's errors as `path:line:col: message` lines. */
export function fileErrors(result: LoadResult): string | undefined {
  return result.ok ? undefined : result.errors.map(formatError).join("\n");
}

/** Records a file version in `workflow_definitions`; returns its row id. */
export async function upsertDefinition(
  db: Queryable,
  repoId: number,
  file: LoadedWorkflowFile,
): Promise<number> {
  const headers = file.result.ok ? file.result.file.workflows : [];
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
