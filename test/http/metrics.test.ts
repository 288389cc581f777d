/**
 * `/metrics` is for operators: without PLUE_METRICS_TOKEN only a client on this machine that
 * connected directly (judged from the socket, never from X-Forwarded-For, and refused when any
 * forwarding header shows a proxy in between); with it, only a scraper showing that token.
 */
import { isLoopback, metricsAccess } from "../../app/metrics";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";

const TOKEN = "scrape-token-0123456789";
let open: TestPlatform;
let scraped: TestPlatform;

beforeAll(async () => {
  [open, scraped] = await Promise.all([
    startTestPlatform(),
    startTestPlatform({ PLUE_METRICS_TOKEN: TOKEN }),
  ]);
});
afterAll(() => Promise.all([open?.close(), scraped?.close()]));

const get = (p: TestPlatform, headers: Record<string, string> = {}, path = "/metrics") =>
  fetch(`${p.url}${path}`, { headers });

describe("without a scrape token", () => {
  it("serves a direct loopback client", async () => {
    const r = await get(open);
    expect(r.status).toBe(200);
    expect(r.headers.get("cache-control")).toBe("no-store");
    expect(await r.text()).toContain("plue_http_request_duration_seconds");
  });

  it.each([
    ["X-Forwarded-For from elsewhere", { "x-forwarded-for": "203.0.113.7" }],
    ["X-Forwarded-For claiming loopback", { "x-forwarded-for": "127.0.0.1" }],
    ["Forwarded", { forwarded: "for=127.0.0.1" }],
    ["X-Forwarded-Host (the edge Worker)", { "x-forwarded-host": "plue.dev" }],
    ["X-Real-IP", { "x-real-ip": "127.0.0.1" }],
    ["CF-Connecting-IP", { "cf-connecting-ip": "198.51.100.1" }],
  ])("refuses a request that came through a proxy (%s)", async (_what, headers) => {
    const r = await get(open, headers);
    expect(r.status).toBe(403);
    expect((await r.json()).error.message).toContain("PLUE_METRICS_TOKEN");
  });

  it("gates every spelling Express routes to the handler", async () => {
    for (const path of ["/metrics", "/METRICS", "/metrics/"]) {
      expect((await get(open, { "x-forwarded-for": "203.0.113.7" }, path)).status).toBe(403);
      expect((await get(open, {}, path)).status).toBe(200);
    }
  });

  it("judges the socket's address, not what a header claims", () => {
    const headers = {};
    for (const address of ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"]) {
      expect(isLoopback(address)).toBe(true);
      expect(metricsAccess({ socket: { remoteAddress: address }, headers }, undefined, undefined)).toBe(
        "allowed",
      );
    }
    for (const address of ["10.0.0.5", "::ffff:10.0.0.5", "128.0.0.1", "fe80::1", "", undefined]) {
      expect(isLoopback(address)).toBe(false);
      expect(metricsAccess({ socket: { remoteAddress: address }, headers }, undefined, undefined)).toBe(
        "forbidden",
      );
    }
  });
});

describe("with PLUE_METRICS_TOKEN", () => {
  it("serves only the bearer of the token, from anywhere", async () => {
    const ok = await get(scraped, { authorization: `Bearer ${TOKEN}`, "x-forwarded-for": "203.0.113.7" });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("process_cpu_seconds_total");
  });

  it.each([
    ["no token (even from loopback)", {}],
    ["a wrong token", { authorization: `Bearer ${TOKEN}x` }],
    ["a prefix of the token", { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
    [
      "the token as Basic password",
      { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString("base64")}` },
    ],
    ["an API token", { authorization: "Bearer plue_not-the-scrape-token" }],
  ])("answers 401 with a challenge to %s", async (_what, headers) => {
    const r = await get(scraped, headers);
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer /);
    expect(await r.text()).not.toContain("process_cpu_seconds_total");
  });

  it("compares the whole token", () => {
    const req = { socket: { remoteAddress: "10.0.0.5" }, headers: {} };
    expect(metricsAccess(req, TOKEN, TOKEN)).toBe("allowed");
    expect(metricsAccess(req, TOKEN, "")).toBe("unauthorized");
    expect(metricsAccess(req, TOKEN, `${TOKEN} `)).toBe("unauthorized");
    expect(metricsAccess(req, TOKEN, undefined)).toBe("unauthorized");
  });
});
