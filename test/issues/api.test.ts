/**
 * The issues API against a real server and database: numbers shared with pull requests, labels,
 * filters, comments, reactions, the timeline, permissions and bad input.
 */
import { pullTopic } from "../../app/events/topics";
import { nextIssueNumber } from "../../app/issues/numbers";
import { createRepo } from "../git/client";
import { createAccount, type TestAccount } from "../helpers/accounts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";

let p: TestPlatform;
let alice: TestAccount;
let bob: TestAccount; // read on alice's private repo
let carol: TestAccount; // no access
let writer: TestAccount; // write on alice's repos
const R = () => `/api/repos/${alice.user.username}/tracker`;

beforeAll(async () => {
  p = await startTestPlatform();
  const server = { url: p.url, token: p.token };
  [alice, bob, carol, writer] = await Promise.all([
    createAccount(server),
    createAccount(server),
    createAccount(server),
    createAccount(server),
  ]);
  await createRepo(p.url, alice.token, { name: "tracker" });
  await createRepo(p.url, alice.token, { name: "secret", visibility: "private" });
  for (const [who, permission, repo] of [
    [bob, "read", "secret"],
    [writer, "write", "tracker"],
    [writer, "write", "secret"],
  ] as const) {
    const r = await alice.api(
      "PUT",
      `/api/repos/${alice.user.username}/${repo}/collaborators/${who.user.username}`,
      {
        permission,
      },
    );
    expect(r.status).toBe(200);
  }
});
afterAll(() => p.close());

const issueCount = async () =>
  (await p.ctx.db.query<{ n: number }>("SELECT count(*)::int AS n FROM issues")).rows[0]!.n;

