/**
 * Pull requests over the real API and real git: opening one (and every way to get it wrong),
 * listing and filtering, the diff (renames, binary files), commits, editing, closing and
 * reopening, changing the base.
 */
import {
  type Json,
  newRepo,
  openPull,
  type Rig,
  startRig,
  synced,
  timeline,
  usernameOf,
  type Work,
} from "./helpers";

let rig: Rig;
let work: Work;

beforeAll(async () => {
  rig = await startRig();
  work = await newRepo(rig, "app", {
    "README.md": "# app\n",
    "src/a.txt": "one\ntwo\nthree\n",
    "old-name.txt": "this file is renamed\nand it has\nseveral lines\nso git sees a rename\n",
  });
});
afterAll(() => rig.close());

const pullCount = async () =>
  (await rig.p.ctx.db.query<{ n: number }>("SELECT count(*)::int AS n FROM pull_requests")).rows[0]!.n;

describe("opening a pull request", () => {
  let pull: Json;

  beforeAll(async () => {
    await work.checkout("feature", true);
    await work.commit({ "src/a.txt": "one\n2\nthree\nfour\n" }, "Change a: number two");
    await work.commit({ "src/b.txt": "bee\n" }, "Add b");
    await work.push("feature");
    await work.checkout("main");
    pull = await rig.bob.ok("POST", `${work.api}/pulls`, {
      title: "Feature",
      body: "Does **things** <script>alert(1)</script>",
      head: "feature",
    });
  });

  it("answers the pull request with its head, base, counts and a sanitized body", async () => {
    const head = await work.sha("feature");
    const base = await work.sha("main");
    expect(pull).toMatchObject({
      number: 1,
      title: "Feature",
      state: "open",
      merged: false,
      draft: false,
      user: { username: await usernameOf(rig.bob) },
      head: { ref: "feature", sha: head, repo: work.slug },
      base: { ref: "main", sha: base, repo: work.slug },
      merge_base: base,
      mergeable: true,
      mergeable_state: "clean",
      commits: 2,
      additions: 3,
      deletions: 1,
      changed_files: 2,
      blockers: [],
    });
    expect(pull.body_html).toContain("<strong>things</strong>");
    expect(pull.body_html).not.toContain("<script");
    expect(await timeline(rig, work, 1)).toEqual([expect.objectContaining({ kind: "opened" })]);
  });

  it("lists the commits oldest first and the files of the diff", async () => {
    const commits = await rig.alice.ok("GET", `${work.api}/pulls/1/commits`);
    expect(commits.map((c: Json) => c.title)).toEqual(["Change a: number two", "Add b"]);
    const files = await rig.alice.ok("GET", `${work.api}/pulls/1/files`);
    expect(files).toMatchObject({ total: 2, additions: 3, deletions: 1, next_page: null });
    expect(files.items.map((f: Json) => [f.filename, f.status])).toEqual([
      ["src/a.txt", "modified"],
      ["src/b.txt", "added"],
    ]);
    expect(files.items[0].patch).toContain("+2");
    const first = await fetch(`${rig.p.url}${work.api}/pulls/1/files`, {
      headers: { authorization: `Bearer ${rig.alice.token}` },
    });
    const etag = first.headers.get("etag")!;
    expect(etag).toContain(await work.sha("feature"));
    const again = await fetch(`${rig.p.url}${work.api}/pulls/1/files`, {
      headers: { authorization: `Bearer ${rig.alice.token}`, "if-none-match": etag },
    });
    expect(again.status).toBe(304);
    const paged = await rig.alice.ok("GET", `${work.api}/pulls/1/files?per_page=1&page=2`);
    expect(paged).toMatchObject({ total: 2, page: 2, next_page: null });
    expect(paged.items.map((f: Json) => f.filename)).toEqual(["src/b.txt"]);
  });

  it("refuses a second open pull request for the same head and base, naming the first", async () => {
    const before = await pullCount();
    const again = await rig.alice.request("POST", `${work.api}/pulls`, { title: "Again", head: "feature" });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: "pull_exists", number: 1 });
    expect(again.body.error.message).toContain("#1");
    expect(await pullCount()).toBe(before);
  });

  it("of two creates of the same head → base at once, one wins and the other is 409", async () => {
    await work.checkout("main");
    await work.checkout("twice", true);
    await work.commit({ "twice.txt": "2\n" }, "twice");
    await work.push("twice");
    await work.checkout("main");
    const body = { title: "Twice", head: "twice" };
    const [a, b] = await Promise.all([
      rig.alice.request("POST", `${work.api}/pulls`, body),
      rig.bob.request("POST", `${work.api}/pulls`, body),
    ]);
    expect([a.status, b.status].sort()).toEqual([201, 409]);
    const open = await rig.alice.ok("GET", `${work.api}/pulls?per_page=100`);
    expect(open.items.filter((p: Json) => p.head.ref === "twice")).toHaveLength(1);
  });

  it("lists and filters by state and author", async () => {
    const open = await rig.alice.ok("GET", `${work.api}/pulls`);
    expect(open.items.map((p: Json) => p.number)).toContain(1);
    expect(open.items[0].body_html).toBeUndefined();
    const byBob = await rig.alice.ok("GET", `${work.api}/pulls?author=${await usernameOf(rig.bob)}`);
    expect(byBob.items.map((p: Json) => p.number)).toContain(1);
    expect(new Set(byBob.items.map((p: Json) => p.user.username))).toEqual(
      new Set([await usernameOf(rig.bob)]),
    );
    const byAlice = await rig.alice.ok("GET", `${work.api}/pulls?author=${await usernameOf(rig.alice)}`);
    expect(byAlice.items.map((p: Json) => p.number)).not.toContain(1);
    const closed = await rig.alice.ok("GET", `${work.api}/pulls?state=closed`);
    expect(closed.items.map((p: Json) => p.number)).not.toContain(1);
    const bad = await rig.alice.request("GET", `${work.api}/pulls?state=weird`);
    expect(bad.status).toBe(400);
  });
});

