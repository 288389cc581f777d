/**
 * Authenticated blob/tree reads on the fast path (app/http/fast-files.ts) against a real server:
 * the same answers as Express, and every refusal still Express's (401, 404).
 */
import { createApiToken, createUser } from "../../app/auth/tokens";
import { writeCommit } from "../../app/git/write";
import { call, createAccount } from "../helpers/accounts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";

let p: TestPlatform;
let pub: string;
let priv: string;
let eveToken: string;
let eveId: number;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const basic = (user: string, token: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${token}`).toString("base64")}`,
});
const get = (path: string, headers: Record<string, string> = {}) => fetch(`${p.url}${path}`, { headers });
/** Express stamps every answer with X-Request-Id; the fast path does not. */
const viaExpress = (r: Response) => r.headers.has("x-request-id");

beforeAll(async () => {
  p = await startTestPlatform();
  const admin = { id: 1, username: "admin" };
  const files = { "README.md": "# hello\n", "src/a.txt": "secret a\n" };
  const publicRepo = await p.ctx.git.repos.create(admin, { name: "pub" });
  pub = await writeCommit(p.ctx.git.repos.gitDir(publicRepo), { branch: "main", message: "p\n", files });
  const privateRepo = await p.ctx.git.repos.create(admin, { name: "priv", visibility: "private" });
  priv = await writeCommit(p.ctx.git.repos.gitDir(privateRepo), { branch: "main", message: "s\n", files });
  const eve = await createUser(p.ctx.db, "eve");
  eveId = eve.id;
  eveToken = await createApiToken(p.ctx.db, eve.id, "eve's");
});
afterAll(() => p.close());

