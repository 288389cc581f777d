/**
 * What the edge may cache. The origin decides by its Cache-Control; the edge only stores what is
 * explicitly `public` with a freshness lifetime (immutable trees/blobs by SHA, refs for max-age=5)
 * and refuses anything tied to a user. The Cache API keeps an entry for that lifetime, but the
 * edge serves it without asking the origin only for REVALIDATE_AFTER_SECONDS: after that each use
 * is revalidated (If-None-Match), so the origin — which knows the repository's visibility now —
 * decides again. "Immutable" is true of the bytes, not of who may read them (docs/edge.md).
 */

/** Response header telling operators and tests what the cache did. */
export const CACHE_STATUS_HEADER = "x-plue-edge-cache";
export type CacheStatus = "HIT" | "REVALIDATED" | "MISS" | "BYPASS";

/** Stamps on a stored entry, read by the edge only and never sent to a client. */
const STORED_AT = "x-plue-edge-stored-at";
const FRESH_FOR = "x-plue-edge-fresh-for";

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

/**
 * The copy to store: the origin's response, stamped with when it was checked and how long it may
 * be served unasked (the origin's lifetime, capped at `revalidateAfter` seconds).
 */
export function forStorage(response: Response, now: number, revalidateAfter: number): Response {
  const out = new Response(response.body, response);
  const lifetime = freshnessSeconds(parseCacheControl(response.headers.get("cache-control")));
  out.headers.set(STORED_AT, String(now));
  out.headers.set(FRESH_FOR, String(Math.min(lifetime, revalidateAfter)));
  return out;
}

/** Whether a stored entry may still be served without asking the origin. */
export function isFresh(stored: Response, now: number): boolean {
  const at = Number(stored.headers.get(STORED_AT));
  const fresh = Number(stored.headers.get(FRESH_FOR));
  return Number.isFinite(at) && Number.isFinite(fresh) && now >= at && now - at < fresh * 1000;
}

/** The request that asks the origin whether a stored entry is still the answer (and still public). */
export function revalidation(request: Request, stored: Response): Request {
  const headers = new Headers(request.headers);
  // The client's own validators would make a 304 about *its* copy, not about the stored one.
  for (const name of CONDITIONAL_HEADERS) headers.delete(name);
  const etag = stored.headers.get("etag");
  if (etag !== null) headers.set("if-none-match", etag);
  return new Request(request.url, { method: request.method, headers });
}

/** What a client gets of a stored entry: without the stamps; 304 if its If-None-Match names the entry. */
export function fromStorage(request: Request, stored: Response): Response {
  const headers = new Headers(stored.headers);
  headers.delete(STORED_AT);
  headers.delete(FRESH_FOR);
  if (etagMatches(request.headers.get("if-none-match"), stored.headers.get("etag"))) {
    void stored.body?.cancel();
    headers.delete("content-length");
    headers.delete("content-type");
    return new Response(null, { status: 304, headers });
  }
  return new Response(stored.body, { status: stored.status, statusText: stored.statusText, headers });
}

/** If-None-Match against an entity tag, with the weak comparison RFC 9110 §13.1.2 prescribes. */
function etagMatches(header: string | null, etag: string | null): boolean {
  if (header === null || etag === null) return false;
  if (header.trim() === "*") return true;
  const strip = (tag: string) => tag.trim().replace(/^W\//, "");
  return header.split(",").some((tag) => strip(tag) === strip(etag));
}

const CONDITIONAL_HEADERS = ["if-none-match", "if-modified-since"];

/** Storage and lookup key: the URL alone, with no credentials or client headers in it. */
export function storeKey(request: Request): Request {
  return new Request(request.url, { method: "GET" });
}
