import { startTestPlatform, type TestPlatform } from "../helpers/platform";

describe("HTTP skeleton", () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startTestPlatform({ PLUE_MAX_BODY: "1kb" });
  });
  afterAll(() => p.close());

  it("health checks the database", async () => {
    const r = await fetch(`${p.url}/api/health`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ status: "ok" });
  });

  it("unknown routes are a JSON 404", async () => {
    const r = await fetch(`${p.url}/api/no/such/route`);
    expect(r.status).toBe(404);
    expect(await r.json()).toEqual({
      error: { code: "not_found", message: "no route for GET /api/no/such/route" },
    });
  });

  it("malformed JSON is a 400 that says so", async () => {
    const r = await fetch(`${p.url}/api/anything`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    expect(r.status).toBe(400);
    expect((await r.json()).error.code).toBe("malformed_json");
  });

  it("an oversized body is a 413", async () => {
    const r = await fetch(`${p.url}/api/anything`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ x: "y".repeat(4096) }),
    });
    expect(r.status).toBe(413);
    expect((await r.json()).error.code).toBe("payload_too_large");
  });

  it("a wrong token is a 401, a right one is accepted", async () => {
    const wrong = await fetch(`${p.url}/api/health`, { headers: { authorization: "Bearer plue_nope" } });
    expect(wrong.status).toBe(200); // health is mounted before auth: probes carry no token
    const bad = await fetch(`${p.url}/api/x`, { headers: { authorization: "Bearer plue_nope" } });
    expect(bad.status).toBe(401);
    expect(bad.headers.get("www-authenticate")).toContain("Bearer");
    const good = await fetch(`${p.url}/api/x`, { headers: { authorization: `Bearer ${p.token}` } });
    expect(good.status).toBe(404); // authenticated, then no such route
  });

  it("serves Prometheus metrics", async () => {
    const r = await fetch(`${p.url}/metrics`);
    expect(r.status).toBe(200);
    expect(await r.text()).toContain("plue_http_request_duration_seconds");
  });

  it("echoes a sane request id and invents one otherwise", async () => {
    const r = await fetch(`${p.url}/api/health`, { headers: { "x-request-id": "abc-123" } });
    expect(r.headers.get("x-request-id")).toBe("abc-123");
    const r2 = await fetch(`${p.url}/api/health`, { headers: { "x-request-id": "bad id with spaces" } });
    expect(r2.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});