describe("issues", () => {
  it("opens an issue with labels and assignees and reads it with rendered body", async () => {
    expect((await alice.api("POST", `${R()}/labels`, { name: "bug", color: "#D73A4A" })).status).toBe(201);
    const r = await alice.api("POST", `${R()}/issues`, {
      title: "It breaks",
      body: "Steps: **click** <script>alert(1)</script>",
      labels: ["BUG"],
      assignees: [writer.user.username],
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      title: "It breaks",
      state: "open",
      state_reason: null,
      user: { username: alice.user.username },
      labels: [{ name: "bug", color: "d73a4a" }],
      assignees: [{ username: writer.user.username }],
      comments: 0,
    });
    const got = await carol.api("GET", `${R()}/issues/${r.body.number}`);
    expect(got.status).toBe(200);
    expect(got.body.body).toContain("<script>alert(1)</script>"); // stored as written
    expect(got.body.body_html).toContain("<strong>click</strong>");
    expect(got.body.body_html).not.toContain("<script");
  });

  it("shares one number sequence with pull requests", async () => {
    const repo = (await p.ctx.git.repos.find(alice.user.username, "tracker"))!;
    const a = await alice.api("POST", `${R()}/issues`, { title: "before the pull request" });
    // A pull request takes the next number (as the pulls service does: an is_pull issue row).
    const prNumber = await p.ctx.db.transaction(async (tx) => {
      const n = await nextIssueNumber(tx, repo.id);
      await tx.query(
        "INSERT INTO issues (repo_id, number, is_pull, title, author_id) VALUES ($1, $2, true, 'PR', $3)",
        [repo.id, n, alice.user.id],
      );
      return n;
    });
    const b = await alice.api("POST", `${R()}/issues`, { title: "after the pull request" });
    expect(prNumber).toBe(a.body.number + 1);
    expect(b.body.number).toBe(prNumber + 1);
    // GET/PATCH …/issues/:n answer the pull request too; the list leaves it out.
    const pr = await alice.api("GET", `${R()}/issues/${prNumber}`);
    expect(pr).toMatchObject({ status: 200, body: { number: prNumber, title: "PR" } });
    const list = await alice.api("GET", `${R()}/issues?state=all&per_page=100`);
    expect(list.body.items.map((i: { number: number }) => i.number)).not.toContain(prNumber);
    // Its conversation is the pull request's: its page hears of a comment.
    let signals = 0;
    const sub = await p.ctx.events.watch(pullTopic(repo.id, prNumber), () => signals++);
    const comment = await writer.api("POST", `${R()}/issues/${prNumber}/comments`, { body: "on the PR" });
    expect(comment.status).toBe(201);
    const deadline = Date.now() + 5000;
    while (signals === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    sub.close();
    expect(signals).toBeGreaterThan(0);
    // Closing it here closes it unmerged.
    const closed = await alice.api("PATCH", `${R()}/issues/${prNumber}`, { state: "closed" });
    expect(closed.body).toMatchObject({ state: "closed", state_reason: null });
    const merged = await p.ctx.db.query(
      "SELECT 1 FROM pull_requests WHERE issue_id = (SELECT id FROM issues WHERE repo_id = $1 AND number = $2)",
      [repo.id, prNumber],
    );
    expect(merged.rowCount).toBe(0);
  });

  it("gives issues opened at once consecutive numbers", async () => {
    const made = await Promise.all(
      Array.from({ length: 8 }, (_, i) => writer.api("POST", `${R()}/issues`, { title: `race ${i}` })),
    );
    const numbers = made.map((r) => r.body.number).sort((a, b) => a - b);
    expect(made.every((r) => r.status === 201)).toBe(true);
    expect(numbers).toEqual(Array.from({ length: 8 }, (_, i) => numbers[0] + i));
  });

  it("never reopens a merged pull request", async () => {
    const repo = (await p.ctx.git.repos.find(alice.user.username, "tracker"))!;
    const sha = "a".repeat(40);
    const n = await p.ctx.db.transaction(async (tx) => {
      const n = await nextIssueNumber(tx, repo.id);
      const r = await tx.query<{ id: number }>(
        `INSERT INTO issues (repo_id, number, is_pull, title, state, state_reason, closed_at)
         VALUES ($1, $2, true, 'merged PR', 'closed', 'merged', now()) RETURNING id::int AS id`,
        [repo.id, n],
      );
      await tx.query(
        `INSERT INTO pull_requests (issue_id, repo_id, head_repo_id, head_branch, base_branch, head_sha, base_sha, merged_at)
         VALUES ($1, $2, $2, 'f', 'main', $3, $3, now())`,
        [r.rows[0]!.id, repo.id, sha],
      );
      return n;
    });
    const r = await alice.api("PATCH", `${R()}/issues/${n}`, { state: "open", title: "renamed" });
    expect(r).toMatchObject({ status: 409, body: { error: { code: "merged" } } });
    const now = await alice.api("GET", `${R()}/issues/${n}`);
    expect(now.body).toMatchObject({
      title: "merged PR",
      state: "closed",
      state_reason: "merged",
      pull_request: { merged_at: expect.any(String), draft: false },
    });
  });

  it("lists newest first, paged and filtered by state, label, author and assignee", async () => {
    await alice.api("POST", `${R()}/labels`, { name: "ui", color: "00ff00" });
    const made: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await writer.api("POST", `${R()}/issues`, {
        title: `filter ${i}`,
        labels: i % 2 === 0 ? ["ui", "bug"] : ["ui"],
        assignees: i === 4 ? [alice.user.username] : [],
      });
      made.push(r.body.number);
    }
    const page1 = await carol.api("GET", `${R()}/issues?labels=ui&per_page=2`);
    expect(page1.body).toMatchObject({ total: 5, page: 1, per_page: 2, next_page: 2 });
    expect(page1.body.items.map((i: { number: number }) => i.number)).toEqual([made[4], made[3]]);
    const page3 = await carol.api("GET", `${R()}/issues?labels=ui&per_page=2&page=3`);
    expect(page3.body).toMatchObject({ next_page: null, items: [{ number: made[0] }] });
    const both = await carol.api("GET", `${R()}/issues?labels=ui,BUG`);
    expect(both.body.items.map((i: { number: number }) => i.number)).toEqual([made[4], made[2], made[0]]);
    const byAuthor = await carol.api(
      "GET",
      `${R()}/issues?author=${writer.user.username}&labels=ui&per_page=100`,
    );
    expect(byAuthor.body.total).toBe(5);
    const notAuthor = await carol.api("GET", `${R()}/issues?author=${alice.user.username}&labels=ui`);
    expect(notAuthor.body.total).toBe(0);
    const byAssignee = await carol.api("GET", `${R()}/issues?assignee=${alice.user.username}`);
    expect(byAssignee.body.items.map((i: { number: number }) => i.number)).toEqual([made[4]]);
    await writer.api("PATCH", `${R()}/issues/${made[1]}`, { state: "closed", state_reason: "not_planned" });
    const closed = await carol.api("GET", `${R()}/issues?state=closed&labels=ui`);
    expect(closed.body.items).toMatchObject([
      { number: made[1], state: "closed", state_reason: "not_planned" },
    ]);
    const open = await carol.api("GET", `${R()}/issues?labels=ui`);
    expect(open.body.total).toBe(4);
    expect(list400(await carol.api("GET", `${R()}/issues?state=weird`))).toBe(true);
  });

  it("records every change on the timeline", async () => {
    await alice.api("POST", `${R()}/labels`, { name: "docs", color: "0000ff" });
    const { body: issue } = await alice.api("POST", `${R()}/issues`, { title: "timeline", labels: ["docs"] });
    const n = issue.number;
    await alice.api("PATCH", `${R()}/issues/${n}`, { title: "timeline, renamed", body: "now with a body" });
    await alice.api("PATCH", `${R()}/issues/${n}`, { labels: ["bug"], assignees: [writer.user.username] });
    await alice.api("PATCH", `${R()}/issues/${n}`, { assignees: [] });
    await alice.api("POST", `${R()}/issues/${n}/comments`, { body: "a comment" });
    await alice.api("PATCH", `${R()}/issues/${n}`, { state: "closed" });
    await alice.api("PATCH", `${R()}/issues/${n}`, { state: "open" });
    await alice.api("POST", `${R()}/issues/${n}/labels`, { labels: ["ui"] });
    await alice.api("DELETE", `${R()}/issues/${n}/labels/ui`);
    // Nothing changes: nothing is recorded.
    await alice.api("PATCH", `${R()}/issues/${n}`, { title: "timeline, renamed", state: "open" });
    const t = await carol.api("GET", `${R()}/issues/${n}/timeline?per_page=100`);
    expect(t.status).toBe(200);
    expect(t.body.items.map((e: { kind: string }) => e.kind)).toEqual([
      "opened",
      "labeled",
      "edited",
      "unlabeled",
      "labeled",
      "assigned",
      "unassigned",
      "commented",
      "closed",
      "reopened",
      "labeled",
      "unlabeled",
    ]);
    const items = t.body.items;
    expect(items[2].data).toEqual({ changes: { title: { from: "timeline" }, body: { changed: true } } });
    expect(items[3].data).toMatchObject({ label: "docs" });
    expect(items[5].data).toEqual({ assignee: writer.user.username });
    expect(items[8].data).toEqual({ state_reason: "completed" });
    expect(items[0].actor).toEqual({ id: alice.user.id, username: alice.user.username });
    const now = await carol.api("GET", `${R()}/issues/${n}`);
    expect(now.body).toMatchObject({
      state: "open",
      state_reason: "reopened",
      labels: [{ name: "bug" }],
      comments: 1,
    });
    const paged = await carol.api("GET", `${R()}/issues/${n}/timeline?per_page=5&page=3`);
    expect(paged.body).toMatchObject({ total: 12, next_page: null });
    expect(paged.body.items).toHaveLength(2);
  });
});

