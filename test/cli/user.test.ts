/** `plue user` against a real server: each command, the token discovery, and the failures' exit codes. */
import { user } from "../../app/cli/user";
import { call } from "../helpers/accounts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";

let p: TestPlatform;

beforeAll(async () => {
  p = await startTestPlatform();
});
afterAll(() => p.close());

/** Runs `plue user …` with PLUE_URL and PLUE_TOKEN (or other env), capturing its output. */
async function plue(argv: string[], env: NodeJS.ProcessEnv = { PLUE_URL: p.url, PLUE_TOKEN: p.token }) {
  let out = "";
  let err = "";
  const io = {
    out: (s: string) => {
      out += s;
    },
    err: (s: string) => {
      err += s;
    },
  };
  const code = await user(argv, io, env);
  return { code, out, err };
}

describe("plue user", () => {
  it("adds a user and prints the one-time password link", async () => {
    const r = await plue(["add", "alice", "--email", "alice@example.com"]);
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(r.out).toContain("created user alice");
    expect(r.out).toMatch(
      new RegExp(`set a password \\(one use, 24 hours\\): ${p.url}/password\\?token=plinv_`),
    );
    const admin = await plue(["add", "root2", "--admin"]);
    expect(admin.out).toContain("created admin root2");
  });

  it("lists users, finding the server and token from PLUE_DATA_DIR's admin-token", async () => {
    const r = await plue(["list"], { PLUE_URL: `${p.url}/`, PLUE_DATA_DIR: p.dataDir });
    expect(r.code).toBe(0);
    const lines = r.out.trim().split("\n");
    expect(lines.find((l) => l.startsWith("alice"))).toMatch(
      /^alice\s+user\s+active\s+no password\s+alice@example\.com$/,
    );
    expect(lines.find((l) => l.startsWith("root2"))).toMatch(/^root2\s+admin\s+active/);
  });

  it("makes a scoped, expiring token that works, and prints it once on stdout", async () => {
    const r = await plue(["token", "alice", "--scopes", "repo:read,user", "--expires", "30d"]);
    expect(r.code).toBe(0);
    const token = r.out.trim();
    expect(token).toMatch(/^plue_/);
    expect(r.err).toMatch(/for alice \(repo:read, user\), expires 20\d\d-/);
    const me = await call(p.url, token, "GET", "/api/user");
    expect(me.body).toMatchObject({ username: "alice", scopes: ["repo:read", "user"] });
    const bad = await plue(["token", "alice", "--scopes", "admin"]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/422: only a site admin/);
    expect((await plue(["token", "alice", "--scopes", "repo:read", "--expires", "soon"])).code).toBe(2);
  });

  it("suspends and unsuspends", async () => {
    const t = (await plue(["token", "alice", "--scopes", "repo:read"])).out.trim();
    const s = await plue(["suspend", "alice"]);
    expect(s).toMatchObject({ code: 0 });
    expect(s.out).toContain("suspended alice");
    expect((await call(p.url, t, "GET", "/api/user")).status).toBe(401);
    expect((await plue(["list"])).out).toMatch(/alice\s+user\s+suspended/);
    expect((await plue(["unsuspend", "alice"])).out).toContain("unsuspended alice");
    expect((await call(p.url, t, "GET", "/api/user")).status).toBe(200);
    const nobody = await plue(["suspend", "nobody"]);
    expect(nobody.code).toBe(1);
    expect(nobody.err).toContain("404");
  });

  it("prints a single-use invite link", async () => {
    const r = await plue(["invite"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`${p.url}/signup\\?invite=plinv_`));
  });

  it("explains bad usage, a missing token and a refused one", async () => {
    for (const argv of [
      [],
      ["frobnicate"],
      ["add"],
      ["add", "a", "b"],
      ["add", "x", "--bogus"],
      ["list", "x"],
    ]) {
      const r = await plue(argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
      expect(r.err).toContain("usage:");
    }
    const none = await plue(["list"], { PLUE_URL: p.url, PLUE_DATA_DIR: "/nonexistent" });
    expect(none.code).toBe(2);
    expect(none.err).toContain("no token");
    const wrong = await plue(["list"], { PLUE_URL: p.url, PLUE_TOKEN: "plue_wrong" });
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain("401");
    const taken = await plue(["add", "ALICE"]);
    expect(taken.code).toBe(1);
    expect(taken.err).toContain("409");
  });
});
