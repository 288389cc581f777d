/**
 * Pull request test rigs: a real platform (the runner double plays workflow runs), two users
 * (alice owns the repositories, bob may write to them), and a working copy per repository that
 * commits and pushes over real git smart HTTP with a token.
 */
import fs from "node:fs";
import path from "node:path";
import { cloneUrl, createRepo, GitClient } from "../git/client";
import { type AgentPlatform, type ApiClient, startAgentPlatform } from "../helpers/agents";
import type { RunnerScript } from "../helpers/scripted-runner";

// biome-ignore lint/suspicious/noExplicitAny: tests read API answers freely
export type Json = any;

export interface Rig {
  p: AgentPlatform;
  alice: ApiClient;
  bob: ApiClient;
  git: GitClient;
  close(): Promise<void>;
}

/** Plays every step of a workflow run as a success. */
export const completeAll: RunnerScript = async (r) => {
  const w = r.assignment.workload as { plan: { steps: Array<{ name: string; kind: string }> } };
  for (const s of w.plan.steps) {
    await r.send([
      { type: "step_start", data: { step: s.name, kind: s.kind, attempt: 1 } },
      {
        type: "step_end",
        data: { step: s.name, status: "success", exit_code: 0, outputs: {}, duration_ms: 1 },
      },
    ]);
  }
  await r.event("done", { reason: "completed", outputs: {} });
};

let seq = 0;

/** `realRunners`: the app's own local executor runs workflows in runner processes (slower). */
export async function startRig({ realRunners = false } = {}): Promise<Rig> {
  const p = realRunners
    ? await startAgentPlatform({
        executor: false,
        env: { RUNNER_MODE: "local", PLUE_SANDBOX: "auto" },
        dispatcher: { abortGraceMs: 2000, killGraceMs: 3000 },
      })
    : await startAgentPlatform();
  if (!realRunners) p.executor.script = completeAll;
  const n = `${process.pid}x${++seq}`;
  const alice = await p.user(`alice${n}`);
  const bob = await p.user(`bob${n}`);
  const git = new GitClient();
  return {
    p,
    alice,
    bob,
    git,
    async close() {
      await p.close();
      git.cleanup();
    },
  };
}

export const usernameOf = async (c: ApiClient): Promise<string> => (await c.ok("GET", "/api/user")).username;

/** A working copy of `owner/name` on the platform. */
export class Work {
  constructor(
    readonly rig: Rig,
    readonly owner: string,
    readonly name: string,
    readonly dir: string,
    readonly token: string,
  ) {}

  get slug(): string {
    return `${this.owner}/${this.name}`;
  }

  get api(): string {
    return `/api/repos/${this.slug}`;
  }

  git(args: string[]): Promise<string> {
    return this.rig.git.ok(args, this.dir);
  }

  /** Writes (or, for null, deletes) files and commits them on the current branch; answers the commit. */
  async commit(files: Record<string, string | Buffer | null>, message = "change"): Promise<string> {
    for (const [p, content] of Object.entries(files)) {
      const file = path.join(this.dir, p);
      if (content === null) fs.rmSync(file, { force: true });
      else {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, content);
      }
    }
    await this.git(["add", "-A"]);
    await this.git(["commit", "-q", "--allow-empty", "-m", message]);
    return this.git(["rev-parse", "HEAD"]);
  }

  checkout(branch: string, create = false): Promise<string> {
    return this.git(create ? ["checkout", "-q", "-b", branch] : ["checkout", "-q", branch]);
  }

  /** Pushes refspecs (`main`, `+feature`, `:gone`) with this copy's token. */
  push(...refspecs: string[]): Promise<string> {
    return this.git(["push", "-q", cloneUrl(this.rig.p.url, this.owner, this.name, this.token), ...refspecs]);
  }

  async pushResult(...refspecs: string[]) {
    return this.rig.git.run(
      ["push", "-q", cloneUrl(this.rig.p.url, this.owner, this.name, this.token), ...refspecs],
      this.dir,
    );
  }

  sha(ref = "HEAD"): Promise<string> {
    return this.git(["rev-parse", ref]);
  }

  /** The remote's commit log of a branch (subject lines and parents), newest first. */
  async remoteLog(
    branch: string,
  ): Promise<Array<{ sha: string; parents: string[]; subject: string; author: string }>> {
    await this.git([
      "fetch",
      "-q",
      cloneUrl(this.rig.p.url, this.owner, this.name, this.token),
      `+${branch}:refs/remotes/check/${branch}`,
    ]);
    const out = await this.git([
      "log",
      "--format=%H%x00%P%x00%s%x00%an <%ae>",
      `refs/remotes/check/${branch}`,
    ]);
    return out.split("\n").map((l) => {
      const [sha, parents, subject, author] = l.split("\0");
      return { sha: sha!, parents: parents ? parents.split(" ") : [], subject: subject!, author: author! };
    });
  }
}

/** Creates alice's repository with `files` on main, pushed; bob gets write. */
export async function newRepo(rig: Rig, name: string, files: Record<string, string | Buffer>): Promise<Work> {
  const owner = await usernameOf(rig.alice);
  await createRepo(rig.p.url, rig.alice.token, { name });
  const bob = await usernameOf(rig.bob);
  await rig.alice.ok("PUT", `/api/repos/${owner}/${name}/collaborators/${bob}`, { permission: "write" });
  const dir = await rig.git.repoWith(`${name}-${++seq}`, files);
  const work = new Work(rig, owner, name, dir, rig.alice.token);
  await work.push("main");
  return work;
}

/** Opens a pull request from a new branch with one commit of `files`; answers its view. */
export async function openPull(
  work: Work,
  head: string,
  files: Record<string, string | Buffer | null>,
  extra: Record<string, unknown> = {},
  as: ApiClient = work.rig.alice,
): Promise<Json> {
  await work.checkout("main");
  await work.checkout(head, true);
  await work.commit(files, `${head}: change`);
  await work.push(head);
  await work.checkout("main");
  return as.ok("POST", `${work.api}/pulls`, { title: `Change ${head}`, head, ...extra });
}

/** The timeline kinds of a pull request, oldest first (straight from issue_events). */
export async function timeline(
  rig: Rig,
  work: Work,
  number: number,
): Promise<Array<{ kind: string; data: Json }>> {
  const r = await rig.p.ctx.db.query<{ kind: string; data: Json }>(
    `SELECT e.kind, e.data FROM issue_events e JOIN issues i ON i.id = e.issue_id
      JOIN repositories r ON r.id = i.repo_id
     WHERE lower(r.owner) = lower($1) AND lower(r.name) = lower($2) AND i.number = $3 ORDER BY e.id`,
    [work.owner, work.name, number],
  );
  return r.rows;
}

/**
 * Waits until the push of `sha` to `branch` was recorded and followed by the pull request sync
 * (git push returns when the server answered; the push event is recorded just after).
 */
export async function synced(work: Work, branch: string, sha: string): Promise<void> {
  const { p } = work.rig;
  await until(`the push of ${sha} to ${branch}`, async () => {
    const r = await p.ctx.db.query(
      `SELECT 1 FROM push_events e JOIN repositories r ON r.id = e.repo_id
        WHERE lower(r.owner) = lower($1) AND lower(r.name) = lower($2) AND e.ref = $3 AND e.after_sha = $4`,
      [work.owner, work.name, `refs/heads/${branch}`, sha],
    );
    return r.rows.length > 0;
  });
  await new Promise((r) => setTimeout(r, 20));
  await p.ctx.pulls.sync.idle();
}

export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
