/** `DELETE /api/repos/:owner/:repo`: who may, what goes with it, and that a new repository of the same name starts clean. */
import fs from "node:fs";
import { createApiToken, createUser } from "../../app/auth/tokens";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";
import { cloneUrl, createRepo, GitClient } from "./client";

let p: TestPlatform;
const g = new GitClient();
let eveToken: string;

beforeAll(async () => {
  p = await startTestPlatform();
  eveToken = await createApiToken(p.ctx.db, (await createUser(p.ctx.db, "eve")).id, "t");
});
afterAll(async () => {
  await p.close();
  g.cleanup();
});

const call = (method: string, path: string, token: string | null = p.token) =>
  fetch(`${p.url}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

async function pushed(name: string, files: Record<string, string>, visibility?: "private"): Promise<string> {
  await createRepo(p.url, p.token, { name, visibility });
  const dir = await g.repoWith(`${name}-${Date.now()}`, files);
  await g.ok(["push", "-q", cloneUrl(p.url, "admin", name, p.token), "main"], dir);
  return g.ok(["rev-parse", "HEAD"], dir);
}

it("deletes the repository, its directory and what was served from it; the name can be used again", async () => {
  const commit = await pushed("gone", { "secret.txt": "old content\n" });
  const blob = `/api/admin/gone/blob/${commit}/secret.txt`;
  expect(await (await call("GET", blob, null)).text()).toBe("old content\n"); // now also in memory
  const gitDir = p.ctx.git.repos.gitDir({ owner: "admin", name: "gone" });
  expect(p.ctx.git.pool.stats().pids[gitDir]?.length).toBeGreaterThan(0);

  expect((await call("DELETE", "/api/repos/admin/gone")).status).toBe(204);
  expect(fs.existsSync(gitDir)).toBe(false);
  expect(p.ctx.git.pool.stats().pids[gitDir]).toBeUndefined();
  expect((await call("GET", "/api/repos/admin/gone")).status).toBe(404);
  expect((await call("GET", blob, null)).status).toBe(404);
  expect((await g.run(["ls-remote", cloneUrl(p.url, "admin", "gone", p.token)])).code).not.toBe(0);

  // A new repository under the old name knows nothing of the old one's objects.
  await pushed("gone", { "other.txt": "new\n" });
  expect((await call("GET", blob, null)).status).toBe(404);
  expect((await call("DELETE", "/api/repos/admin/gone")).status).toBe(204);
});

it("is for the owner or an admin; others get 403 (public) or 404 (private); missing is 404", async () => {
  await pushed("kept", { "a.txt": "a\n" });
  await pushed("hidden", { "a.txt": "a\n" }, "private");
  const refused = await call("DELETE", "/api/repos/admin/kept", eveToken);
  expect([refused.status, (await refused.json()).error.code]).toEqual([403, "forbidden"]);
  expect((await call("DELETE", "/api/repos/admin/hidden", eveToken)).status).toBe(404);
  expect((await call("DELETE", "/api/repos/admin/kept", null)).status).toBe(401);
  expect((await call("DELETE", "/api/repos/admin/nothing-here")).status).toBe(404);
  expect((await call("GET", "/api/repos/admin/kept")).status).toBe(200);
});

it("refuses while a workflow run of the repository is queued or running", async () => {
  await pushed("busy", { "a.txt": "a\n" });
  const repo = (await p.ctx.git.repos.find("admin", "busy"))!;
  await p.ctx.db.query(
    `INSERT INTO workflow_runs (id, repo_id, workflow_name, trigger_event, status)
     VALUES ($1, $2, 'ci', 'push', 'running')`,
    [crypto.randomUUID(), repo.id],
  );
  const r = await call("DELETE", "/api/repos/admin/busy");
  expect([r.status, (await r.json()).error.code]).toEqual([409, "runs_in_progress"]);
  await p.ctx.db.query("UPDATE workflow_runs SET status = 'cancelled' WHERE repo_id = $1", [repo.id]);
  expect((await call("DELETE", "/api/repos/admin/busy")).status).toBe(204);
  expect((await p.ctx.db.query("SELECT 1 FROM workflow_runs WHERE repo_id = $1", [repo.id])).rowCount).toBe(
    0,
  );
});
