/** Repositories per user, and per-user rate limits on repository and session creation. */
import { createApiToken, createUser } from "../../app/auth/tokens";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";

let p: TestPlatform;

beforeAll(async () => {
  p = await startTestPlatform({
    PLUE_MAX_REPOS_PER_USER: "3",
    PLUE_REPO_CREATES_PER_HOUR: "5",
    PLUE_SESSION_CREATES_PER_HOUR: "2",
  });
});
afterAll(() => p.close());

async function tokenFor(name: string): Promise<string> {
  const user = await createUser(p.ctx.db, name);
  return createApiToken(p.ctx.db, user.id, "test");
}

async function post(token: string, route: string, body: unknown) {
  const res = await fetch(`${p.url}${route}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { error?: { code: string; message: string } };
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: json };
}

describe("repositories per user (PLUE_MAX_REPOS_PER_USER=3)", () => {
  it("refuses a user's fourth repository with 403 repository_limit", async () => {
    const t = await tokenFor("carol");
    for (const name of ["a", "b", "c"]) expect((await post(t, "/api/repos", { name })).status).toBe(201);
    const fourth = await post(t, "/api/repos", { name: "d" });
    expect(fourth).toMatchObject({ status: 403, body: { error: { code: "repository_limit" } } });
    expect(fourth.body.error!.message).toContain("PLUE_MAX_REPOS_PER_USER");
    expect(await p.ctx.git.repos.find("carol", "d")).toBeUndefined();
  });

  it("holds when creations race", async () => {
    const t = await tokenFor("dave");
    const results = await Promise.all(
      ["r1", "r2", "r3", "r4", "r5"].map((name) => post(t, "/api/repos", { name })),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(3);
    expect(results.filter((r) => r.status === 403)).toHaveLength(2);
    const owned = await p.ctx.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM repositories WHERE owner = 'dave'",
    );
    expect(owned.rows[0]!.n).toBe(3);
  });

  it("does not limit admins", async () => {
    for (const name of ["x1", "x2", "x3", "x4", "x5", "x6"])
      expect((await post(p.token, "/api/repos", { name })).status).toBe(201);
  });
});

describe("rate limits", () => {
  it("answers the sixth repository creation in an hour with 429 and Retry-After", async () => {
    const t = await tokenFor("erin");
    // Attempts count, whatever their outcome.
    for (let i = 0; i < 5; i++) expect((await post(t, "/api/repos", { name: "bad..name" })).status).toBe(400);
    const limited = await post(t, "/api/repos", { name: "fine" });
    expect(limited).toMatchObject({ status: 429, body: { error: { code: "rate_limited" } } });
    expect(limited.body.error!.message).toContain("PLUE_REPO_CREATES_PER_HOUR");
    const retry = Number(limited.retryAfter);
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(3600);
    // Another user has their own allowance.
    expect((await post(await tokenFor("frank"), "/api/repos", { name: "fine" })).status).toBe(201);
  });

  it("limits session creation per user", async () => {
    const t = await tokenFor("grace");
    expect((await post(t, "/api/sessions", {})).status).toBe(201);
    expect((await post(t, "/api/sessions", {})).status).toBe(201);
    const limited = await post(t, "/api/sessions", {});
    expect(limited).toMatchObject({ status: 429, body: { error: { code: "rate_limited" } } });
    expect(Number(limited.retryAfter)).toBeGreaterThanOrEqual(1);
    expect((await post(await tokenFor("heidi"), "/api/sessions", {})).status).toBe(201);
  });
});
