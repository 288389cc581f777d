/** The edge Worker in real workerd (Miniflare), in front of a real local HTTP origin. */
import http from "node:http";
import { type RunningEdge, startEdge } from "../../edge/dev";
import { CACHE_KINDS, closedPortUrl, startOrigin, type TestOrigin } from "./origin";

const CACHE = "x-plue-edge-cache";
let origin: TestOrigin;
let assets: TestOrigin;
let edge: RunningEdge; // generous timeout: ordinary traffic must never hit it on a busy machine
let tight: RunningEdge; // 300 ms header timeout, for the 504 and "SSE outlives the timeout" cases
let down: RunningEdge; // ORIGIN_URL where nothing listens
let strict: RunningEdge; // the defaults: cached entries revalidated after 1 s

beforeAll(async () => {
  [origin, assets] = await Promise.all([startOrigin("api"), startOrigin("assets")]);
  [edge, tight, down] = await Promise.all([
    startEdge({
      originUrl: origin.url,
      assetsUrl: assets.url,
      port: 0,
      staticPrefixes: ["/_astro/", "/static/"],
      revalidateAfterSeconds: 60, // HIT assertions must not depend on the machine's speed
    }),
    startEdge({ originUrl: origin.url, port: 0, originTimeoutMs: 300 }),
    closedPortUrl().then((url) => startEdge({ originUrl: url, port: 0 })),
  ]);
  strict = await startEdge({ originUrl: origin.url, port: 0 });
});

afterAll(async () => {
  await Promise.all([edge, tight, down, strict].map((e) => e?.close()));
  await Promise.all([origin, assets].map((o) => o?.close()));
});