const list400 = (r: { status: number; body: { error?: { code: string } } }) =>
  r.status === 400 && r.body.error?.code === "invalid_request";

describe("labels", () => {
  it("creates, reads, renames, recolours and deletes labels (write)", async () => {
    const made = await writer.api("POST", `${R()}/labels`, {
      name: "area/git",
      color: "abcdef",
      description: "git",
    });
    expect(made).toMatchObject({
      status: 201,
      body: { name: "area/git", color: "abcdef", description: "git" },
    });
    expect((await writer.api("POST", `${R()}/labels`, { name: "AREA/GIT", color: "abcdef" })).status).toBe(
      409,
    );
    const one = await carol.api("GET", `${R()}/labels/${encodeURIComponent("area/git")}`);
    expect(one.body.name).toBe("area/git");
    const renamed = await writer.api("PATCH", `${R()}/labels/${encodeURIComponent("Area/Git")}`, {
      name: "area/vcs",
      color: "#123456",
    });
    expect(renamed.body).toMatchObject({ name: "area/vcs", color: "123456", description: "git" });
    expect((await writer.api("PATCH", `${R()}/labels/area%2Fvcs`, { name: "bug" })).status).toBe(409);
    const list = await carol.api("GET", `${R()}/labels`);
    expect(list.body.map((l: { name: string }) => l.name)).toContain("area/vcs");
    expect((await writer.api("DELETE", `${R()}/labels/area%2Fvcs`)).status).toBe(204);
    expect((await writer.api("DELETE", `${R()}/labels/area%2Fvcs`)).status).toBe(404);
  });

  it("refuses bad colours and names, and readers", async () => {
    const before = await p.ctx.db.query("SELECT count(*)::int AS n FROM labels");
    for (const body of [
      { name: "x", color: "red" },
      { name: "x", color: "#12345" },
      { name: "x", color: "1234567" },
      { name: "a,b", color: "123456" },
      { name: "", color: "123456" },
      { name: "x".repeat(51), color: "123456" },
      { name: "x", color: "123456", extra: 1 },
    ]) {
      const r = await writer.api("POST", `${R()}/labels`, body);
      expect(r.status).toBe(400);
    }
    expect((await carol.api("POST", `${R()}/labels`, { name: "x", color: "123456" })).status).toBe(403);
    expect((await p.ctx.db.query("SELECT count(*)::int AS n FROM labels")).rows).toEqual(before.rows);
  });

  it("an issue's labels must exist: 422 naming the unknown one, nothing made", async () => {
    const before = await issueCount();
    const r = await alice.api("POST", `${R()}/issues`, { title: "x", labels: ["bug", "nope"] });
    expect(r).toMatchObject({ status: 422, body: { error: { code: "unknown_label", label: "nope" } } });
    expect(r.body.error.message).toContain("nope");
    expect(await issueCount()).toBe(before);
    const add = await alice.api("POST", `${R()}/issues/1/labels`, { labels: ["nope"] });
    expect(add.status).toBe(422);
    expect((await alice.api("DELETE", `${R()}/issues/1/labels/ui`)).status).toBe(404);
  });
});

