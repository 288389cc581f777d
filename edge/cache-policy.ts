/**
 * What the edge may cache. The origin decides by its Cache-Control; the edge only stores what is
 * explicitly `public` with a freshness lifetime (immutable trees/blobs by SHA, refs for max-age=5)
 * and refuses anything tied to a user. The Cache API then honours that lifetime by itself.
 */

/** Response header telling operators and tests what the cache did. */
export const CACHE_STATUS_HEADER = "x-plue-edge-cache";
export type CacheStatus = "HIT" | "MISS" | "BYPASS";

/** Anonymous, whole-resource GETs only: a credentialed request never reads or writes the cache. */
export function isCacheableRequest(request: Request): boolean {
  const h = request.headers;
  return request.method === "GET" && !h.has("authorization") && !h.has("cookie") && !h.has("range");
}

export function isStorableResponse(response: Response): boolean {
  const h = response.headers;
  if (response.status !== 200 || h.has("set-cookie")) return false;
  if (isEventStream(h.get("content-type")) || !varyIsKeyed(h.get("vary"))) return false;
  const cc = parseCacheControl(h.get("cache-control"));
  if (!cc.has("public") || cc.has("private") || cc.has("no-store") || cc.has("no-cache")) return false;
  return freshnessSeconds(cc) > 0;
}

/** Directive names (lower-cased) → value, without quotes; valueless directives map to "". */
export function parseCacheControl(header: string | null): Map<string, string> {
  const directives = new Map<string, string>();
  for (const part of (header ?? "").split(",")) {
    const [rawName = "", ...rest] = part.split("=");
    const name = rawName.trim().toLowerCase();
    if (name)
      directives.set(
        name,
        rest
          .join("=")
          .trim()
          .replace(/^"(.*)"$/, "$1"),
      );
  }
  return directives;
}

/** Shared caches prefer s-maxage over max-age (RFC 9111 §5.2.2.10). */
function freshnessSeconds(cc: Map<string, string>): number {
  const value = cc.get("s-maxage") ?? cc.get("max-age");
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : 0;
}

function isEventStream(contentType: string | null): boolean {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase() === "text/event-stream";
}

/**
 * The cache key is the URL alone, so a response that varies on any request header other than
 * Accept-Encoding (which the Cache API handles) could be served to the wrong client.
 */
function varyIsKeyed(vary: string | null): boolean {
  if (vary === null) return true;
  return vary
    .split(",")
    .map((v) => v.trim().toLowerCase())
    .every((v) => v === "" || v === "accept-encoding");
}

const CONDITIONAL_HEADERS = ["if-none-match", "if-modified-since"];

/** Lookup key: the URL plus conditional headers, so the Cache API itself answers 304. */
export function lookupKey(request: Request): Request {
  const headers = new Headers();
  for (const name of CONDITIONAL_HEADERS) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  return new Request(request.url, { method: "GET", headers });
}

/** Storage key: the URL alone, with no credentials or client headers in it. */
export function storeKey(request: Request): Request {
  return new Request(request.url, { method: "GET" });
}