describe("bad input changes nothing", () => {
  beforeAll(async () => {
    await work.checkout("main");
    await work.checkout("same-as-main", true);
    await work.push("same-as-main");
    await work.checkout("main");
  });

  it.each([
    [{ head: "main" }, 422, "same_branch"],
    [{ head: "feature", base: "feature" }, 422, "same_branch"],
    [{ head: "nope" }, 422, "unknown_branch"],
    [{ head: "feature", base: "nope" }, 422, "unknown_branch"],
    [{ head: "--upload-pack=touch /tmp/x" }, 422, "invalid_branch"],
    [{ head: "-x" }, 422, "invalid_branch"],
    [{ head: "../../etc" }, 422, "invalid_branch"],
    [{ head: "a..b" }, 422, "invalid_branch"],
    [{ head: "refs/heads/feature" }, 422, "invalid_branch"],
    [{ head: "with space" }, 422, "invalid_branch"],
    [{ head: "feature@{1}" }, 422, "invalid_branch"],
    [{ head: "same-as-main" }, 422, "nothing_to_compare"],
    [{ head: "feature", extra: 1 }, 400, "invalid_request"],
    [{ head: "" }, 400, "invalid_request"],
  ])("%j → %i %s", async (body, status, code) => {
    const before = await pullCount();
    const r = await rig.alice.request("POST", `${work.api}/pulls`, { title: "Bad", ...body });
    expect(r.status).toBe(status);
    expect(r.body.error.code).toBe(code);
    expect(await pullCount()).toBe(before);
  });

  it("needs write access to open one and read access to see them", async () => {
    const stranger = await rig.p.user(`stranger${process.pid}`);
    const r = await stranger.request("POST", `${work.api}/pulls`, { title: "X", head: "feature" });
    expect(r.status).toBe(403);
    expect((await stranger.request("GET", `${work.api}/pulls/1`)).status).toBe(200);
    const anon = await fetch(`${rig.p.url}${work.api}/pulls`, { method: "POST" });
    expect(anon.status).toBe(401);
  });

  it("answers 404 for a missing or malformed number", async () => {
    expect((await rig.alice.request("GET", `${work.api}/pulls/999`)).status).toBe(404);
    expect((await rig.alice.request("GET", `${work.api}/pulls/abc`)).status).toBe(404);
    expect((await rig.alice.request("GET", `${work.api}/pulls/99999999999`)).status).toBe(404);
  });
});

