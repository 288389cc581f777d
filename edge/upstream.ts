import type { EdgeConfig } from "./config";

/** Path and query of the request, resolved under the asset or API origin (which may have a path). */
export function upstreamUrl(request: Request, config: EdgeConfig): URL {
  const url = new URL(request.url);
  const isStatic = config.staticPrefixes.some((prefix) => url.pathname.startsWith(prefix));
  const target = new URL((isStatic ? config.assets : config.origin).href);
  // Assigning pathname (never concatenating strings) keeps a path like "//evil.test" on our host.
  target.pathname = target.pathname.replace(/\/$/, "") + url.pathname;
  target.search = url.search;
  return target;
}

/**
 * Paths the Worker answers 404 itself and never forwards: `/metrics` is for operators (the app
 * serves it to direct loopback clients or a scrape token only; docs/operations.md). Matched the
 * way Express would route it: case-insensitively, percent-decoded, with repeated or trailing
 * slashes, and anything below it. Dot segments are already resolved by the URL parser.
 */
const NOT_FORWARDED = ["/metrics"];

export function isNotForwarded(request: Request): boolean {
  let path = new URL(request.url).pathname;
  try {
    path = decodeURIComponent(path);
  } catch {
    // Not valid percent-encoding: match it as it is.
  }
  const normal = path
    .toLowerCase()
    .replace(/\/{2,}/g, "/")
    .replace(/\/+$/, "");
  return NOT_FORWARDED.some((p) => normal === p || normal.startsWith(`${p}/`));
}
