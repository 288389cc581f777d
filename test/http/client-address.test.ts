/**
 * The client address (`req.ip`: what sign-in limits count per client and what the audit log keeps)
 * comes from X-Forwarded-For only through the proxies PLUE_TRUST_PROXY names, and a bad value stops
 * the server at start, naming the variable.
 */
import { loadConfig } from "../../app/config";
import type { AuditPage } from "../../app/wire/accounts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";

/** The address the audit log recorded for a failed sign-in sent with X-Forwarded-For. */
async function recordedAddress(p: TestPlatform): Promise<string | null> {
  const res = await fetch(`${p.url}/api/session`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": "203.0.113.9" },
    body: JSON.stringify({ username: "nobody", password: "not the password at all" }),
  });
  expect(res.status).toBe(401);
  const audit = await fetch(`${p.url}/api/admin/audit?action=signin.failed`, {
    headers: { authorization: `Bearer ${p.token}` },
  });
  const page = (await audit.json()) as AuditPage;
  return page.entries[0]!.ip;
}

it("by default believes a proxy on loopback (plue dev's edge), and only the one named otherwise", async () => {
  const local = await startTestPlatform();
  try {
    expect(await recordedAddress(local)).toBe("203.0.113.9");
  } finally {
    await local.close();
  }
  const behindLb = await startTestPlatform({ PLUE_TRUST_PROXY: "10.0.0.0/8" });
  try {
    // This client is on loopback, not in 10.0.0.0/8: its header is a claim, not a fact.
    expect(await recordedAddress(behindLb)).toMatch(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
  } finally {
    await behindLb.close();
  }
});

it("parses hop counts and address lists, and names a bad value", () => {
  expect(loadConfig({}).PLUE_TRUST_PROXY).toEqual(["loopback"]);
  expect(loadConfig({ PLUE_TRUST_PROXY: "1" }).PLUE_TRUST_PROXY).toBe(1);
  expect(loadConfig({ PLUE_TRUST_PROXY: "loopback, 35.191.0.0/16,::1" }).PLUE_TRUST_PROXY).toEqual([
    "loopback",
    "35.191.0.0/16",
    "::1",
  ]);
  for (const bad of ["nope", "10.0.0.0/33", "1.2.3.4/x", "", "loopback/8"]) {
    expect(() => loadConfig({ PLUE_TRUST_PROXY: bad })).toThrow(/PLUE_TRUST_PROXY/);
  }
});
