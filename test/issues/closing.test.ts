/**
 * `Fixes #N` in pushed commits (real git over HTTP): on the default branch it closes the issue,
 * on another branch it only references it; each commit is recorded once. And applyReferences as
 * the pull requests call it: cross-references when one is opened, closing when it is merged.
 */
import fs from "node:fs";
import path from "node:path";
import type { Repository } from "../../app/git/repos";
import { nextIssueNumber } from "../../app/issues/numbers";
import { cloneUrl, createRepo, GitClient } from "../git/client";
import { createAccount, type TestAccount } from "../helpers/accounts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";

let p: TestPlatform;
let alice: TestAccount;
let repo: Repository;
let dir: string;
let url: string;
const git = new GitClient();
const R = () => `/api/repos/${alice.user.username}/closing`;

beforeAll(async () => {
  p = await startTestPlatform();
  alice = await createAccount({ url: p.url, token: p.token });
  await createRepo(p.url, alice.token, { name: "closing" });
  repo = (await p.ctx.git.repos.find(alice.user.username, "closing"))!;
  url = cloneUrl(p.url, alice.user.username, "closing", alice.token);
  dir = await git.repoWith("closing", { "README.md": "# closing\n" });
  await git.ok(["push", "-q", url, "main"], dir);
  for (let i = 1; i <= 6; i++) await alice.api("POST", `${R()}/issues`, { title: `issue ${i}` });
});
afterAll(async () => {
  await p.close();
  git.cleanup();
});

async function commit(message: string): Promise<string> {
  fs.writeFileSync(path.join(dir, "change.txt"), `${message}\n${Math.random()}\n`);
  await git.ok(["add", "-A"], dir);
  await git.ok(["commit", "-q", "-m", message], dir);
  return git.ok(["rev-parse", "HEAD"], dir);
}

const issue = async (n: number) => (await alice.api("GET", `${R()}/issues/${n}`)).body;
const timeline = async (n: number) =>
  (await alice.api("GET", `${R()}/issues/${n}/timeline?per_page=100`)).body.items as Array<{
    kind: string;
    data: Record<string, unknown>;
    actor: { username: string } | null;
  }>;

/** Polls until `check` holds (push listeners run after git's answer). */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    await p.ctx.issues.drain();
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("closing issues from pushed commits", () => {
  let fixSha: string;

  it("Fixes #N on the default branch closes the issue and references the mentioned ones", async () => {
    fixSha = await commit("Repair the thing\n\nFixes #1, see #2. `fixes #3` is quoted.");
    await git.ok(["push", "-q", url, "main"], dir);
    await eventually(async () => (await issue(1)).state === "closed", "#1 to close");
    expect(await issue(1)).toMatchObject({
      state: "closed",
      state_reason: "completed",
      closed_by: { username: alice.user.username },
    });
    expect((await timeline(1)).at(-1)).toMatchObject({
      kind: "closed",
      data: { sha: fixSha, ref: "refs/heads/main" },
      actor: { username: alice.user.username },
    });
    expect((await timeline(2)).at(-1)).toMatchObject({ kind: "referenced", data: { sha: fixSha } });
    expect(await issue(2)).toMatchObject({ state: "open" });
    expect((await timeline(3)).map((e) => e.kind)).toEqual(["opened"]);
  });

  it("on another branch it only references, and each commit is recorded once", async () => {
    await git.ok(["checkout", "-q", "-b", "feature"], dir);
    const sha = await commit("Work in progress, fixes #4");
    await git.ok(["push", "-q", url, "feature"], dir);
    await eventually(async () => (await timeline(4)).some((e) => e.kind === "referenced"), "#4 referenced");
    expect(await issue(4)).toMatchObject({ state: "open" });
    expect((await timeline(4)).at(-1)).toMatchObject({
      kind: "referenced",
      data: { sha, ref: "refs/heads/feature" },
    });
    // A new branch carrying the same commits (and the first one's `Fixes #1`) adds nothing.
    await git.ok(["push", "-q", url, "feature:copy"], dir);
    await p.ctx.issues.drain();
    await new Promise((r) => setTimeout(r, 200));
    await p.ctx.issues.drain();
    expect((await timeline(4)).filter((e) => e.kind === "referenced")).toHaveLength(1);
    expect((await timeline(1)).filter((e) => e.kind === "closed" || e.kind === "referenced")).toHaveLength(1);
    expect((await timeline(2)).filter((e) => e.kind === "referenced")).toHaveLength(1);
    // Merged into main (fast-forward) it closes #4 after all.
    await git.ok(["checkout", "-q", "main"], dir);
    await git.ok(["merge", "-q", "--ff-only", "feature"], dir);
    await git.ok(["push", "-q", url, "main"], dir);
    await eventually(async () => (await issue(4)).state === "closed", "#4 to close on main");
    expect((await timeline(4)).at(-1)).toMatchObject({ kind: "closed", data: { sha } });
  });

  it("a reopened issue is not closed again by the same commit; deleting a branch does nothing", async () => {
    await alice.api("PATCH", `${R()}/issues/1`, { state: "open" });
    const again = await p.ctx.issues.applyReferences(
      repo,
      "Fixes #1",
      { commit: fixSha, ref: "refs/heads/main" },
      undefined,
      {
        close: true,
      },
    );
    expect(again).toEqual({ closed: [], referenced: [] });
    expect(await issue(1)).toMatchObject({ state: "open", state_reason: "reopened" });
    const before = (await timeline(1)).length;
    await git.ok(["push", "-q", url, ":copy"], dir);
    await p.ctx.issues.drain();
    expect((await timeline(1)).length).toBe(before);
  });
});

