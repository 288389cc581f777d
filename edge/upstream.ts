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
