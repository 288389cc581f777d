/**
 * Checks of a commit: workflow runs (run by the scripted runner double over the real protocol),
 * commit statuses posted through the API, and workflows a pull request event skipped (paths);
 * the pull request's live stream. Real git pushes, real HTTP.
 */
import type { Repository } from "../../app/git/repos";
import { cloneUrl, GitClient } from "../git/client";
import { type AgentPlatform, type ApiClient, startAgentPlatform } from "../helpers/agents";
import type { RunnerScript } from "../helpers/scripted-runner";
import { type Json, pushRepo, waitForRun, waitForRuns } from "../runs/helpers";

let p: AgentPlatform;
let alice: ApiClient;
let eve: ApiClient;
const git = new GitClient();

const WORKFLOWS = `from plue import workflow, pull_request, push

@workflow(triggers=[push(branches=["release/*"])])
def deploy(ctx):
    ctx.run(name="ship", cmd="echo ship")

@workflow(triggers=[pull_request()])
def build(ctx):
    ctx.run(name="compile", cmd="echo compile")

@workflow(triggers=[pull_request(paths=["docs/**"])])
def docs(ctx):
    ctx.run(name="render", cmd="echo docs")
`;

const approve: RunnerScript = async (r) => {
  await r.event("done", { reason: "completed", outputs: { approved: true } });
};

let repo: Repository;
let main: string;
let head: string;

beforeAll(async () => {
  p = await startAgentPlatform();
  p.executor.script = approve;
  alice = await p.user("alice");
  eve = await p.user("eve");
  const pushed = await pushRepo(git, p.url, alice, "alice", "checked", {
    ".plue/workflows/ci.py": WORKFLOWS,
    "src/a.ts": "export const a = 1;\n",
  });
  main = pushed.commit;
  await git.ok(["checkout", "-q", "-b", "topic"], pushed.dir);
  await git.ok(["commit", "-q", "--allow-empty", "-m", "topic"], pushed.dir);
  await git.ok(["push", "-q", cloneUrl(p.url, "alice", "checked", alice.token), "topic"], pushed.dir);
  head = await git.ok(["rev-parse", "HEAD"], pushed.dir);
  repo = (await p.ctx.git.repos.find("alice", "checked"))!;
});
afterAll(async () => {
  await p.close();
  git.cleanup();
});

const statuses = (sha: string) => `/api/repos/alice/checked/statuses/${sha}`;

describe("commit statuses", () => {
  it("upserts by context and lists one per context", async () => {
    const first = await alice.request("POST", statuses(main), {
      context: "lint",
      state: "pending",
      target_url: "https://ci.example.com/1",
    });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ context: "lint", state: "pending", creator: { username: "alice" } });
    const second = await alice.request("POST", statuses(main), { context: "lint", state: "success" });
    expect(second.body).toMatchObject({ id: first.body.id, state: "success", target_url: null });
    const list = await alice.ok("GET", `/api/repos/alice/checked/commits/${main}/statuses`);
    expect(list.map((s: Json) => [s.context, s.state])).toEqual([["lint", "success"]]);
  });

  it("refuses unknown and short commit ids, branch names, bad states and URLs with 422", async () => {
    const before = await p.ctx.db.query("SELECT count(*)::int AS n FROM commit_statuses");
    const cases: Array<[string, Json]> = [
      [statuses("f".repeat(40)), { state: "success" }],
      [statuses(main.slice(0, 12)), { state: "success" }],
      [statuses("main"), { state: "success" }],
      [statuses(main), { state: "green" }],
      [statuses(main), { state: "success", target_url: "not a url" }],
      [statuses(main), { state: "success", target_url: "javascript:alert(1)" }],
      [statuses(main), { state: "success", target_url: "data:text/html,<script>alert(1)</script>" }],
      [statuses(main), { state: "success", context: "" }],
    ];
    for (const [path, body] of cases) {
      const r = await alice.request("POST", path, body);
      expect({ path, status: r.status }).toEqual({ path, status: 422 });
      expect(r.body.error.code).toEqual(expect.any(String));
    }
    const after = await p.ctx.db.query("SELECT count(*)::int AS n FROM commit_statuses");
    expect(after.rows).toEqual(before.rows);
  });

  it("needs write access to post, read to list", async () => {
    expect((await eve.request("POST", statuses(main), { state: "success" })).status).toBe(403);
    expect((await eve.request("GET", `/api/repos/alice/checked/commits/${main}/statuses`)).status).toBe(200);
  });
});

