/** Helpers for the workflow-run tests: repositories with workflow files, and waiting for runs. */
import fs from "node:fs";
import path from "node:path";
import { cloneUrl, createRepo, type GitClient } from "../git/client";
import type { ApiClient } from "../helpers/agents";

// biome-ignore lint/suspicious/noExplicitAny: tests read API answers freely
export type Json = any;

export const EXAMPLES = path.resolve(import.meta.dirname, "../../examples/workflows");

export const ENDED = ["success", "failure", "cancelled", "error"];

/**
 * The DESIGN example as a repository: a tiny npm project whose `npm ci` and `npm test` work
 * offline in the sandbox, the example ci.py and its CodeReview prompt, plus `files`.
 */
export function designExample(name: string, files: Record<string, string>): Record<string, string> {
  const pkg = { name, version: "1.0.0" };
  const out: Record<string, string> = {
    "package.json": JSON.stringify({ ...pkg, scripts: { test: "echo all tests pass" } }),
    "package-lock.json": JSON.stringify({
      ...pkg,
      lockfileVersion: 3,
      requires: true,
      packages: { "": pkg },
    }),
    ".npmrc": "audit=false\nfund=false\nupdate-notifier=false\n",
    ...files,
  };
  for (const f of ["workflows/ci.py", "prompts/CodeReview.md"]) {
    out[`.plue/${f}`] = fs.readFileSync(path.join(EXAMPLES, ".plue", f), "utf8");
  }
  return out;
}

/** Creates `owner/name` on the platform and pushes one commit with `files` to main. */
export async function pushRepo(
  git: GitClient,
  base: string,
  user: ApiClient,
  owner: string,
  name: string,
  files: Record<string, string>,
): Promise<{ dir: string; commit: string }> {
  await createRepo(base, user.token, { name });
  const dir = await git.repoWith(name, files);
  await git.ok(["push", "-q", cloneUrl(base, owner, name, user.token), "main"], dir);
  return { dir, commit: await git.ok(["rev-parse", "HEAD"], dir) };
}

/** Commits `files` (written over the working tree) and pushes main again. */
export async function pushMore(
  git: GitClient,
  base: string,
  user: ApiClient,
  owner: string,
  name: string,
  dir: string,
  files: Record<string, string>,
): Promise<string> {
  for (const [p, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    fs.writeFileSync(path.join(dir, p), content);
  }
  await git.ok(["add", "-A"], dir);
  await git.ok(["commit", "-q", "-m", "more"], dir);
  await git.ok(["push", "-q", cloneUrl(base, owner, name, user.token), "main"], dir);
  return git.ok(["rev-parse", "HEAD"], dir);
}

/** Polls the repository's runs until `count` runs exist and every one has ended. */
export async function waitForRuns(
  user: ApiClient,
  repo: string,
  count: number,
  opts: { timeoutMs?: number; query?: string } = {},
): Promise<Json[]> {
  const deadline = Date.now() + (opts.timeoutMs ?? 45_000);
  let runs: Json[] = [];
  while (Date.now() < deadline) {
    runs = (await user.ok("GET", `/api/repos/${repo}/runs${opts.query ?? ""}`)).runs;
    if (runs.length >= count && runs.every((r: Json) => ENDED.includes(r.status))) return runs;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `runs of ${repo} did not end: ${JSON.stringify(runs.map((r: Json) => [r.workflow, r.status]))}`,
  );
}

/** Polls one run until `until` holds. */
export async function waitForRun(
  user: ApiClient,
  id: string,
  until: (run: Json) => boolean = (r) => ENDED.includes(r.status),
  timeoutMs = 45_000,
): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  let run: Json;
  while (Date.now() < deadline) {
    run = await user.ok("GET", `/api/runs/${id}`);
    if (until(run)) return run;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${id} never reached the expected state: ${JSON.stringify(run)}`);
}

export async function runLog(user: ApiClient, id: string): Promise<string> {
  const res = await fetch(`${user.url}/api/runs/${id}/log`, {
    headers: { authorization: `Bearer ${user.token}` },
  });
  if (res.status !== 200) throw new Error(`log of ${id}: ${res.status}`);
  return res.text();
}

export const step = (run: Json, name: string): Json => run.steps.find((s: Json) => s.name === name);
