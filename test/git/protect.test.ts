/**
 * Branch protection on the receive path: real pushes over smart HTTP with tokens, refused with a
 * message git prints as `remote: …`, and the refs left as they were (git ls-remote).
 */
import fs from "node:fs";
import path from "node:path";
import { createAccount, type TestAccount } from "../helpers/accounts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";
import { cloneUrl, createRepo, GitClient } from "./client";

let p: TestPlatform;
let g: GitClient;
let admin: { api: TestAccount["api"] };
let bob: TestAccount; // write, allowlisted by name
let carol: TestAccount; // write, allowlisted through acme/releasers
let dave: TestAccount; // write, not allowlisted
let work: string;
let org: string;
const REPO = "guarded";

const url = (token: string) => cloneUrl(p.url, "admin", REPO, token);

async function remoteRefs(): Promise<Record<string, string>> {
  const out = await g.ok(["ls-remote", url(p.token)]);
  return Object.fromEntries(
    out
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split("\t").reverse() as [string, string]),
  );
}

async function commit(file: string, text: string): Promise<string> {
  fs.writeFileSync(path.join(work, file), text);
  await g.ok(["add", "-A"], work);
  await g.ok(["commit", "-q", "-m", `change ${file}`], work);
  return g.ok(["rev-parse", "HEAD"], work);
}

async function rule(body: Record<string, unknown>): Promise<number> {
  const r = await admin.api("POST", `/api/repos/admin/${REPO}/branch-protections`, body);
  expect(r.status).toBe(201);
  return r.body.id;
}

beforeAll(async () => {
  p = await startTestPlatform();
  g = new GitClient();
  const server = { url: p.url, token: p.token };
  admin = { api: (m, pth, b) => fetchJson(p.token, m, pth, b) };
  [bob, carol, dave] = await Promise.all([
    createAccount(server),
    createAccount(server),
    createAccount(server),
  ]);
  await createRepo(p.url, p.token, { name: REPO });
  for (const who of [bob, carol, dave]) {
    const r = await admin.api("PUT", `/api/repos/admin/${REPO}/collaborators/${who.user.username}`, {
      permission: "write",
    });
    expect(r.status).toBeLessThan(300);
  }
  org = `acme${process.pid}`;
  expect((await admin.api("POST", "/api/orgs", { name: org })).status).toBe(201);
  expect(
    (await admin.api("PUT", `/api/orgs/${org}/members/${carol.user.username}`, { role: "member" })).status,
  ).toBe(200);
  expect(
    (await admin.api("POST", `/api/orgs/${org}/teams`, { name: "releasers", permission: "read" })).status,
  ).toBe(201);
  expect(
    (await admin.api("PUT", `/api/orgs/${org}/teams/releasers/members/${carol.user.username}`)).status,
  ).toBe(204);
  work = await g.repoWith("guarded-work", { "README.md": "# guarded\n" });
  await g.ok(["push", "-q", url(p.token), "main"], work);
});
afterAll(async () => {
  await p.close();
  g.cleanup();
});

