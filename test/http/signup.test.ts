/**
 * Creating accounts against a real server and database: the sign-up modes, invites (used, expired,
 * unknown), password-setting links, and the sign-in configuration.
 */
import { createInvite } from "../../app/auth/invites";
import { ConfigError, loadConfig } from "../../app/config";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";
import { addUser, auditOf, Browser, errorCode, PASSWORD } from "../helpers/signin";

describe("sign-up with PLUE_SIGNUP=invite, and password links", () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startTestPlatform({ PLUE_SIGNUP: "invite" });
  });
  afterAll(() => p.close());

  it("signs up only with a valid invite: a used, expired or unknown one is a 410 and creates nobody", async () => {
    const users = async () =>
      Number((await p.ctx.db.query<{ n: number }>("SELECT count(*)::int AS n FROM users")).rows[0]!.n);
    const before = await users();
    const noInvite = await new Browser(p).fetch("/api/signup", {
      method: "POST",
      json: { username: "dan", password: PASSWORD },
    });
    expect(noInvite.status).toBe(403);
    expect(await errorCode(noInvite)).toBe("invite_required");
    const unknown = await new Browser(p).fetch("/api/signup", {
      method: "POST",
      json: { username: "dan", password: PASSWORD, invite: "plinv_nope" },
    });
    expect(unknown.status).toBe(410);

    const { secret } = await createInvite(p.ctx.db, {});
    const b = new Browser(p);
    const ok = await b.fetch("/api/signup", {
      method: "POST",
      json: { username: "dan", password: PASSWORD, invite: secret },
    });
    expect(ok.status).toBe(201);
    expect(b.jar.get("plue_session")).toBeDefined();
    expect((await b.fetch("/api/session")).status).toBe(200);
    const row = await p.ctx.db.query<{ password_hash: string }>(
      "SELECT password_hash FROM users WHERE username = 'dan'",
    );
    expect(row.rows[0]!.password_hash).toMatch(/^\$argon2id\$/);
    expect((await auditOf(p, "invite.used")).map((r) => r.actor)).toContain("dan");

    const reuse = await new Browser(p).fetch("/api/signup", {
      method: "POST",
      json: { username: "dan2", password: PASSWORD, invite: secret },
    });
    expect(reuse.status).toBe(410);
    expect(await errorCode(reuse)).toBe("invite_used");
    const expired = await createInvite(p.ctx.db, { ttlMs: 1000 });
    await p.ctx.db.query("UPDATE invites SET expires_at = now() - interval '1 second' WHERE id = $1", [
      expired.invite.id,
    ]);
    const late = await new Browser(p).fetch("/api/signup", {
      method: "POST",
      json: { username: "dan3", password: PASSWORD, invite: expired.secret },
    });
    expect(late.status).toBe(410);
    expect(await errorCode(late)).toBe("invite_expired");
    const fresh = await createInvite(p.ctx.db, {});
    const taken = await new Browser(p).fetch("/api/signup", {
      method: "POST",
      json: { username: "DAN", password: PASSWORD, invite: fresh.secret },
    });
    expect(taken.status).toBe(409);
    const short = await new Browser(p).fetch("/api/signup", {
      method: "POST",
      json: { username: "erin", password: "short", invite: fresh.secret },
    });
    expect(short.status).toBe(400);
    expect(await users()).toBe(before + 1);
    // The refused attempts left the fresh invite unused.
    expect(
      (await p.ctx.db.query("SELECT used_at FROM invites WHERE id = $1", [fresh.invite.id])).rows[0],
    ).toEqual({ used_at: null });
  });

  it("sets a password from a one-time link, which signs other browsers out", async () => {
    const id = await addUser(p, "frank", null);
    expect((await new Browser(p).signIn("frank", "anything at all")).status).toBe(401);
    const { secret } = await createInvite(p.ctx.db, { userId: id });
    const b = new Browser(p);
    const set = await b.fetch("/api/password", {
      method: "POST",
      json: { token: secret, password: "a brand new password" },
    });
    expect(set.status).toBe(200);
    expect((await b.fetch("/api/session")).status).toBe(200);
    expect((await auditOf(p, "user.password_set")).map((r) => r.target)).toContain("frank");
    const other = new Browser(p);
    expect((await other.signIn("frank", "a brand new password")).status).toBe(200);
    const again = await new Browser(p).fetch("/api/password", {
      method: "POST",
      json: { token: secret, password: "yet another password" },
    });
    expect(again.status).toBe(410);
    // A sign-up invite is not a password link, nor the reverse.
    const invite = await createInvite(p.ctx.db, {});
    expect(
      (
        await new Browser(p).fetch("/api/password", {
          method: "POST",
          json: { token: invite.secret, password: "yet another password" },
        })
      ).status,
    ).toBe(410);
    expect((await other.signIn("frank", "a brand new password")).status).toBe(200);
    // A second link: setting the password again ends `other`'s session.
    expect((await other.fetch("/api/session")).status).toBe(200);
    const link = await createInvite(p.ctx.db, { userId: id });
    const reset = await new Browser(p).fetch("/api/password", {
      method: "POST",
      json: { token: link.secret, password: "the third password" },
    });
    expect(reset.status).toBe(200);
    expect((await other.fetch("/api/session")).status).toBe(401);
  });
});

