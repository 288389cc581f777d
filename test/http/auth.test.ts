import { AuthChanges } from "../../app/auth/changes";
import {
  createApiToken,
  createUser,
  hashToken,
  TokenAuth,
  userForToken,
  usernameFits,
} from "../../app/auth/tokens";
import { AppError } from "../../app/errors";
import { MalformedAuthorization, parseAuthorization, tokenFrom } from "../../app/http/auth";
import { openTestDb } from "../helpers/db";

describe("API tokens", () => {
  let db: Awaited<ReturnType<typeof openTestDb>>;
  beforeAll(async () => {
    db = await openTestDb();
  });
  afterAll(() => db.close());

  it("stores only the hash and finds the user by it", async () => {
    const u = await createUser(db, "alice");
    const token = await createApiToken(db, u.id, "laptop");
    const stored = await db.query<{ token_hash: Buffer }>(
      "SELECT token_hash FROM api_tokens WHERE user_id = $1",
      [u.id],
    );
    expect(Buffer.from(stored.rows[0]!.token_hash)).toEqual(hashToken(token));
    const all = JSON.stringify(
      (await db.query("SELECT * FROM api_tokens")).rows.map((r) => ({ ...r, token_hash: undefined })),
    );
    expect(all).not.toContain(token);
    expect(await userForToken(db, token)).toMatchObject({ id: u.id, username: "alice" });
  });

  it("rejects unknown, malformed and revoked tokens", async () => {
    const u = await createUser(db, "bob");
    const token = await createApiToken(db, u.id, "ci");
    expect(await userForToken(db, `${token}x`)).toBeUndefined();
    expect(await userForToken(db, "not-a-plue-token")).toBeUndefined();
    await db.query("UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1", [u.id]);
    expect(await userForToken(db, token)).toBeUndefined();
  });

  it("carries scopes and expiry, and refuses expired tokens and suspended users' tokens", async () => {
    const u = await createUser(db, "carol");
    const scoped = await createApiToken(db, u.id, "ci", { scopes: ["repo:read"] });
    expect(await userForToken(db, scoped)).toMatchObject({
      username: "carol",
      scopes: ["repo:read"],
      via: "token",
    });
    const all = await createApiToken(db, u.id, "all");
    expect((await userForToken(db, all))?.scopes).toBeUndefined();
    const past = await createApiToken(db, u.id, "old", { expiresAt: new Date(Date.now() - 1000) });
    expect(await userForToken(db, past)).toBeUndefined();
    await db.query("UPDATE users SET suspended_at = now() WHERE id = $1", [u.id]);
    expect(await userForToken(db, scoped)).toBeUndefined();
  });

  it("TokenAuth caches a lookup until its token or user changes", async () => {
    const changes = new AuthChanges(db);
    const tokens = new TokenAuth(db, changes);
    try {
      const u = await createUser(db, "dora");
      const token = await createApiToken(db, u.id, "x");
      expect(await tokens.user(token)).toMatchObject({ username: "dora" });
      await db.query("UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1", [u.id]);
      expect(await tokens.user(token)).toMatchObject({ username: "dora" }); // still cached
      await changes.changed(`user:${u.id}`);
      expect(await tokens.user(token)).toBeUndefined();
      const second = await createApiToken(db, u.id, "y");
      expect(await tokens.user(second, "DORA")).toMatchObject({ username: "dora" });
      expect(await tokens.user(second, "x-access-token")).toBeDefined();
      expect(await tokens.user(second, "mallory")).toBeUndefined();
      expect(await tokens.user("not-a-token")).toBeUndefined();
    } finally {
      await changes.close();
    }
  });

  it("a Basic username fits the owner's name, a placeholder, or nothing", () => {
    for (const name of [undefined, "", "alice", "Alice", "x-access-token", "OAuth2", "token", "git"]) {
      expect({ name, fits: usernameFits(name, "alice") }).toEqual({ name, fits: true });
    }
    for (const name of ["bob", "x", "alice ", "admin"]) {
      expect({ name, fits: usernameFits(name, "alice") }).toEqual({ name, fits: false });
    }
  });

  it("reads tokens from Bearer and from the password of Basic", () => {
    expect(tokenFrom("Bearer plue_abc")).toBe("plue_abc");
    expect(tokenFrom("bearer plue_abc")).toBe("plue_abc");
    expect(tokenFrom(`Basic ${Buffer.from("me:plue_xyz").toString("base64")}`, { basic: true })).toBe(
      "plue_xyz",
    );
    expect(parseAuthorization(`Basic ${Buffer.from("me:a:b").toString("base64")}`, { basic: true })).toEqual({
      scheme: "basic",
      token: "a:b",
      username: "me",
    });
    expect(parseAuthorization(`Basic ${Buffer.from(":tok").toString("base64")}`, { basic: true })).toEqual({
      scheme: "basic",
      token: "tok",
      username: "",
    });
    expect(parseAuthorization("Bearer plue_abc")).toEqual({ scheme: "bearer", token: "plue_abc" });
    expect(tokenFrom("Bearer pool!secret#with$symbols")).toBe("pool!secret#with$symbols");
    expect(tokenFrom(undefined)).toBeUndefined();
  });

  it("throws for every header that is present but unusable, without quoting it", () => {
    const basic = (s: string) => `Basic ${Buffer.from(s).toString("base64")}`;
    for (const header of [
      "",
      "Bearer",
      "Bearer ",
      "Bearer  plue_abc",
      "Bearer\tplue_abc",
      "Bearer plue_abc extra",
      "Bearer plue_\u00e9",
      "Digest abc",
      "Token plue_abc",
      "Basic bm9jb2xvbg==", // "nocolon"
      basic("me:"),
      "Basic bm9jb2xvbg", // unpadded
      "Basic !!!!",
      `Basic ${Buffer.from([0x61, 0x3a, 0xc3, 0x28]).toString("base64")}`, // "a:" + invalid UTF-8
      `Bearer ${"x".repeat(5000)}`,
    ]) {
      expect(() => parseAuthorization(header, { basic: true })).toThrow(MalformedAuthorization);
      const err = (() => {
        try {
          tokenFrom(header, { basic: true });
        } catch (e) {
          return e as AppError;
        }
      })();
      expect(err).toBeInstanceOf(AppError);
      expect(err!.status).toBe(401);
      expect(err!.headers["WWW-Authenticate"]).toMatch(/^Bearer /);
      if (header.length > 8) expect(err!.message).not.toContain(header.slice(7));
    }
    // Basic where only Bearer is accepted (runner and pool routes, /metrics).
    expect(() => parseAuthorization(basic("me:plue_xyz"))).toThrow(/unsupported Authorization scheme/);
  });

  it("a route's own challenge replaces the default", () => {
    const challenge = (m: string) =>
      new AppError(401, "unauthorized", m, {}, { "WWW-Authenticate": "Basic" });
    expect(() => tokenFrom("Bearer  x", { challenge })).toThrow(
      expect.objectContaining({ headers: { "WWW-Authenticate": "Basic" } }),
    );
  });
});