describe("the checks of a pull request's head", () => {
  it("combine runs, statuses and workflows skipped by their paths filter", async () => {
    const created = await p.ctx.workflowEvents.pull(repo, "opened", {
      number: 1,
      title: "topic",
      base: "main",
      head: "topic",
      base_sha: main,
      head_sha: head,
      paths: ["src/a.ts"],
    });
    expect(created.map((r) => r.workflow)).toEqual(["build"]);
    await waitForRuns(alice, "alice/checked", 1, { query: "?event=pull_request" });
    await alice.ok("POST", statuses(head), {
      context: "coverage",
      state: "pending",
      description: "measuring",
    });

    const view = await alice.ok("GET", `/api/repos/alice/checked/commits/${head}/checks`);
    expect(view.sha).toBe(head);
    expect(view.state).toBe("pending"); // coverage is still pending
    expect(view.checks).toEqual([
      expect.objectContaining({
        name: "build",
        source: "workflow",
        status: "success",
        run_id: created[0]!.id,
        target_url: `/runs/${created[0]!.id}`,
        outputs: { approved: true },
      }),
      expect.objectContaining({
        name: "coverage",
        source: "status",
        status: "running",
        description: "measuring",
      }),
      expect.objectContaining({
        name: "docs",
        source: "skipped",
        status: "skipped",
        description: "skipped: no changed path matches docs/**",
      }),
    ]);

    await alice.ok("POST", statuses(head), { context: "coverage", state: "failure" });
    expect((await alice.ok("GET", `/api/repos/alice/checked/commits/${head}/checks`)).state).toBe("failure");
    await alice.ok("POST", statuses(head), { context: "coverage", state: "success" });
    expect((await alice.ok("GET", `/api/repos/alice/checked/commits/${head}/checks`)).state).toBe("success");
  });

  it("satisfy a required check whose workflow its paths filter skipped", async () => {
    const rule = await alice.ok("POST", "/api/repos/alice/checked/branch-protections", {
      pattern: "main",
      required_checks: ["build", "docs", "coverage"],
    });
    const pull = { issueId: 0, base: "main", headSha: head, authorId: null };
    expect(await p.ctx.protections.mergeBlockers(repo, pull)).toEqual([]);
    expect(await p.ctx.protections.mergeBlockers(repo, { ...pull, headSha: main })).toEqual([
      "required check build has not run",
      "required check docs has not run",
      "required check coverage has not run",
    ]);
    await alice.ok("DELETE", `/api/repos/alice/checked/branch-protections/${rule.id}`);
  });

  it("answer 422 for a commit id that is not one, and success with no checks", async () => {
    expect((await alice.request("GET", "/api/repos/alice/checked/commits/main/checks")).status).toBe(422);
    expect(
      (await alice.request("GET", `/api/repos/alice/checked/commits/${"0".repeat(40)}/checks`)).status,
    ).toBe(422);
    const none = await alice.ok("GET", `/api/repos/alice/checked/commits/${main}/checks`);
    expect(none).toMatchObject({ state: "success" });
    expect(none.checks.map((c: Json) => c.name)).toEqual(["lint"]);
  });
});

/** Reads an SSE response until `want` frames named `changed` arrived; returns their data. */
async function changes(res: Response, want: number, timeoutMs = 10_000): Promise<Json[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const found: Json[] = [];
  const deadline = Date.now() + timeoutMs;
  while (found.length < want && Date.now() < deadline) {
    const chunk = await Promise.race([
      reader.read(),
      new Promise<{ done: true; value: undefined }>((r) =>
        setTimeout(() => r({ done: true, value: undefined }), 500),
      ),
    ]);
    if (chunk.value) text += decoder.decode(chunk.value, { stream: true });
    found.splice(
      0,
      found.length,
      ...[...text.matchAll(/event: changed\ndata: (.*)\n\n/g)].map((m) => JSON.parse(m[1]!)),
    );
  }
  await reader.cancel();
  return found;
}

