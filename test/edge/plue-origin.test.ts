/**
 * The edge Worker (workerd, Miniflare) in front of a real Plue server: nothing private is stored,
 * and a public blob cached `immutable` stops being served once its repository turns private.
 */
import { writeCommit } from "../../app/git/write";
import { type RunningEdge, startEdge } from "../../edge/dev";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";

const CACHE = "x-plue-edge-cache";
let p: TestPlatform;
let edge: RunningEdge;
let commit: string;
let secretCommit: string;

beforeAll(async () => {
  p = await startTestPlatform();
  const admin = { id: 1, username: "admin" };
  const repo = await p.ctx.git.repos.create(admin, { name: "shown" });
  commit = await writeCommit(p.ctx.git.repos.gitDir(repo), {
    branch: "main",
    message: "m\n",
    files: { "a.txt": "public bytes\n" },
  });
  const secret = await p.ctx.git.repos.create(admin, { name: "hidden", visibility: "private" });
  secretCommit = await writeCommit(p.ctx.git.repos.gitDir(secret), {
    branch: "main",
    message: "m\n",
    files: { "s.txt": "private bytes\n" },
  });
  edge = await startEdge({ originUrl: p.url, port: 0 }); // the defaults: revalidate after 1 s
});
afterAll(async () => {
  await edge?.close();
  await p?.close();
});

const viaEdge = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${edge.url}${path}`, { headers });

it("never stores a private blob, with a token or a browser session", async () => {
  const path = `/api/admin/hidden/blob/${secretCommit}/s.txt`;
  for (let i = 0; i < 2; i++) {
    const r = await viaEdge(path, { authorization: `Bearer ${p.token}` });
    expect([r.status, await r.text(), r.headers.get(CACHE)]).toEqual([200, "private bytes\n", "BYPASS"]);
    expect(r.headers.get("cache-control")).toBe("private, no-cache");
  }
  const session = await viaEdge(path, { cookie: "plue_session=whatever" });
  expect(session.headers.get(CACHE)).toBe("BYPASS");
  await session.text();
  // An anonymous request after the owner's finds nothing stored: the origin's 404.
  const anon = await viaEdge(path);
  expect([anon.status, anon.headers.get(CACHE)]).toEqual([404, "BYPASS"]);
  expect(await anon.text()).not.toContain("private bytes");
});

it("stops serving a cached public blob within a second of the repository turning private (PATCH)", async () => {
  const path = `/api/admin/shown/blob/${commit}/a.txt`;
  const first = await viaEdge(path);
  expect([first.status, first.headers.get(CACHE), await first.text()]).toEqual([
    200,
    "MISS",
    "public bytes\n",
  ]);
  expect(first.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
  expect((await viaEdge(path)).headers.get(CACHE)).toBe("HIT");

  const patched = await fetch(`${p.url}/api/repos/admin/shown`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${p.token}`, "content-type": "application/json" },
    body: JSON.stringify({ visibility: "private" }),
  });
  expect(patched.status).toBe(200);
  const changedAt = Date.now();
  let last: Response;
  for (;;) {
    last = await viaEdge(path);
    await last.text();
    if (last.status === 404) break;
    // The origin knows at once; the edge asks it again after REVALIDATE_AFTER_SECONDS (1 s).
    expect(Date.now() - changedAt).toBeLessThan(2000);
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(last.headers.get(CACHE)).toBe("BYPASS");
  // Dropped from the edge: the owner still reads it (privately, through the origin).
  const owner = await viaEdge(path, { authorization: `Bearer ${p.token}` });
  expect([owner.status, owner.headers.get("cache-control")]).toEqual([200, "private, no-cache"]);
  await owner.text();
  expect((await viaEdge(path)).status).toBe(404);
});