describe("sign-in configuration", () => {
  it("defaults to invite sign-up without single sign-on, and refuses other modes", () => {
    const c = loadConfig({});
    expect(c.PLUE_SIGNUP).toBe("invite");
    expect(c.PLUE_OIDC_ISSUER).toBeUndefined();
    expect(() => loadConfig({ PLUE_SIGNUP: "maybe" })).toThrow(/PLUE_SIGNUP/);
  });

  it("needs the three OIDC variables together, naming the missing ones without showing the secret", () => {
    const full = {
      PLUE_OIDC_ISSUER: "https://id.example",
      PLUE_OIDC_CLIENT_ID: "plue",
      PLUE_OIDC_CLIENT_SECRET: "s3cr3t-value",
    };
    expect(loadConfig(full).PLUE_OIDC_CLIENT_ID).toBe("plue");
    let err: unknown;
    try {
      loadConfig({
        PLUE_OIDC_ISSUER: full.PLUE_OIDC_ISSUER,
        PLUE_OIDC_CLIENT_SECRET: full.PLUE_OIDC_CLIENT_SECRET,
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(
      "PLUE_OIDC_CLIENT_ID: required when PLUE_OIDC_ISSUER, PLUE_OIDC_CLIENT_SECRET are set",
    );
    expect((err as Error).message).not.toContain("s3cr3t-value");
    expect(() => loadConfig({ PLUE_OIDC_CLIENT_ID: "plue" })).toThrow(
      /PLUE_OIDC_ISSUER, PLUE_OIDC_CLIENT_SECRET: required/,
    );
  });
});

describe("sign-up modes", () => {
  it("closed: nobody signs up, even with an invite", async () => {
    const p = await startTestPlatform({ PLUE_SIGNUP: "closed" });
    try {
      const { secret } = await createInvite(p.ctx.db, {});
      const res = await new Browser(p).fetch("/api/signup", {
        method: "POST",
        json: { username: "gina", password: PASSWORD, invite: secret },
      });
      expect(res.status).toBe(403);
      expect(await errorCode(res)).toBe("signup_closed");
      expect((await p.ctx.db.query("SELECT 1 FROM users WHERE username = 'gina'")).rows).toHaveLength(0);
    } finally {
      await p.close();
    }
  });

  it("open: anyone signs up and is signed in", async () => {
    const p = await startTestPlatform({ PLUE_SIGNUP: "open" });
    try {
      const b = new Browser(p);
      const res = await b.fetch("/api/signup", {
        method: "POST",
        json: { username: "hank", password: PASSWORD },
      });
      expect(res.status).toBe(201);
      expect(
        ((await (await b.fetch("/api/session")).json()) as { user: { username: string } }).user.username,
      ).toBe("hank");
      const reserved = await new Browser(p).fetch("/api/signup", {
        method: "POST",
        json: { username: "api", password: PASSWORD },
      });
      expect(reserved.status).toBe(400);
    } finally {
      await p.close();
    }
  });
});
