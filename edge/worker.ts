/**
 * Plue's edge Worker: a plain CDN proxy in front of the API. Static prefixes go to the asset
 * origin, everything else to ORIGIN_URL, streamed both ways; only responses the origin marks
 * public with a lifetime are cached, and served unasked for REVALIDATE_AFTER_SECONDS at most.
 * See docs/edge.md.
 */
import {
  CACHE_STATUS_HEADER,
  type CacheStatus,
  forStorage,
  fromStorage,
  isCacheableRequest,
  isFresh,
  isStorableResponse,
  revalidation,
  storeKey,
} from "./cache-policy";
import { type EdgeConfig, type EdgeEnv, parseEdgeConfig } from "./config";
import { originRequestHeaders, withoutHopByHop } from "./headers";
import { isNotForwarded, upstreamUrl } from "./upstream";

// A module Worker may export nothing but handlers: helpers live in the modules imported above.

/** The slice of the Workers runtime this module uses (the DOM lib types lack `caches.default`). */
interface EdgeContext {
  waitUntil(promise: Promise<unknown>): void;
}
interface EdgeCache {
  match(request: Request): Promise<Response | undefined>;
  put(request: Request, response: Response): Promise<void>;
  delete(request: Request): Promise<boolean>;
}

export default {
  async fetch(request: Request, env: EdgeEnv, ctx: EdgeContext): Promise<Response> {
    let config: EdgeConfig;
    try {
      config = parseEdgeConfig(env);
    } catch (error) {
      return errorResponse(500, "edge_misconfigured", (error as Error).message);
    }
    return handle(request, config, ctx);
  },
};

async function handle(request: Request, config: EdgeConfig, ctx: EdgeContext): Promise<Response> {
  if (isNotForwarded(request)) {
    const path = new URL(request.url).pathname;
    return errorResponse(404, "not_found", `no route for ${request.method} ${path}`);
  }
  const target = upstreamUrl(request, config);
  if (!isCacheableRequest(request)) return withCacheStatus(await forward(request, target, config), "BYPASS");

  const cache = (caches as unknown as { default: EdgeCache }).default;
  const key = storeKey(request);
  const stored = await cache.match(key);
  if (stored && isFresh(stored, Date.now())) return withCacheStatus(fromStorage(request, stored), "HIT");

  // A stored entry past its unasked time is revalidated: the origin decides again who may read it.
  const response = await forward(stored ? revalidation(request, stored) : request, target, config);
  const store = (r: Response) =>
    ctx.waitUntil(cache.put(key, forStorage(r, Date.now(), config.revalidateAfterSeconds)));
  if (stored && response.status === 304) {
    store(stored.clone());
    return withCacheStatus(fromStorage(request, stored), "REVALIDATED");
  }
  if (!isStorableResponse(response)) {
    // Gone, private now, or failing: never served from here again (no stale copy on error either).
    if (stored) ctx.waitUntil(cache.delete(key));
    return withCacheStatus(response, "BYPASS");
  }
  store(response.clone());
  return withCacheStatus(response, "MISS");
}

/**
 * One origin round trip. The timeout covers only the wait for response headers: once they arrive
 * the timer is cleared, so SSE and long downloads stream for as long as they need.
 */
async function forward(request: Request, target: URL, config: EdgeConfig): Promise<Response> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), config.originTimeoutMs);
  try {
    // workerd streams a ReadableStream body without Node's `duplex: "half"` opt-in.
    const upstream = await fetch(target, {
      method: request.method,
      headers: originRequestHeaders(request),
      body: request.body,
      redirect: "manual",
      signal: controller.signal,
    });
    const failure = originErrorResponse(upstream);
    if (!failure) return relay(upstream);
    await upstream.body?.cancel();
    return failure;
  } catch (error) {
    if (controller.signal.aborted) {
      return errorResponse(
        504,
        "gateway_timeout",
        `origin sent no response within ${config.originTimeoutMs} ms`,
      );
    }
    return errorResponse(502, "bad_gateway", `origin unreachable: ${(error as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

function relay(upstream: Response): Response {
  return new Response(upstream.body, {
    status: upstream.status,
    statusText: upstream.statusText,
    headers: withoutHopByHop(upstream.headers),
  });
}

/**
 * In production, fetch() to an unreachable origin resolves with Cloudflare's own 52x/530 status
 * and an HTML page instead of throwing (as it does in workerd locally); both become our JSON.
 */
function originErrorResponse(upstream: Response): Response | undefined {
  const { status } = upstream;
  if (status === 522 || status === 524) {
    return errorResponse(504, "gateway_timeout", `origin timed out (Cloudflare ${status})`);
  }
  if ((status >= 520 && status <= 527) || status === 530) {
    return errorResponse(502, "bad_gateway", `origin unreachable (Cloudflare ${status})`);
  }
  return undefined;
}

function withCacheStatus(response: Response, status: CacheStatus): Response {
  const out = new Response(response.body, response);
  out.headers.set(CACHE_STATUS_HEADER, status);
  return out;
}

function errorResponse(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status, headers: { "cache-control": "no-store" } });
}