/** node:http, because fetch() forbids Connection/Keep-Alive/TE and normalises odd paths. */
function rawRequest(base: string, path: string, headers: http.OutgoingHttpHeaders = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
    (resolve, reject) => {
      const req = http.request(`${base}${path}`, { headers, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on("error", reject);
      req.end();
    },
  );
}

describe("proxying", () => {
  it("keeps method, headers, body and query string", async () => {
    const body = JSON.stringify({ hello: "world", n: [1, 2, 3] });
    const res = await fetch(`${edge.url}/api/echo?a=1&b=two%20words&a=3`, {
      method: "PUT",
      headers: { "content-type": "application/json", "x-custom": "kept", accept: "application/json" },
      body,
    });
    expect(res.status).toBe(200);
    const [seen] = origin.hits("/api/echo");
    expect(seen).toMatchObject({ method: "PUT", url: "/api/echo?a=1&b=two%20words&a=3", body });
    expect(seen?.headers).toMatchObject({ "content-type": "application/json", "x-custom": "kept" });
  });

  it("sets Host for the origin and X-Forwarded-For/-Proto/-Host for the client", async () => {
    await fetch(`${edge.url}/api/forwarded`, { headers: { "x-forwarded-for": "203.0.113.7" } });
    const [seen] = origin.hits("/api/forwarded");
    expect(seen?.headers.host).toBe(new URL(origin.url).host);
    expect(seen?.headers["x-forwarded-host"]).toBe(new URL(edge.url).host);
    expect(seen?.headers["x-forwarded-proto"]).toBe("http");
    expect(seen?.headers["x-forwarded-for"]).toBe("203.0.113.7, 127.0.0.1");
  });

  it("drops hop-by-hop headers both ways, including those the Connection header names", async () => {
    const res = await rawRequest(edge.url, "/api/hop-request", {
      connection: "keep-alive, x-client-hop",
      "x-client-hop": "secret",
      "keep-alive": "timeout=5",
      "proxy-authorization": "Basic c2VjcmV0",
      te: "trailers",
      "x-end-to-end": "kept",
    });
    expect(res.status).toBe(200);
    const seen = origin.hits("/api/hop-request")[0]!.headers;
    expect(seen["x-end-to-end"]).toBe("kept");
    for (const name of ["x-client-hop", "keep-alive", "proxy-authorization", "te"])
      expect(seen[name]).toBeUndefined();

    const back = await rawRequest(edge.url, "/hop");
    expect(back.headers["x-end-to-end"]).toBe("kept");
    expect(back.headers["x-origin-hop"]).toBeUndefined();
    expect(back.headers["proxy-authenticate"]).toBeUndefined();
  });

  it("keeps a path that looks like another host on the origin", async () => {
    await rawRequest(edge.url, "//evil.test/api/x");
    expect(origin.hits("//evil.test/api/x")).toHaveLength(1);
  });

  it("passes redirects through instead of following them", async () => {
    const res = await fetch(`${edge.url}/redirect`, { redirect: "manual" });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/echo?from=redirect");
    expect(origin.hits("/echo")).toHaveLength(0);
  });

  it("sends static prefixes to the asset origin and the rest to the API origin", async () => {
    const asset = await fetch(`${edge.url}/_astro/app.js?v=3`);
    expect(await asset.json()).toMatchObject({ origin: "assets", url: "/_astro/app.js?v=3" });
    const other = await fetch(`${edge.url}/static/logo.svg`);
    expect(await other.json()).toMatchObject({ origin: "assets" });
    const api = await fetch(`${edge.url}/_astronomy`); // a prefix match needs the whole segment
    expect(await api.json()).toMatchObject({ origin: "api" });
    expect(origin.hits("/_astro/app.js")).toHaveLength(0);
  });

  it("passes a 304 from the origin through", async () => {
    const res = await fetch(`${edge.url}/etag`, { headers: { "if-none-match": '"v1"' } });
    expect(res.status).toBe(304);
    expect(res.headers.get("etag")).toBe('"v1"');
    expect(origin.hits("/etag")[0]?.headers["if-none-match"]).toBe('"v1"');
  });
});

describe("caching", () => {
  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${edge.url}${path}`, { headers });

  it("serves an immutable response from the cache on the second request", async () => {
    const first = await get("/cache/immutable?case=hit");
    expect(first.headers.get(CACHE)).toBe("MISS");
    const second = await get("/cache/immutable?case=hit");
    expect(second.headers.get(CACHE)).toBe("HIT");
    expect(await second.text()).toBe(await first.text());
    expect(origin.hits("/cache/immutable").filter((r) => r.url.endsWith("case=hit"))).toHaveLength(1);
  });

  it("answers If-None-Match on a cached entry with 304 without asking the origin", async () => {
    await (await get("/cache/immutable?case=conditional")).text();
    const res = await get("/cache/immutable?case=conditional", { "if-none-match": '"blob-sha"' });
    expect(res.status).toBe(304);
    expect(res.headers.get(CACHE)).toBe("HIT");
    expect(origin.requests.filter((r) => r.url.endsWith("case=conditional"))).toHaveLength(1);
  });

  it("keys on the query string", async () => {
    await (await get("/cache/immutable?case=query&v=1")).text();
    const other = await get("/cache/immutable?case=query&v=2");
    expect(other.headers.get(CACHE)).toBe("MISS");
  });

  it("caches ref resolution for its max-age only", async () => {
    await (await get("/cache/ref-1s")).text();
    expect((await get("/cache/ref-1s")).headers.get(CACHE)).toBe("HIT");
    await new Promise((r) => setTimeout(r, 2100));
    expect((await get("/cache/ref-1s")).headers.get(CACHE)).toBe("MISS");
    expect(origin.hits("/cache/ref-1s")).toHaveLength(2);
  });

  const uncached = Object.keys(CACHE_KINDS).filter((kind) => kind !== "immutable" && kind !== "ref-1s");
  it.each(uncached)("never caches a %s response", async (kind) => {
    for (let i = 0; i < 2; i++) {
      const res = await get(`/cache/${kind}`);
      expect(res.headers.get(CACHE)).toBe("BYPASS");
      await res.text();
    }
    expect(origin.hits(`/cache/${kind}`)).toHaveLength(2);
  });

  it("never caches an error status, even one marked immutable", async () => {
    for (let i = 0; i < 2; i++)
      expect((await get("/cache/immutable?status=404")).headers.get(CACHE)).toBe("BYPASS");
    expect(origin.requests.filter((r) => r.url.endsWith("status=404"))).toHaveLength(2);
  });

  it.each([
    ["Authorization", { authorization: "Bearer secret" }],
    ["Cookie", { cookie: "sid=abc" }],
    ["a browser session", { cookie: "theme=dark; plue_session=s3cret" }],
    ["Basic credentials", { authorization: `Basic ${btoa("git:plue_token")}` }],
  ])("neither reads nor writes the cache for a request with %s", async (_name, headers) => {
    const path = `/cache/immutable?case=${encodeURIComponent(Object.values(headers)[0]!)}`;
    await (await get(path)).text(); // anonymous: now cached
    for (let i = 0; i < 2; i++) {
      const res = await get(path, headers);
      expect(res.headers.get(CACHE)).toBe("BYPASS");
      await res.text();
    }
    expect(origin.requests.filter((r) => r.url === path)).toHaveLength(3);
    const after = await get(path); // and what they got was never stored in the anonymous entry
    expect(after.headers.get(CACHE)).toBe("HIT");
  });

  it("does not cache other methods", async () => {
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${edge.url}/cache/immutable?case=post`, { method: "POST", body: "x" });
      expect(res.headers.get(CACHE)).toBe("BYPASS");
    }
    expect(origin.requests.filter((r) => r.url.endsWith("case=post"))).toHaveLength(2);
  });
});

