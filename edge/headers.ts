/**
 * Header rewriting for a proxy hop (RFC 9110 §7.6.1): hop-by-hop headers describe one connection
 * and must not be forwarded; X-Forwarded-* tell the origin what the client asked for.
 */

const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

/** Copies `headers` without hop-by-hop headers, including any the Connection header names. */
export function withoutHopByHop(headers: Headers): Headers {
  const out = new Headers(headers);
  const listed = (headers.get("connection") ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== "");
  for (const name of [...HOP_BY_HOP, ...listed]) out.delete(name);
  return out;
}

/**
 * The headers the origin receives. `Host` is left to fetch(), which derives it from the origin URL;
 * the client's host travels as X-Forwarded-Host. The client address comes from CF-Connecting-IP
 * (set by Cloudflare, and by Miniflare locally) and is appended to X-Forwarded-For once.
 */
export function originRequestHeaders(request: Request): Headers {
  const url = new URL(request.url);
  const headers = withoutHopByHop(request.headers);
  headers.delete("host");
  const clientIp = request.headers.get("cf-connecting-ip");
  if (clientIp) headers.set("x-forwarded-for", appendHop(request.headers.get("x-forwarded-for"), clientIp));
  headers.set("x-forwarded-proto", url.protocol.slice(0, -1));
  headers.set("x-forwarded-host", url.host);
  return headers;
}

function appendHop(chain: string | null, ip: string): string {
  const hops = (chain ?? "")
    .split(",")
    .map((hop) => hop.trim())
    .filter((hop) => hop !== "");
  // Cloudflare may already have appended the client; the origin trusts the rightmost entries.
  if (hops[hops.length - 1] !== ip) hops.push(ip);
  return hops.join(", ");
}