describe("the pull request's live stream", () => {
  let number: number;
  beforeAll(async () => {
    // A pull request row as the pulls service writes it (this file tests the stream, not that service).
    const issue = await p.ctx.db.query<{ id: number; number: number }>(
      `UPDATE repositories SET last_issue_number = last_issue_number + 1 WHERE id = $1
       RETURNING id, last_issue_number AS number`,
      [repo.id],
    );
    number = issue.rows[0]!.number;
    const row = await p.ctx.db.query<{ id: number }>(
      "INSERT INTO issues (repo_id, number, is_pull, title) VALUES ($1, $2, true, 'topic') RETURNING id::int AS id",
      [repo.id, number],
    );
    await p.ctx.db.query(
      `INSERT INTO pull_requests (issue_id, repo_id, head_repo_id, head_branch, base_branch, head_sha, base_sha)
       VALUES ($1, $2, $2, 'topic', 'main', $3, $4)`,
      [row.rows[0]!.id, repo.id, head, main],
    );
  });

  it("sends changed {what: checks} when a status is posted at the head, and {what: pull} on pull changes", async () => {
    const res = await alice.fetch(`${p.url}/api/repos/alice/checked/pulls/${number}/events`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    const got = changes(res, 2);
    await new Promise((r) => setTimeout(r, 200)); // the stream is watching
    await alice.ok("POST", statuses(head), { context: "live", state: "success" });
    await alice.ok("POST", statuses(main), { context: "elsewhere", state: "success" }); // not the head: no frame
    const { pullTopic } = await import("../../app/events/topics");
    await p.ctx.events.signal(pullTopic(repo.id, number));
    expect(await got).toEqual([{ what: "checks" }, { what: "pull" }]);
  });

  it("follows the head when it moves", async () => {
    const res = await alice.fetch(`${p.url}/api/repos/alice/checked/pulls/${number}/events`);
    const got = changes(res, 2);
    await new Promise((r) => setTimeout(r, 200));
    await p.ctx.db.query("UPDATE pull_requests SET head_sha = $1 WHERE head_sha = $2", [main, head]);
    const { pullTopic } = await import("../../app/events/topics");
    await p.ctx.events.signal(pullTopic(repo.id, number));
    await new Promise((r) => setTimeout(r, 200));
    await alice.ok("POST", statuses(main), { context: "moved", state: "pending" });
    expect(await got).toEqual([{ what: "pull" }, { what: "checks" }]);
  });

  it("sends changed {what: checks} when a run at the head is created, starts and ends", async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    p.executor.script = async (r) => {
      await r.event("step_start", { step: "compile", kind: "run", attempt: 1 });
      await released;
      await r.event("step_end", { step: "compile", status: "success", exit_code: 0, outputs: {} });
      await r.event("done", { reason: "completed", outputs: {} });
    };
    const res = await alice.fetch(`${p.url}/api/repos/alice/checked/pulls/${number}/events`);
    const started = changes(res, 2);
    await new Promise((r) => setTimeout(r, 200));
    const facts = { number, title: "topic", base: "main", head: "topic", base_sha: main, head_sha: main };
    const [run] = await p.ctx.workflowEvents.pull(repo, "synchronize", { ...facts, paths: ["docs/x.md"] });
    expect(await started).toEqual([{ what: "checks" }, { what: "checks" }]); // created, running
    const view = await alice.ok("GET", `/api/repos/alice/checked/commits/${main}/checks`);
    expect(
      view.checks.filter((c: Json) => c.source === "workflow").map((c: Json) => [c.name, c.status]),
    ).toEqual([
      ["build", "running"],
      ["docs", expect.stringMatching(/queued|running/)],
    ]);
    const again = await alice.fetch(`${p.url}/api/repos/alice/checked/pulls/${number}/events`);
    const ended = changes(again, 1);
    await new Promise((r) => setTimeout(r, 200));
    release();
    expect(await ended).toContainEqual({ what: "checks" });
    expect((await waitForRun(alice, run!.id)).status).toBe("success");
  });

  it("is 404 for a number that is no pull request", async () => {
    expect((await alice.request("GET", "/api/repos/alice/checked/pulls/999/events")).status).toBe(404);
    expect((await alice.request("GET", "/api/repos/alice/checked/pulls/-1/events")).status).toBe(404);
  });
});