describe("revalidation and visibility changes (REVALIDATE_AFTER_SECONDS=1, the default)", () => {
  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${strict.url}${path}`, { headers });
  const past = () => new Promise((r) => setTimeout(r, 1100));

  it("serves a stored blob unasked for a second, then revalidates it with its ETag", async () => {
    const first = await get("/repo/steady/blob");
    expect([first.headers.get(CACHE), await first.text()]).toEqual(["MISS", "bytes of steady"]);
    await past();
    const again = await get("/repo/steady/blob");
    expect([again.status, again.headers.get(CACHE), await again.text()]).toEqual([
      200,
      "REVALIDATED",
      "bytes of steady",
    ]);
    const hits = origin.hits("/repo/steady/blob");
    expect(hits).toHaveLength(2);
    expect(hits[1]!.headers["if-none-match"]).toBe('"v-steady"');
    expect(again.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect([...again.headers.keys()].filter((h) => h.startsWith("x-plue-edge-stored"))).toEqual([]);
    const hit = await get("/repo/steady/blob"); // refreshed by the 304
    expect(hit.headers.get(CACHE)).toBe("HIT");
    expect(origin.hits("/repo/steady/blob")).toHaveLength(2);
  });

  it("answers a client's If-None-Match itself, fresh or revalidated", async () => {
    const first = await get("/repo/cond/blob");
    const etag = first.headers.get("etag")!;
    await first.text();
    const fresh = await get("/repo/cond/blob", { "if-none-match": etag });
    expect([fresh.status, fresh.headers.get(CACHE)]).toEqual([304, "HIT"]);
    await past();
    const stale = await get("/repo/cond/blob", { "if-none-match": 'W/"other", ' + etag });
    expect([stale.status, stale.headers.get(CACHE)]).toEqual([304, "REVALIDATED"]);
    // The origin was asked about the stored entry, not about the client's list.
    expect(origin.hits("/repo/cond/blob")[1]!.headers["if-none-match"]).toBe('"v-cond"');
    const other = await get("/repo/cond/blob", { "if-none-match": '"v-something-else"' });
    expect([other.status, await other.text()]).toEqual([200, "bytes of cond"]);
  });

  it("stops serving a blob cached immutable once its repository turns private", async () => {
    await (await get("/repo/turning/blob")).text();
    expect((await get("/repo/turning/blob")).headers.get(CACHE)).toBe("HIT");
    origin.setVisibility("turning", "private");
    await past();
    const after = await get("/repo/turning/blob");
    expect([after.status, after.headers.get(CACHE)]).toEqual([404, "BYPASS"]);
    expect(await after.text()).not.toContain("bytes of");
    // The entry is gone, not just skipped: every later request asks the origin.
    const later = await get("/repo/turning/blob");
    expect([later.status, later.headers.get(CACHE)]).toEqual([404, "BYPASS"]);
    expect(origin.hits("/repo/turning/blob")).toHaveLength(3);
    origin.setVisibility("turning", "public");
    const back = await get("/repo/turning/blob");
    expect([back.status, back.headers.get(CACHE)]).toEqual([200, "MISS"]);
  });

  it("serves no stale copy when the origin fails at revalidation", async () => {
    await (await get("/repo/flaky/blob")).text();
    origin.setVisibility("flaky", "failing");
    await past();
    const r = await get("/repo/flaky/blob");
    expect([r.status, r.headers.get(CACHE)]).toEqual([503, "BYPASS"]);
    expect(await r.text()).not.toContain("bytes of");
    origin.setVisibility("flaky", "public");
    expect((await get("/repo/flaky/blob")).headers.get(CACHE)).toBe("MISS"); // dropped, not kept
  });
});

describe("streaming", () => {
  it("delivers SSE events as the origin writes them", async () => {
    const res = await fetch(`${edge.url}/sse/gated`);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    // The origin holds its last event until the first one has reached us: a buffering edge hangs here.
    while (!text.includes("data: first\n\n")) text += (await reader.read()).value ?? "";
    expect(origin.sseFinished()).toBe(false);
    origin.releaseSse();
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
    expect(text).toBe("id: 1\ndata: first\n\nid: 2\ndata: last\n\n");
  });

  it("does not cut a stream that outlives the header timeout", async () => {
    const res = await fetch(`${tight.url}/sse/slow?ms=800`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("id: 1\ndata: first\n\nid: 2\ndata: last\n\n");
  });

  it("waits for a long-poll that answers within the timeout", async () => {
    const res = await fetch(`${edge.url}/slow?ms=500`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("late");
  });
});

describe("origin failures", () => {
  const expectJsonError = async (res: Response, status: number, code: string) => {
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe(code);
    expect(body.error.message).not.toBe("");
  };

  it("answers 502 JSON when the origin is unreachable", async () => {
    await expectJsonError(await fetch(`${down.url}/api/health`), 502, "bad_gateway");
    await expectJsonError(
      await fetch(`${down.url}/api/x`, { method: "POST", body: "x" }),
      502,
      "bad_gateway",
    );
  });

  it("answers 504 JSON when the origin sends no headers in time", async () => {
    const started = Date.now();
    await expectJsonError(await fetch(`${tight.url}/slow?ms=10000`), 504, "gateway_timeout");
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it.each([
    [522, 504, "gateway_timeout"],
    [521, 502, "bad_gateway"],
  ])("turns Cloudflare's origin error %i into %i JSON", async (origin, status, code) => {
    await expectJsonError(await fetch(`${edge.url}/status/${origin}`), status, code);
  });
});

describe("operator-only paths", () => {
  it.each([
    "/metrics",
    "/metrics/",
    "/METRICS",
    "/Metrics?format=text",
    "//metrics",
    "/%6detrics",
    "/a/../metrics",
    "/metrics/anything",
  ])("answers %s with 404 itself and never forwards it", async (path) => {
    const before = origin.requests.length;
    const res = await rawRequest(edge.url, path, { authorization: "Bearer scrape-token-0123456789" });
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body).error.code).toBe("not_found");
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(origin.requests.length).toBe(before);
  });

  it("still forwards paths that only start like it", async () => {
    const res = await fetch(`${edge.url}/metricsx`);
    expect(res.status).toBe(200);
    expect(origin.hits("/metricsx")).toHaveLength(1);
  });
});

describe("startEdge", () => {
  it("refuses a bad ORIGIN_URL before starting", async () => {
    await expect(startEdge({ originUrl: "not a url", port: 0 })).rejects.toThrow(/ORIGIN_URL is not a URL/);
  });
});
