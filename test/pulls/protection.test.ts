/**
 * What keeps a pull request from merging under its base branch's rule (BranchProtections.mergeBlockers)
 * and which rule applies to a branch. Pull requests and reviews are rows as the pulls service writes
 * them; checks come through the real statuses API and the check_skips table triggers.ts writes.
 */
import type { Repository } from "../../app/git/repos";
import { mostSpecific } from "../../app/pulls/protection";
import { cloneUrl, createRepo, GitClient } from "../git/client";
import { createAccount, type TestAccount } from "../helpers/accounts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";

let p: TestPlatform;
const g = new GitClient();
let author: TestAccount;
let bob: TestAccount;
let carol: TestAccount;
let repo: Repository;
let base: string;
let head: string;
let older: string;
let pullId: number;
const NAME = "rules";

const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(p.url + path, {
    method,
    headers: { authorization: `Bearer ${p.token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
};

const blockers = () =>
  p.ctx.protections.mergeBlockers(repo, {
    issueId: pullId,
    base: "main",
    headSha: head,
    authorId: author.user.id,
  });

async function review(who: TestAccount, state: string, sha = head, dismissed = false): Promise<void> {
  await p.ctx.db.query(
    `INSERT INTO pull_reviews (pull_id, author_id, state, commit_sha, dismissed_at)
     VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN now() END)`,
    [pullId, who.user.id, state, sha, dismissed],
  );
}

beforeAll(async () => {
  p = await startTestPlatform();
  const server = { url: p.url, token: p.token };
  [author, bob, carol] = await Promise.all([
    createAccount(server),
    createAccount(server),
    createAccount(server),
  ]);
  await createRepo(p.url, p.token, { name: NAME });
  const dir = await g.repoWith(NAME, { "README.md": "# rules\n" });
  const url = cloneUrl(p.url, "admin", NAME, p.token);
  await g.ok(["push", "-q", url, "main"], dir);
  base = await g.ok(["rev-parse", "HEAD"], dir);
  await g.ok(["checkout", "-q", "-b", "topic"], dir);
  await g.ok(["commit", "-q", "--allow-empty", "-m", "one"], dir);
  older = await g.ok(["rev-parse", "HEAD"], dir);
  await g.ok(["commit", "-q", "--allow-empty", "-m", "two"], dir);
  head = await g.ok(["rev-parse", "HEAD"], dir);
  await g.ok(["push", "-q", url, "topic"], dir);
  repo = (await p.ctx.git.repos.find("admin", NAME))!;
  const issue = await p.ctx.db.query<{ id: number }>(
    `INSERT INTO issues (repo_id, number, is_pull, title, author_id) VALUES ($1, 1, true, 'topic', $2)
     RETURNING id::int AS id`,
    [repo.id, author.user.id],
  );
  pullId = issue.rows[0]!.id;
  await p.ctx.db.query(
    `INSERT INTO pull_requests (issue_id, repo_id, head_repo_id, head_branch, base_branch, head_sha, base_sha)
     VALUES ($1, $2, $2, 'topic', 'main', $3, $4)`,
    [pullId, repo.id, head, base],
  );
});
afterAll(async () => {
  await p.close();
  g.cleanup();
});

describe("mergeBlockers", () => {
  let ruleId: number;

  it("is empty without a rule for the base branch", async () => {
    expect(await blockers()).toEqual([]);
  });

  it("lists required checks that have not run, are pending or failed; success and skipped pass", async () => {
    const created = await api("POST", `/api/repos/admin/${NAME}/branch-protections`, {
      pattern: "main",
      required_checks: ["ci", "lint", "docs", "deploy", "e2e"],
    });
    expect(created.status).toBe(201);
    ruleId = created.body.id;
    const status = (context: string, state: string) =>
      api("POST", `/api/repos/admin/${NAME}/statuses/${head}`, { context, state });
    await status("ci", "failure");
    await status("lint", "pending");
    await status("e2e", "success");
    await status("deploy", "success");
    await status("deploy", "error"); // the latest of a context wins
    await p.ctx.db.query(
      "INSERT INTO check_skips (repo_id, sha, workflow, reason) VALUES ($1, $2, 'docs', $3)",
      [repo.id, head, "no changed path matches docs/**"],
    );
    expect(await blockers()).toEqual([
      "required check ci is failure",
      "required check lint is pending",
      "required check deploy is error",
    ]);
    await status("ci", "success");
    await status("lint", "success");
    await status("deploy", "success");
    expect(await blockers()).toEqual([]);
    const rule = `/api/repos/admin/${NAME}/branch-protections/${ruleId}`;
    await api("PATCH", rule, { required_checks: ["ci", "perf"] });
    expect(await blockers()).toEqual(["required check perf has not run"]);
    await api("PATCH", rule, { required_checks: ["ci"] });
    expect(await blockers()).toEqual([]);
  });

  it("counts approvals of others at any head, not the author's own", async () => {
    await api("PATCH", `/api/repos/admin/${NAME}/branch-protections/${ruleId}`, { required_approvals: 2 });
    expect(await blockers()).toEqual(["needs 2 approvals, has 0"]);
    await review(author, "approved"); // the author's own does not count
    await review(bob, "approved", older);
    expect(await blockers()).toEqual(["needs 2 approvals, has 1"]);
    await review(carol, "commented"); // a comment is no approval
    expect(await blockers()).toEqual(["needs 2 approvals, has 1"]);
    await review(carol, "approved");
    expect(await blockers()).toEqual([]);
  });

  it("with dismiss_stale_approvals, counts only approvals of the current head", async () => {
    await api("PATCH", `/api/repos/admin/${NAME}/branch-protections/${ruleId}`, {
      dismiss_stale_approvals: true,
    });
    expect(await blockers()).toEqual(["needs 2 approvals, has 1"]); // bob approved the older head
    await review(bob, "approved");
    expect(await blockers()).toEqual([]);
  });

  it("blocks on the latest change request of a reviewer until they approve; dismissed ones do not count", async () => {
    await review(bob, "changes_requested");
    expect(await blockers()).toEqual([
      `changes requested by ${bob.user.username}`,
      "needs 2 approvals, has 1",
    ]);
    await review(bob, "commented"); // commenting changes nothing
    expect(await blockers()).toEqual([
      `changes requested by ${bob.user.username}`,
      "needs 2 approvals, has 1",
    ]);
    await p.ctx.db.query(
      "UPDATE pull_reviews SET dismissed_at = now() WHERE pull_id = $1 AND author_id = $2 AND state = 'changes_requested'",
      [pullId, bob.user.id],
    );
    expect(await blockers()).toEqual([]); // bob's approval before the dismissed request stands
    await review(carol, "approved", head, true); // dismissed approvals count for nothing either
    expect(await blockers()).toEqual([]); // carol's earlier approval is still her latest non-dismissed one
  });

  it("reads rules changed through the API at once (the cache is dropped on change)", async () => {
    await api("PATCH", `/api/repos/admin/${NAME}/branch-protections/${ruleId}`, { required_approvals: 3 });
    expect(await blockers()).toEqual(["needs 3 approvals, has 2"]);
    await api("DELETE", `/api/repos/admin/${NAME}/branch-protections/${ruleId}`);
    expect(await blockers()).toEqual([]);
  });
});

describe("the rule of a branch", () => {
  const rules = ["release/*", "release/**", "release/1.0", "*", "**"].map((pattern) => ({ pattern }));
  it("is the exact name, else the longest matching glob", () => {
    expect(mostSpecific(rules, "release/1.0")?.pattern).toBe("release/1.0");
    expect(mostSpecific(rules, "release/2.0")?.pattern).toBe("release/**");
    expect(mostSpecific(rules, "release/2.0/hotfix")?.pattern).toBe("release/**");
    expect(mostSpecific(rules, "main")?.pattern).toBe("**");
    expect(mostSpecific([{ pattern: "*" }], "feature/x")).toBeUndefined();
    expect(mostSpecific([{ pattern: "rel*" }], ".hidden")).toBeUndefined();
    expect(mostSpecific([{ pattern: "*" }], ".hidden")?.pattern).toBe("*"); // dots are ordinary
  });

  it("is found through ruleFor for the repository", async () => {
    const r = await api("POST", `/api/repos/admin/${NAME}/branch-protections`, { pattern: "feat/*" });
    expect(r.status).toBe(201);
    expect((await p.ctx.protections.ruleFor(repo, "feat/x"))?.id).toBe(r.body.id);
    expect(await p.ctx.protections.ruleFor(repo, "feat/x/y")).toBeUndefined();
    const got = await api("GET", `/api/repos/admin/${NAME}/branch-protections/${r.body.id}`);
    expect(got.body).toEqual(r.body);
    expect((await api("GET", `/api/repos/admin/${NAME}/branch-protections/abc`)).status).toBe(404);
  });
});
