import { createApiToken, createUser, hashToken, userForToken } from "../../app/auth/tokens";
import { tokenFrom } from "../../app/http/auth";
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

  it("reads tokens from Bearer and from the password of Basic", () => {
    expect(tokenFrom("Bearer plue_abc")).toBe("plue_abc");
    expect(tokenFrom(`Basic ${Buffer.from("me:plue_xyz").toString("base64")}`)).toBe("plue_xyz");
    expect(tokenFrom("Basic bm9jb2xvbg==")).toBeUndefined();
    expect(tokenFrom("Digest abc")).toBeUndefined();
    expect(tokenFrom(undefined)).toBeUndefined();
  });
});