describe("the diff", () => {
  it("shows a rename with its old name and a binary file summarised", async () => {
    await work.checkout("main");
    await work.checkout("rename", true);
    await work.git(["mv", "old-name.txt", "new-name.txt"]);
    await work.commit(
      { "logo.bin": Buffer.from([0, 1, 2, 3, 0, 255, 254, 0, 9]) },
      "Rename and add a binary",
    );
    await work.push("rename");
    await work.checkout("main");
    const pull = await rig.alice.ok("POST", `${work.api}/pulls`, { title: "Rename", head: "rename" });
    const files = await rig.alice.ok("GET", `${work.api}/pulls/${pull.number}/files`);
    const byName = Object.fromEntries(files.items.map((f: Json) => [f.filename, f]));
    expect(byName["new-name.txt"]).toMatchObject({ status: "renamed", previous_filename: "old-name.txt" });
    expect(byName["logo.bin"]).toMatchObject({ status: "added", binary: true });
    expect(byName["logo.bin"].patch).toBeUndefined();
  });
});

describe("editing", () => {
  let n: number;
  beforeAll(async () => {
    n = (await openPull(work, "edit-me", { "edit.txt": "edit\n" })).number;
  });

  it("edits title and body, converts to draft and back, and records each", async () => {
    const edited = await rig.alice.ok("PATCH", `${work.api}/pulls/${n}`, {
      title: "Renamed",
      body: "new body",
    });
    expect(edited).toMatchObject({ title: "Renamed", body: "new body" });
    const draft = await rig.alice.ok("PATCH", `${work.api}/pulls/${n}`, { draft: true });
    expect(draft).toMatchObject({ draft: true, mergeable_state: "draft" });
    expect(draft.blockers).toContain("the pull request is a draft");
    const ready = await rig.alice.ok("PATCH", `${work.api}/pulls/${n}`, { draft: false });
    expect(ready.draft).toBe(false);
    const kinds = (await timeline(rig, work, n)).map((e) => e.kind);
    expect(kinds).toEqual(["opened", "edited", "converted_to_draft", "ready_for_review"]);
  });

  it("closes and reopens, and refuses to reopen once the head branch is gone", async () => {
    const closed = await rig.alice.ok("PATCH", `${work.api}/pulls/${n}`, { state: "closed" });
    expect(closed).toMatchObject({ state: "closed", merged: false });
    expect(closed.blockers).toEqual(["the pull request is closed"]);
    const open = await rig.alice.ok("PATCH", `${work.api}/pulls/${n}`, { state: "open" });
    expect(open.state).toBe("open");
    await rig.alice.ok("PATCH", `${work.api}/pulls/${n}`, { state: "closed" });
    await work.push(":edit-me");
    await synced(work, "edit-me", "0".repeat(40));
    const refused = await rig.alice.request("PATCH", `${work.api}/pulls/${n}`, { state: "open" });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe("head_gone");
    expect((await rig.alice.ok("GET", `${work.api}/pulls/${n}`)).state).toBe("closed");
  });

  it("changes the base: the merge base and the counts follow", async () => {
    await work.checkout("main");
    await work.checkout("develop", true);
    await work.commit({ "develop.txt": "d\n" }, "develop only");
    await work.push("develop");
    await work.checkout("main");
    const pull = await openPull(work, "on-develop", { "x.txt": "x\n" });
    expect(pull.commits).toBe(1);
    const moved = await rig.alice.ok("PATCH", `${work.api}/pulls/${pull.number}`, { base: "develop" });
    expect(moved).toMatchObject({
      base: { ref: "develop", sha: await work.sha("develop") },
      mergeable: true,
    });
    expect(moved.merge_base).toBe(await work.sha("main"));
    const kinds = await timeline(rig, work, pull.number);
    expect(kinds.at(-1)).toEqual({ kind: "base_changed", data: { from: "main", to: "develop" } });
    const bad = await rig.alice.request("PATCH", `${work.api}/pulls/${pull.number}`, { base: "on-develop" });
    expect(bad.status).toBe(422);
    const gone = await rig.alice.request("PATCH", `${work.api}/pulls/${pull.number}`, { base: "--nope" });
    expect(gone.body.error.code).toBe("invalid_branch");
  });
});