describe("comments and reactions", () => {
  it("pages comments oldest first; the author or an admin edits and deletes", async () => {
    const { body: issue } = await alice.api("POST", `${R()}/issues`, { title: "talk" });
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      const who = i % 2 === 0 ? writer : alice;
      const r = await who.api("POST", `${R()}/issues/${issue.number}/comments`, { body: `comment **${i}**` });
      expect(r.status).toBe(201);
      expect(r.body.body_html).toContain(`<strong>${i}</strong>`);
      ids.push(r.body.id);
    }
    const page2 = await carol.api("GET", `${R()}/issues/${issue.number}/comments?per_page=2&page=2`);
    expect(page2.body).toMatchObject({ total: 5, next_page: 3 });
    expect(page2.body.items.map((c: { id: number }) => c.id)).toEqual([ids[2], ids[3]]);
    // writer wrote ids[0]; alice (the owner: admin) may change anyone's; writer not alice's.
    const own = await writer.api("PATCH", `${R()}/issues/comments/${ids[0]}`, { body: "edited" });
    expect(own).toMatchObject({ status: 200, body: { body: "edited" } });
    expect((await writer.api("PATCH", `${R()}/issues/comments/${ids[1]}`, { body: "no" })).status).toBe(403);
    expect((await carol.api("DELETE", `${R()}/issues/comments/${ids[1]}`)).status).toBe(403);
    expect((await alice.api("DELETE", `${R()}/issues/comments/${ids[2]}`)).status).toBe(204);
    expect((await alice.api("GET", `${R()}/issues/comments/${ids[2]}`)).status).toBe(404);
    expect((await writer.api("DELETE", `${R()}/issues/comments/${ids[0]}`)).status).toBe(204);
    const left = await carol.api("GET", `${R()}/issues/${issue.number}`);
    expect(left.body.comments).toBe(3);
    // A comment of another repository is not reachable through this one.
    const other = await alice.api("POST", `/api/repos/${alice.user.username}/secret/issues`, { title: "s" });
    const c = await alice.api(
      "POST",
      `/api/repos/${alice.user.username}/secret/issues/${other.body.number}/comments`,
      {
        body: "hidden",
      },
    );
    expect((await carol.api("GET", `${R()}/issues/comments/${c.body.id}`)).status).toBe(404);
    expect((await alice.api("PATCH", `${R()}/issues/comments/${c.body.id}`, { body: "x" })).status).toBe(404);
  });

  it("toggles reactions on issues and comments", async () => {
    const { body: issue } = await alice.api("POST", `${R()}/issues`, { title: "react" });
    const path = `${R()}/issues/${issue.number}/reactions`;
    const first = await carol.api("POST", path, { content: "heart" });
    expect(first).toMatchObject({
      status: 201,
      body: { content: "heart", reacted: true, reactions: { heart: 1 } },
    });
    await alice.api("POST", path, { content: "heart" });
    await alice.api("POST", path, { content: "+1" });
    expect((await carol.api("GET", `${R()}/issues/${issue.number}`)).body.reactions).toEqual({
      heart: 2,
      "+1": 1,
    });
    const again = await carol.api("POST", path, { content: "heart" });
    expect(again).toMatchObject({ status: 200, body: { reacted: false, reactions: { heart: 1, "+1": 1 } } });
    const del = await alice.api("DELETE", `${path}/%2B1`);
    expect(del.body).toMatchObject({ reacted: false, reactions: { heart: 1 } });
    expect((await carol.api("POST", path, { content: "thumbsup" })).status).toBe(400);
    expect((await p.ctx.db.query("SELECT 1 FROM reactions WHERE content = 'thumbsup'")).rowCount).toBe(0);

    const c = await alice.api("POST", `${R()}/issues/${issue.number}/comments`, { body: "react to me" });
    const cr = await carol.api("POST", `${R()}/issues/comments/${c.body.id}/reactions`, {
      content: "rocket",
    });
    expect(cr).toMatchObject({ status: 201, body: { reactions: { rocket: 1 } } });
    const list = await carol.api("GET", `${R()}/issues/${issue.number}/comments`);
    expect(list.body.items[0].reactions).toEqual({ rocket: 1 });
    // The comment's reaction is not the issue's.
    expect((await carol.api("GET", `${R()}/issues/${issue.number}`)).body.reactions).toEqual({ heart: 1 });
  });
});