describe("authenticated reads on the fast path", () => {
  it("serves the owner's private blob and tree without Express, privately cached", async () => {
    const blob = await get(`/api/admin/priv/blob/${priv}/src/a.txt`, bearer(p.token));
    expect([blob.status, await blob.text(), viaExpress(blob)]).toEqual([200, "secret a\n", false]);
    expect(blob.headers.get("cache-control")).toBe("private, no-cache");
    expect(blob.headers.get("etag")).toMatch(/^"[0-9a-f]{40}"$/);
    const tree = await get(`/api/admin/priv/tree/${priv}/src`, bearer(p.token));
    expect([tree.status, viaExpress(tree)]).toEqual([200, false]);
    expect(tree.headers.get("cache-control")).toBe("private, no-cache");
    expect((await tree.json()).map((e: { name: string }) => e.name)).toEqual(["a.txt"]);
  });

  it("revalidates a private blob with a 304, still without Express", async () => {
    const first = await get(`/api/admin/priv/blob/${priv}/README.md`, bearer(p.token));
    const etag = first.headers.get("etag")!;
    const again = await get(`/api/admin/priv/blob/${priv}/README.md`, {
      ...bearer(p.token),
      "if-none-match": etag,
    });
    expect([again.status, viaExpress(again), again.headers.get("etag")]).toEqual([304, false, etag]);
    expect(again.headers.get("cache-control")).toBe("private, no-cache");
  });

  it("takes git's Basic form (token as password) too", async () => {
    const r = await get(`/api/admin/priv/blob/${priv}/README.md`, basic("admin", p.token));
    expect([r.status, await r.text(), viaExpress(r)]).toEqual([200, "# hello\n", false]);
  });

  it("401s git's Basic form when the username is another user's", async () => {
    const r = await get(`/api/admin/priv/blob/${priv}/README.md`, basic("eve", p.token));
    expect([r.status, viaExpress(r)]).toEqual([401, true]);
  });

  it("answers exactly as Express does for the same caller", async () => {
    // A cookie sends a request through Express; an unrelated one authenticates nobody.
    const keep = ["content-type", "content-length", "cache-control", "etag", "x-content-type-options"];
    for (const path of [
      `/api/admin/priv/blob/${priv}/src/a.txt`,
      `/api/admin/priv/tree/${priv}`,
      `/api/admin/pub/blob/${pub}/README.md`,
      `/api/admin/priv/blob/${priv}/missing.txt`,
    ]) {
      const fast = await get(path, bearer(p.token));
      const slow = await get(path, { ...bearer(p.token), cookie: "theme=dark" });
      expect(viaExpress(slow)).toBe(true);
      expect([path, fast.status]).toEqual([path, slow.status]);
      expect(await fast.text()).toBe(await slow.text());
      for (const h of keep) expect([h, fast.headers.get(h)]).toEqual([h, slow.headers.get(h)]);
    }
  });

  it("hides a private repository from a user without read, exactly like a missing one", async () => {
    const [theirs, missing, anon] = await Promise.all([
      get(`/api/admin/priv/blob/${priv}/README.md`, bearer(eveToken)),
      get(`/api/admin/nope/blob/${priv}/README.md`, bearer(eveToken)),
      get(`/api/admin/priv/blob/${priv}/README.md`),
    ]);
    expect([theirs.status, missing.status, anon.status]).toEqual([404, 404, 404]);
    const [a, b] = [await theirs.json(), await missing.json()];
    expect(a.error.message.replace("priv", "nope")).toBe(b.error.message);
    expect(theirs.headers.get("cache-control")).toBeNull();
    expect(theirs.headers.get("etag") ?? "").not.toMatch(/^"[0-9a-f]{40}"$/);
  });

  it.each([
    ["an unknown token", "Bearer plue_not-a-real-token"],
    ["a token without the prefix", "Bearer abc"],
    ["a malformed header", "Bearer  two spaces"],
    ["an unknown scheme", `Token ${"x".repeat(10)}`],
    ["Basic without a password", `Basic ${Buffer.from("admin:").toString("base64")}`],
  ])("401s %s, even on a public blob, never serving it anonymously", async (_what, authorization) => {
    const r = await get(`/api/admin/pub/blob/${pub}/README.md`, { authorization });
    expect(r.status).toBe(401);
    expect(viaExpress(r)).toBe(true);
    expect((await r.json()).error.code).toBe("unauthorized");
  });

  it("serves a read collaborator on the fast path, 404s them at once when removed", async () => {
    const reader = await createAccount(p, { scopes: ["repo:read"] });
    const path = `/api/admin/priv/blob/${priv}/src/a.txt`;
    const share = (method: string) =>
      call(p.url, p.token, method, `/api/repos/admin/priv/collaborators/${reader.user.username}`, {
        permission: "read",
      });
    expect((await get(path, bearer(reader.token))).status).toBe(404);
    expect((await share("PUT")).status).toBeLessThan(300);
    for (let i = 0; i < 2; i++) {
      const r = await get(path, bearer(reader.token));
      expect([r.status, await r.text(), viaExpress(r)]).toEqual([200, "secret a\n", false]);
      expect(r.headers.get("cache-control")).toBe("private, no-cache");
    }
    expect((await share("DELETE")).status).toBeLessThan(300);
    const after = await get(path, bearer(reader.token));
    expect([after.status, viaExpress(after)]).toEqual([404, true]);
  });

  it("403s a token without repo:read on a private repository, naming the scope", async () => {
    const narrow = await createAccount(p, { scopes: ["user"] });
    const share = await call(
      p.url,
      p.token,
      "PUT",
      `/api/repos/admin/priv/collaborators/${narrow.user.username}`,
      { permission: "write" },
    );
    expect(share.status).toBeLessThan(300);
    const r = await get(`/api/admin/priv/blob/${priv}/README.md`, bearer(narrow.token));
    expect([r.status, viaExpress(r)]).toEqual([403, true]);
    expect((await r.json()).error.message).toContain("repo:read");
    // A public repository needs no scope: anonymous callers read it too.
    expect((await get(`/api/admin/pub/blob/${pub}/README.md`, bearer(narrow.token))).status).toBe(200);
  });

  it("404s a private repository made so through the API at once, even to a cached reader of it", async () => {
    const path = `/api/admin/pub/blob/${pub}/README.md`;
    const eve = bearer(eveToken);
    expect((await get(path, eve)).status).toBe(200);
    expect(
      (await call(p.url, p.token, "PATCH", "/api/repos/admin/pub", { visibility: "private" })).status,
    ).toBe(200);
    try {
      const r = await get(path, eve);
      expect([r.status, viaExpress(r)]).toEqual([404, true]);
      expect((await get(path)).status).toBe(404);
    } finally {
      await call(p.url, p.token, "PATCH", "/api/repos/admin/pub", { visibility: "public" });
    }
  });

  it("401s a token revoked through the API at once, after it was cached", async () => {
    const bob = await createAccount(p, { scopes: ["repo:read", "user"] });
    const path = `/api/admin/pub/blob/${pub}/README.md`;
    for (let i = 0; i < 2; i++) expect((await get(path, bearer(bob.token))).status).toBe(200);
    expect((await bob.api("DELETE", `/api/user/tokens/${bob.tokenId}`)).status).toBe(204);
    const after = await get(path, bearer(bob.token));
    expect([after.status, viaExpress(after)]).toEqual([401, true]);
  });

  it("401s the cached token of a user suspended through the API at once", async () => {
    const carol = await createAccount(p, { scopes: ["repo:read"] });
    const path = `/api/admin/pub/tree/${pub}`;
    expect((await get(path, bearer(carol.token))).status).toBe(200);
    const r = await call(p.url, p.token, "POST", `/api/admin/users/${carol.user.username}/suspend`);
    expect(r.status).toBe(200);
    const after = await get(path, bearer(carol.token));
    expect([after.status, viaExpress(after)]).toEqual([401, true]);
  });

  it("401s a cached token once it expires", async () => {
    const dave = await createAccount(p, {
      scopes: ["repo:read"],
      expiresAt: new Date(Date.now() + 3000).toISOString(),
    });
    const path = `/api/admin/pub/blob/${pub}/README.md`;
    expect((await get(path, bearer(dave.token))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 3100));
    expect((await get(path, bearer(dave.token))).status).toBe(401);
  });

  it("401s a token revoked in the database once the change is announced", async () => {
    const token = await createApiToken(p.ctx.db, eveId, "soon revoked");
    const path = `/api/admin/pub/blob/${pub}/README.md`;
    expect((await get(path, bearer(token))).status).toBe(200);
    const r = await p.ctx.db.query<{ id: number }>(
      "UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND name = 'soon revoked' RETURNING id::int AS id",
      [eveId],
    );
    await p.ctx.auth.changed(`token:${r.rows[0]!.id}`);
    const after = await get(path, bearer(token));
    expect([after.status, viaExpress(after)]).toEqual([401, true]);
  });
});
