/**
 * The Worker's bindings and their parsed form. Bindings are strings (wrangler `[vars]`, Pulumi
 * plain-text bindings, Miniflare `bindings`), so every one is validated here, once, and a bad value
 * becomes a message that names the binding.
 */
export interface EdgeEnv {
  /** Where every non-static request goes, e.g. `https://origin.plue.dev`. Required. */
  readonly ORIGIN_URL?: string;
  /** Asset origin/CDN for static prefixes. @default ORIGIN_URL */
  readonly ASSETS_URL?: string;
  /** Comma-separated path prefixes served from ASSETS_URL. @default "/_astro/" */
  readonly STATIC_PREFIXES?: string;
  /** Milliseconds to wait for the origin's response headers (never the body). @default "30000" */
  readonly ORIGIN_TIMEOUT_MS?: string;
  /**
   * Seconds a cached response is served without asking the origin; after that every use is
   * revalidated with it (If-None-Match), so a repository made private stops being served within
   * this long (docs/edge.md, "Visibility changes"). "0": revalidate every request. @default "1"
   */
  readonly REVALIDATE_AFTER_SECONDS?: string;
}

export interface EdgeConfig {
  readonly origin: URL;
  readonly assets: URL;
  readonly staticPrefixes: readonly string[];
  readonly originTimeoutMs: number;
  readonly revalidateAfterSeconds: number;
}

export const DEFAULT_STATIC_PREFIXES = ["/_astro/"] as const;
export const DEFAULT_ORIGIN_TIMEOUT_MS = 30_000;
export const DEFAULT_REVALIDATE_AFTER_SECONDS = 1;

export class EdgeConfigError extends Error {
  override readonly name = "EdgeConfigError";
}

export function parseEdgeConfig(env: EdgeEnv): EdgeConfig {
  if (!env.ORIGIN_URL) throw new EdgeConfigError("ORIGIN_URL is not set; bind it to the API origin URL");
  const origin = parseBaseUrl("ORIGIN_URL", env.ORIGIN_URL);
  return {
    origin,
    assets: env.ASSETS_URL ? parseBaseUrl("ASSETS_URL", env.ASSETS_URL) : origin,
    staticPrefixes: parsePrefixes(env.STATIC_PREFIXES),
    originTimeoutMs: parseTimeout(env.ORIGIN_TIMEOUT_MS),
    revalidateAfterSeconds: parseRevalidateAfter(env.REVALIDATE_AFTER_SECONDS),
  };
}

function parseBaseUrl(name: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new EdgeConfigError(`${name} is not a URL: "${value}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new EdgeConfigError(`${name} must be http(s), got "${url.protocol}"`);
  }
  if (url.search || url.hash) throw new EdgeConfigError(`${name} must not carry a query or fragment`);
  return url;
}

function parsePrefixes(value: string | undefined): readonly string[] {
  if (value === undefined || value.trim() === "") return DEFAULT_STATIC_PREFIXES;
  const prefixes = value
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  const bad = prefixes.find((p) => !p.startsWith("/"));
  if (bad) throw new EdgeConfigError(`STATIC_PREFIXES entries must start with "/", got "${bad}"`);
  return prefixes;
}

function parseTimeout(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return DEFAULT_ORIGIN_TIMEOUT_MS;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms <= 0) {
    throw new EdgeConfigError(`ORIGIN_TIMEOUT_MS must be a positive integer, got "${value}"`);
  }
  return ms;
}

function parseRevalidateAfter(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return DEFAULT_REVALIDATE_AFTER_SECONDS;
  const seconds = Number(value);
  if (!/^\d+$/.test(value.trim()) || seconds > 86_400) {
    throw new EdgeConfigError(`REVALIDATE_AFTER_SECONDS must be an integer from 0 to 86400, got "${value}"`);
  }
  return seconds;
}