describe("permissions", () => {
  const S = () => `/api/repos/${alice.user.username}/secret`;

  it("private repositories are 404 to those who cannot read them", async () => {
    const made = await writer.api("POST", `${S()}/issues`, { title: "private" });
    expect(made.status).toBe(201);
    for (const path of [
      `${S()}/issues`,
      `${S()}/issues/${made.body.number}`,
      `${S()}/issues/${made.body.number}/comments`,
      `${S()}/issues/${made.body.number}/timeline`,
      `${S()}/labels`,
    ]) {
      expect((await carol.api("GET", path)).status).toBe(404);
      expect((await fetch(p.url + path)).status).toBe(404);
      expect((await bob.api("GET", path)).status).toBe(200);
    }
    expect((await carol.api("POST", `${S()}/issues`, { title: "x" })).status).toBe(404);
    expect(
      (await carol.api("POST", `${S()}/issues/${made.body.number}/reactions`, { content: "eyes" })).status,
    ).toBe(404);
  });

  it("read cannot open, edit, comment or label: 403, nothing changed", async () => {
    const before = await issueCount();
    const { body: issue } = await writer.api("POST", `${S()}/issues`, { title: "guarded" });
    expect((await bob.api("POST", `${S()}/issues`, { title: "x" })).status).toBe(403);
    expect((await bob.api("PATCH", `${S()}/issues/${issue.number}`, { title: "x" })).status).toBe(403);
    expect((await bob.api("POST", `${S()}/issues/${issue.number}/comments`, { body: "x" })).status).toBe(403);
    expect((await bob.api("POST", `${S()}/labels`, { name: "x", color: "123456" })).status).toBe(403);
    expect(
      (await bob.api("POST", `${S()}/issues/${issue.number}/reactions`, { content: "eyes" })).status,
    ).toBe(201);
    expect((await fetch(`${p.url}${R()}/issues`, { method: "POST" })).status).toBe(401);
    expect(await issueCount()).toBe(before + 1);
    expect((await bob.api("GET", `${S()}/issues/${issue.number}`)).body).toMatchObject({
      title: "guarded",
      comments: 0,
    });
  });

  it("assignees must be users who can read the repository", async () => {
    const r = await alice.api("POST", `${S()}/issues`, { title: "x", assignees: [carol.user.username] });
    expect(r).toMatchObject({ status: 422, body: { error: { code: "invalid_assignee" } } });
    const u = await alice.api("POST", `${S()}/issues`, { title: "x", assignees: ["nobody-here"] });
    expect(u).toMatchObject({ status: 422, body: { error: { code: "unknown_assignee" } } });
    const ok = await alice.api("POST", `${S()}/issues`, { title: "x", assignees: [bob.user.username] });
    expect(ok.body.assignees).toEqual([{ id: bob.user.id, username: bob.user.username }]);
  });
});

