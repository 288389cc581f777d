/**
 * Reviews, line comments and what a push to the head does to them (real git pushes): the author
 * may not approve their own pull request, a review of an old head is refused, a comment off the
 * diff is 422, comments follow their line or go outdated, approvals go stale, and `synchronize`
 * starts the head's `pull_request` workflows.
 */
import { type Json, newRepo, type Rig, startRig, synced, timeline, until, type Work } from "./helpers";

const WORKFLOW = `from plue import workflow, pull_request

@workflow(triggers=[pull_request(types=["synchronize"])])
def on_sync(ctx):
    ctx.run(name="check", cmd="echo sync")
`;

const LINES = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`);
const text = (lines: string[]) => `${lines.join("\n")}\n`;

let rig: Rig;
let work: Work;
let n: number;

beforeAll(async () => {
  rig = await startRig();
  work = await newRepo(rig, "reviewed", {
    "doc.txt": text(LINES),
    "other.txt": "untouched\n",
    ".plue/workflows/sync.py": WORKFLOW,
  });
  await work.checkout("topic", true);
  // Change lines 10 and 20 (each hunk shows 3 lines of context around it).
  const changed = [...LINES];
  changed[9] = "line ten";
  changed[19] = "line twenty";
  await work.commit({ "doc.txt": text(changed) }, "Change ten and twenty");
  await work.push("topic");
  n = (await rig.alice.ok("POST", `${work.api}/pulls`, { title: "Topic", head: "topic" })).number;
});
afterAll(() => rig.close());

const url = (tail = "") => `${work.api}/pulls/${n}${tail}`;

describe("reviews", () => {
  it("refuses the author's own approval or change request but takes their comment", async () => {
    for (const event of ["APPROVE", "REQUEST_CHANGES"]) {
      const r = await rig.alice.request("POST", url("/reviews"), { event, body: "mine" });
      expect(r.status).toBe(422);
      expect(r.body.error.code).toBe("own_pull");
    }
    const c = await rig.alice.request("POST", url("/reviews"), { event: "COMMENT", body: "a note" });
    expect(c.status).toBe(201);
    expect(c.body).toMatchObject({ state: "commented", dismissed: false, stale: false });
  });

  it("refuses a review of a head that is not the current one, and an empty change request", async () => {
    const r = await rig.bob.request("POST", url("/reviews"), { event: "APPROVE", commit_id: "a".repeat(40) });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: "head_moved", head_sha: await work.sha("topic") });
    const empty = await rig.bob.request("POST", url("/reviews"), { event: "REQUEST_CHANGES" });
    expect(empty.status).toBe(422);
    expect((await rig.alice.ok("GET", url("/reviews"))).length).toBe(1);
  });

  it("approves with a line comment and records the review in the timeline", async () => {
    const head = await work.sha("topic");
    const r = await rig.bob.request("POST", url("/reviews"), {
      event: "APPROVE",
      commit_id: head,
      body: "LGTM",
      comments: [{ path: "doc.txt", line: 10, body: "nice ten" }],
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      state: "approved",
      commit_sha: head,
      stale: false,
      body_html: "<p>LGTM</p>\n",
    });
    expect(r.body.comments).toEqual([
      expect.objectContaining({ path: "doc.txt", line: 10, review_id: r.body.id }),
    ]);
    const kinds = (await timeline(rig, work, n)).map((e) => e.kind);
    expect(kinds.filter((k) => k === "reviewed")).toHaveLength(2);
  });
});

describe("permissions", () => {
  it("lets a reader see reviews and comments but not write them; hides a private repository", async () => {
    const reader = await rig.p.user(`reader${process.pid}`);
    expect((await reader.request("GET", url("/reviews"))).status).toBe(200);
    expect((await reader.request("GET", url("/comments"))).status).toBe(200);
    const review = await reader.request("POST", url("/reviews"), { event: "APPROVE" });
    expect(review.status).toBe(403);
    const comment = await reader.request("POST", url("/comments"), { path: "doc.txt", line: 10, body: "x" });
    expect(comment.status).toBe(403);
    await rig.alice.ok("PATCH", `/api/repos/${work.slug}`, { visibility: "private" });
    try {
      expect((await reader.request("GET", url())).status).toBe(404);
      expect((await reader.request("GET", url("/files"))).status).toBe(404);
    } finally {
      await rig.alice.ok("PATCH", `/api/repos/${work.slug}`, { visibility: "public" });
    }
  });
});

describe("line comments", () => {
  it("refuses a line the diff does not show, a path it does not touch and a bad path", async () => {
    const count = async () => (await rig.alice.ok("GET", url("/comments"))).length;
    const before = await count();
    const off = await rig.bob.request("POST", url("/comments"), { path: "doc.txt", line: 15, body: "x" });
    expect(off.status).toBe(422);
    expect(off.body.error).toMatchObject({ code: "line_not_in_diff", line: 15 });
    const left = await rig.bob.request("POST", url("/comments"), {
      path: "doc.txt",
      line: 2,
      side: "LEFT",
      body: "x",
    });
    expect(left.body.error.code).toBe("line_not_in_diff");
    const untouched = await rig.bob.request("POST", url("/comments"), {
      path: "other.txt",
      line: 1,
      body: "x",
    });
    expect(untouched.status).toBe(422);
    expect(untouched.body.error.code).toBe("path_not_in_diff");
    const hostile = await rig.bob.request("POST", url("/comments"), {
      path: "../etc/passwd",
      line: 1,
      body: "x",
    });
    expect(hostile.status).toBe(422);
    expect(hostile.body.error.code).toBe("invalid_path");
    const dash = await rig.bob.request("POST", url("/comments"), {
      path: "--output=/tmp/x",
      line: 1,
      body: "x",
    });
    expect(dash.status).toBe(422);
    expect(await count()).toBe(before);
  });

  it("takes a comment on either side of a changed line, and a reply in its thread", async () => {
    const right = await rig.bob.ok("POST", url("/comments"), {
      path: "doc.txt",
      line: 20,
      body: "about twenty",
    });
    expect(right).toMatchObject({ side: "RIGHT", line: 20, original_line: 20, outdated: false });
    const left = await rig.bob.ok("POST", url("/comments"), {
      path: "doc.txt",
      line: 10,
      side: "LEFT",
      body: "old ten",
    });
    expect(left).toMatchObject({ side: "LEFT", line: 10 });
    const reply = await rig.alice.ok("POST", url("/comments"), { in_reply_to: right.id, body: "agreed" });
    expect(reply).toMatchObject({ in_reply_to_id: right.id, path: "doc.txt", line: 20 });
    const nested = await rig.bob.ok("POST", url("/comments"), { in_reply_to: reply.id, body: "thread" });
    expect(nested.in_reply_to_id).toBe(right.id);
    const missing = await rig.bob.request("POST", url("/comments"), { in_reply_to: 99999, body: "?" });
    expect(missing.status).toBe(422);
  });
});

describe("a push to the head", () => {
  let before: Json;
  let after: string;

  beforeAll(async () => {
    before = await rig.alice.ok("GET", url());
    await work.checkout("topic");
    // Two lines inserted above line 10 and line 20 rewritten: the comment on 10 moves to 12,
    // the one on 20 is outdated.
    const next = [...LINES];
    next[9] = "line ten";
    next[19] = "line TWENTY again";
    next.splice(2, 0, "inserted a", "inserted b");
    after = await work.commit({ "doc.txt": text(next) }, "Insert two lines, rewrite twenty");
    await work.push("topic");
    await synced(work, "topic", after);
  });

  it("moves the head, records head_pushed and keeps the pull request mergeable", async () => {
    const now = await rig.alice.ok("GET", url());
    expect(now.head.sha).toBe(after);
    expect(now.commits).toBe(2);
    expect(now.mergeable).toBe(true);
    const pushed = (await timeline(rig, work, n)).filter((e) => e.kind === "head_pushed");
    expect(pushed).toEqual([
      { kind: "head_pushed", data: { before: before.head.sha, after, forced: false } },
    ]);
  });

  it("moves a comment whose line moved and marks the one whose line changed outdated", async () => {
    const comments: Json[] = await rig.alice.ok("GET", url("/comments"));
    const ten = comments.find((c) => c.body === "nice ten");
    expect(ten).toMatchObject({ line: 12, original_line: 10, commit_id: after, outdated: false });
    const twenty = comments.find((c) => c.body === "about twenty");
    expect(twenty).toMatchObject({ line: null, original_line: 20, outdated: true });
    expect(twenty.original_commit_id).toBe(before.head.sha);
  });

  it("makes the approval stale (not dismissed without a branch rule)", async () => {
    const reviews: Json[] = await rig.alice.ok("GET", url("/reviews"));
    expect(reviews.find((r) => r.state === "approved")).toMatchObject({ stale: true, dismissed: false });
  });

  it("starts the pull_request(types=[synchronize]) workflow at the new head", async () => {
    const runs = await until("the synchronize run", async () => {
      const list = (await rig.alice.ok("GET", `/api/repos/${work.slug}/runs`)).runs as Json[];
      const done = list.filter((r) => r.workflow === "on_sync" && r.status === "success");
      return done.length > 0 && done;
    });
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ event: "pull_request", commit: after });
    const run = await rig.alice.ok("GET", `/api/runs/${runs[0].id}`);
    expect(run.trigger_context).toMatchObject({
      action: "synchronize",
      number: n,
      head_sha: after,
      base: "main",
    });
  });

  it("records a force-push as forced", async () => {
    await work.git(["reset", "-q", "--hard", "HEAD~1"]);
    const forced = await work.commit({ "doc.txt": text(["rewritten"]) }, "Rewrite");
    await work.push("+topic");
    await synced(work, "topic", forced);
    const last = (await timeline(rig, work, n)).filter((e) => e.kind === "head_pushed").at(-1);
    expect(last?.data).toEqual({ before: after, after: forced, forced: true });
  });
});