async function fetchJson(token: string, method: string, pth: string, body?: unknown) {
  const res = await fetch(p.url + pth, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe("a protected branch on the receive path", () => {
  let ruleId: number;

  it("allows a fast-forward and refuses a force-push, leaving main as it was", async () => {
    ruleId = await rule({ pattern: "main" }); // defaults: no force-push, no deletion
    const ff = await commit("a.txt", "one\n");
    await g.ok(["push", "-q", url(bob.token), "main"], work);
    expect((await remoteRefs())["refs/heads/main"]).toBe(ff);

    await g.ok(["commit", "-q", "--amend", "-m", "rewritten"], work);
    const forced = await g.run(["push", "--force", url(bob.token), "main"], work);
    expect(forced.code).not.toBe(0);
    expect(forced.stderr).toContain("remote: main is protected: force-pushes are not allowed");
    expect(forced.stderr).toMatch(/\[remote rejected\] main -> main \(pre-receive hook declined\)/);
    expect((await remoteRefs())["refs/heads/main"]).toBe(ff);
    await g.ok(["reset", "-q", "--hard", ff], work);
  });

  it("refuses deleting it", async () => {
    const before = await remoteRefs();
    const del = await g.run(["push", url(bob.token), ":main"], work);
    expect(del.code).not.toBe(0);
    expect(del.stderr).toContain("remote: main is protected: it cannot be deleted");
    expect(await remoteRefs()).toEqual(before);
  });

  it("lets anyone with write force-push and delete an unprotected branch", async () => {
    await g.ok(["push", "-q", url(dave.token), "main:feature"], work);
    const head = await commit("f.txt", "feature\n");
    await g.ok(["push", "-q", url(dave.token), "HEAD:feature"], work);
    await g.ok(["reset", "-q", "--hard", "HEAD~1"], work);
    await g.ok(["push", "-q", "--force", url(dave.token), "HEAD:feature"], work);
    expect((await remoteRefs())["refs/heads/feature"]).not.toBe(head);
    await g.ok(["push", "-q", url(dave.token), ":feature"], work);
    expect((await remoteRefs())["refs/heads/feature"]).toBeUndefined();
  });

  it("with an allowlist: refuses others' direct pushes, allows the named user and the team's member", async () => {
    const patched = await admin.api("PATCH", `/api/repos/admin/${REPO}/branch-protections/${ruleId}`, {
      push_allowlist: [bob.user.username, `${org}/releasers`],
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ block_force_push: true, block_deletion: true, pattern: "main" });
    const before = (await remoteRefs())["refs/heads/main"];

    const next = await commit("b.txt", "two\n");
    const refused = await g.run(["push", url(dave.token), "main"], work);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("remote: main is protected: pushes must go through a pull request");
    expect((await remoteRefs())["refs/heads/main"]).toBe(before);

    await g.ok(["push", "-q", url(carol.token), "main"], work);
    expect((await remoteRefs())["refs/heads/main"]).toBe(next);
    const again = await commit("c.txt", "three\n");
    await g.ok(["push", "-q", url(bob.token), "main"], work);
    expect((await remoteRefs())["refs/heads/main"]).toBe(again);
  });

  it("refuses a whole push when one of its refs is refused", async () => {
    const before = await remoteRefs();
    await commit("d.txt", "four\n");
    const r = await g.run(["push", url(dave.token), "main", "main:side"], work);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("remote: main is protected");
    expect(await remoteRefs()).toEqual(before);
    await g.ok(["reset", "-q", "--hard", before["refs/heads/main"]!], work);
  });

  it("matches globs, the most specific rule winning, and an empty allowlist means pull requests only", async () => {
    await rule({ pattern: "release/**", block_force_push: true, push_allowlist: null });
    await rule({ pattern: "release/frozen", push_allowlist: [] });
    await g.ok(["push", "-q", url(bob.token), "main:release/1.0"], work);
    await commit("r.txt", "release\n");
    await g.ok(["push", "-q", url(bob.token), "HEAD:release/1.0"], work);
    await g.ok(["reset", "-q", "--hard", "HEAD~1"], work);
    const forced = await g.run(["push", "--force", url(bob.token), "HEAD:release/1.0"], work);
    expect(forced.stderr).toContain("remote: release/1.0 is protected: force-pushes are not allowed");

    const frozen = await g.run(["push", url(bob.token), "main:release/frozen"], work);
    expect(frozen.stderr).toContain(
      "remote: release/frozen is protected: pushes must go through a pull request",
    );
    expect((await remoteRefs())["refs/heads/release/frozen"]).toBeUndefined();
  });

  it("refuses hostile rules with 4xx and stores nothing", async () => {
    const list = async () =>
      (await admin.api("GET", `/api/repos/admin/${REPO}/branch-protections`)).body.length;
    const count = await list();
    for (const pattern of ["--upload-pack", "-x", "../main", "a b", "ma\nin", "x:y", "main.lock"]) {
      const r = await admin.api("POST", `/api/repos/admin/${REPO}/branch-protections`, { pattern });
      expect([400, 422]).toContain(r.status);
    }
    const dup = await admin.api("POST", `/api/repos/admin/${REPO}/branch-protections`, { pattern: "main" });
    expect(dup.status).toBe(409);
    const bad = await admin.api("POST", `/api/repos/admin/${REPO}/branch-protections`, {
      pattern: "ok",
      push_allowlist: ["$(reboot)"],
    });
    expect(bad.status).toBe(422);
    expect(await list()).toBe(count);
  });

  it("lets only admins change rules; write may read them", async () => {
    expect((await bob.api("GET", `/api/repos/admin/${REPO}/branch-protections`)).status).toBe(200);
    expect(
      (await bob.api("POST", `/api/repos/admin/${REPO}/branch-protections`, { pattern: "x" })).status,
    ).toBe(403);
    expect((await bob.api("DELETE", `/api/repos/admin/${REPO}/branch-protections/${ruleId}`)).status).toBe(
      403,
    );
    expect((await admin.api("DELETE", `/api/repos/admin/${REPO}/branch-protections/${ruleId}`)).status).toBe(
      204,
    );
    // Unprotected again: dave may push main.
    await commit("e.txt", "five\n");
    await g.ok(["push", "-q", url(dave.token), "main"], work);
  });
});

describe("hostile branch names on the receive path", () => {
  it("are only compared, never run: a force-push to them is refused with their name", async () => {
    expect((await rule({ pattern: "**", block_deletion: false })) > 0).toBe(true);
    const gitDir = p.ctx.git.repos.gitDir((await p.ctx.git.repos.find("admin", REPO))!);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion is the point
    for (const branch of ["--upload-pack", "-x", "$(touch${IFS}pwned)", "`id>pwned`", "a;b|c&d"]) {
      await g.ok(["push", "-q", url(bob.token), `HEAD:refs/heads/${branch}`], work);
      const next = await commit("h.txt", `${branch}\n`);
      await g.ok(["push", "-q", url(bob.token), `HEAD:refs/heads/${branch}`], work);
      await g.ok(["reset", "-q", "--hard", "HEAD~1"], work);
      const forced = await g.run(["push", "--force", url(bob.token), `HEAD:refs/heads/${branch}`], work);
      expect(forced.code).not.toBe(0);
      expect(forced.stderr).toContain(`remote: ${branch} is protected: force-pushes are not allowed`);
      expect((await remoteRefs())[`refs/heads/${branch}`]).toBe(next);
    }
    expect(fs.existsSync(path.join(gitDir, "pwned"))).toBe(false);
  });
});

describe("a push of more ref commands than are read ahead", () => {
  // About 170 KiB of commands: more than the 64 KiB read ahead, even when the socket hands them
  // over in 64 KiB chunks.
  const many = (prefix: string) =>
    Array.from({ length: 600 }, (_, i) => `HEAD:refs/${prefix}/bulk-${"x".repeat(180)}-${i}`);

  it("refuses the branches it could not check when the repository has rules, and lets tags through", async () => {
    const branches = await g.run(["push", url(bob.token), ...many("heads")], work);
    expect(branches.code).not.toBe(0);
    expect(branches.stderr).toContain("remote: this push updates too many refs at once");
    const refs = await remoteRefs();
    expect(Object.keys(refs).filter((r) => r.includes("bulk-"))).toEqual([]);

    await g.ok(["push", "-q", url(bob.token), ...many("tags")], work);
    expect(Object.keys(await remoteRefs()).filter((r) => r.startsWith("refs/tags/bulk-"))).toHaveLength(600);
  });
});