describe("bad input", () => {
  it("refuses empty titles, huge bodies, bad numbers, unknown fields; nothing changes", async () => {
    const before = await issueCount();
    const cases: Array<[string, string, unknown, number]> = [
      ["POST", "/issues", { title: "" }, 400],
      ["POST", "/issues", { title: "   " }, 400],
      ["POST", "/issues", { title: "x".repeat(257) }, 400],
      ["POST", "/issues", { title: "x", body: "é".repeat(40000) }, 413],
      ["POST", "/issues", { title: "x", body: 5 }, 400],
      ["POST", "/issues", { title: "x", state: "closed" }, 400],
      ["POST", "/issues", { title: "x", labels: "bug" }, 400],
      ["GET", "/issues/abc", undefined, 400],
      ["GET", "/issues/1.5", undefined, 400],
      ["GET", "/issues/-1", undefined, 400],
      ["GET", "/issues/0", undefined, 400],
      ["GET", "/issues/99999999999", undefined, 400],
      ["GET", "/issues/2147483648", undefined, 400],
      ["GET", "/issues/2147483647", undefined, 404],
      ["PATCH", "/issues/1", { state: "merged" }, 400],
      ["PATCH", "/issues/1", { state_reason: "merged" }, 400],
      ["POST", "/issues/1/comments", { body: "" }, 400],
      ["POST", "/issues/1/comments", { body: "x".repeat(65537) }, 413],
      ["PATCH", "/issues/comments/abc", { body: "x" }, 400],
      ["GET", "/issues/1/comments?per_page=1000", undefined, 400],
      ["POST", "/issues", { title: "a\u0000b" }, 400],
      ["POST", "/issues", { title: "x", labels: ["a\u0000"] }, 400],
      ["POST", "/issues/1/comments", { body: "nul \u0000" }, 400],
      ["GET", "/labels/a%00b", undefined, 400],
      ["GET", "/issues?author=a%00b", undefined, 400],
    ];
    for (const [method, path, body, status] of cases) {
      const r = await alice.api(method, R() + path, body);
      expect([method, path, r.status]).toEqual([method, path, status]);
      expect(r.body.error.message).toEqual(expect.any(String));
    }
    expect(await issueCount()).toBe(before);
    const one = await alice.api("GET", `${R()}/issues/1`);
    expect(one.body.comments).toBe(0);
  });

  it("malformed JSON is 400", async () => {
    const res = await fetch(`${p.url}${R()}/issues`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice.token}`, "content-type": "application/json" },
      body: "{not json",
    });
    expect(res.status).toBe(400);
  });
});