describe("references from issues", () => {
  it("a body or comment cross-references, never closes, and records once", async () => {
    const a = (await alice.api("POST", `${R()}/issues`, { title: "target" })).body.number;
    const b = (await alice.api("POST", `${R()}/issues`, { title: "source", body: `Fixes #${a}` })).body
      .number;
    await alice.api("POST", `${R()}/issues/${b}/comments`, { body: `again #${a}, and itself #${b}` });
    await p.ctx.issues.drain();
    const refs = (await timeline(a)).filter((e) => e.kind === "cross-referenced");
    expect(refs).toEqual([
      expect.objectContaining({
        data: { number: b },
        actor: expect.objectContaining({ username: alice.user.username }),
      }),
    ]);
    expect(await issue(a)).toMatchObject({ state: "open" });
    expect((await timeline(b)).some((e) => e.kind === "cross-referenced")).toBe(false);
  });
});

describe("one commit pushed to two branches at once", () => {
  it("is recorded once", async () => {
    await git.ok(["checkout", "-q", "-b", "twins"], dir);
    const sha = await commit("Touches #3");
    await git.ok(["push", "-q", url, "HEAD:refs/heads/twin-a", "HEAD:refs/heads/twin-b"], dir);
    await eventually(async () => (await timeline(3)).some((e) => e.kind === "referenced"), "#3 referenced");
    await new Promise((r) => setTimeout(r, 200));
    await p.ctx.issues.drain();
    const refs = (await timeline(3)).filter((e) => e.kind === "referenced");
    expect(refs).toHaveLength(1);
    expect(refs[0]!.data.sha).toBe(sha);
    await git.ok(["checkout", "-q", "main"], dir);
  });
});

describe("references from pull requests", () => {
  it("cross-references when opened, closes when merged, never closes a pull request", async () => {
    const pr = await p.ctx.db.transaction(async (tx) => {
      const n = await nextIssueNumber(tx, repo.id);
      await tx.query("INSERT INTO issues (repo_id, number, is_pull, title) VALUES ($1, $2, true, 'PR')", [
        repo.id,
        n,
      ]);
      return n;
    });
    const text = `Fixes #5, fixes #${pr}, closes #6 and closes #999. See #2.`;
    const opened = await p.ctx.issues.applyReferences(repo, text, { pull: pr }, undefined, { close: false });
    expect(opened.closed).toEqual([]);
    expect(opened.referenced.sort()).toEqual([2, 5, 6]);
    expect((await timeline(5)).at(-1)).toMatchObject({ kind: "cross-referenced", data: { number: pr } });
    // The same text again (an edit): nothing new.
    expect(await p.ctx.issues.applyReferences(repo, text, { pull: pr }, undefined, { close: false })).toEqual(
      {
        closed: [],
        referenced: [],
      },
    );
    const merger = { id: alice.user.id, username: alice.user.username, is_admin: false };
    // Merged: closing references close (#5 was cross-referenced by this pull before; it closes now).
    await alice.api("PATCH", `${R()}/issues/6`, { state: "closed" });
    const merged = await p.ctx.issues.applyReferences(repo, text, { pull: pr }, merger, { close: true });
    expect(merged.closed.map((i) => i.number)).toEqual([5]);
    expect(await issue(5)).toMatchObject({ state: "closed", state_reason: "completed" });
    expect((await timeline(5)).at(-1)).toMatchObject({ kind: "closed", data: { pull: pr } });
    expect(await issue(pr)).toMatchObject({ state: "open" });
  });
});
