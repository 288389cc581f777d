/**
 * Push → first workflow step started, on the local executor with the real sandbox (goal: under 1 s).
 *
 *   npx tsx bench/workflow-push.ts [iterations=5]
 *
 * Starts a platform in this process (embedded PGlite, RUNNER_MODE=local, PLUE_SANDBOX=auto, the
 * executor warmed up as `plue dev` does), then pushes a commit with `.plue/workflows/ci.py` over
 * smart HTTP, `iterations` times, one after another. For each push it reports, from the moment
 * `git push` was started:
 *   pushed   the push command returned
 *   run      the workflow_runs row was created (files read, evaluated, run + workload stored)
 *   runner   the runner's first event arrived (runner process, clone at the commit)
 *   step     `step_start` of the first step arrived  ← the number that counts
 *   done     the run ended
 * and `accepted`: from the push's answer (the server had the commits) to `step`.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { createApiToken, createUser } from "../app/auth/tokens";
import { loadConfig } from "../app/config";
import { createLogger } from "../app/log";
import { startPlatform } from "../app/platform";

const run = promisify(execFile);
const iterations = Number(process.argv[2] ?? 5);
const WORKFLOW = `from plue import workflow, push

@workflow(triggers=[push()])
def ci(ctx):
    ctx.run(name="hello", cmd='echo "Hello from CI"')
`;

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-bench-push-"));
const work = fs.mkdtempSync(path.join(os.tmpdir(), "plue-bench-push-client-"));
const config = loadConfig(
  {
    PLUE_DATA_DIR: dataDir,
    PLUE_SEED_DEMO: "false",
    LOG_LEVEL: "silent",
    RUNNER_MODE: "local",
    PLUE_SANDBOX: "auto",
  },
  { port: 0, memory: true },
);
const platform = await startPlatform(config, { log: createLogger("silent") });
const { db } = platform.ctx;
const gitEnv = {
  PATH: process.env.PATH,
  HOME: work,
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_AUTHOR_NAME: "b",
  GIT_AUTHOR_EMAIL: "b@example.com",
  GIT_COMMITTER_NAME: "b",
  GIT_COMMITTER_EMAIL: "b@example.com",
};
const git = (args: string[]) => run("git", args, { cwd: work, env: gitEnv });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

try {
  await platform.ctx.dispatcher.executor.warmUp?.();
  const user = await createUser(db, "bench");
  const token = await createApiToken(db, user.id, "bench");
  await platform.ctx.git.repos.create(user, { name: "ci" });
  const remote = new URL(`${platform.url}/bench/ci.git`);
  remote.username = "bench";
  remote.password = token;
  await git(["init", "-q", "-b", "main", "."]);
  fs.mkdirSync(path.join(work, ".plue/workflows"), { recursive: true });
  fs.writeFileSync(path.join(work, ".plue/workflows/ci.py"), WORKFLOW);

  const rows: Record<string, number>[] = [];
  for (let i = 0; i <= iterations; i++) {
    fs.writeFileSync(path.join(work, "n.txt"), `${i}\n`);
    await git(["add", "-A"]);
    await git(["commit", "-q", "-m", `push ${i}`]);
    const t0 = Date.now();
    await git(["push", "-q", remote.toString(), "main"]);
    const pushed = Date.now() - t0;
    const commit = (await git(["rev-parse", "HEAD"])).stdout.trim();
    const t = await waitFor(commit);
    // The first push also pays for bundling the runner and resolving the sandbox: not counted.
    if (i > 0) {
      const row: Record<string, number> = { pushed };
      for (const [k, v] of Object.entries(t)) row[k] = v - t0;
      rows.push({ ...row, accepted: row.step! - pushed }); // from the push's answer to the first step
    }
  }
  const keys = Object.keys(rows[0]!);
  console.log(`push → first step started, local executor, ${iterations} pushes (ms from git push start):`);
  console.log(keys.map((k) => k.padStart(9)).join(""));
  for (const r of rows) console.log(keys.map((k) => String(r[k]).padStart(9)).join(""));
  console.log(`${keys.map((k) => String(median(rows.map((r) => r[k]!))).padStart(9)).join("")}   median`);
} finally {
  await platform.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
}

/** Times (epoch ms) of the milestones of the run at `commit`, once it ended. */
async function waitFor(commit: string): Promise<Record<string, number>> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const r = await db.query<{
      run: Date;
      runner: Date | null;
      step: Date | null;
      done: Date | null;
      status: string;
    }>(
      `SELECT r.created_at AS run, r.status,
              (SELECT min(e.created_at) FROM task_events e JOIN workloads w ON w.id = e.workload_id
                WHERE w.workflow_run_id = r.id) AS runner,
              (SELECT min(e.created_at) FROM task_events e JOIN workloads w ON w.id = e.workload_id
                WHERE w.workflow_run_id = r.id AND e.type = 'step_start') AS step,
              r.ended_at AS done
         FROM workflow_runs r WHERE r.commit_sha = $1`,
      [commit],
    );
    const row = r.rows[0];
    if (row?.done) {
      if (row.status !== "success") throw new Error(`run at ${commit} ended ${row.status}`);
      const ms = (d: Date | null) => new Date(d!).getTime();
      return { run: ms(row.run), runner: ms(row.runner), step: ms(row.step), done: ms(row.done) };
    }
    await sleep(20);
  }
  throw new Error(`no finished run for ${commit}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
