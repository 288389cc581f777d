/** Binding validation and Cache-Control parsing: pure functions, run in Node without workerd. */
import { parseCacheControl } from "../../edge/cache-policy";
import {
  DEFAULT_ORIGIN_TIMEOUT_MS,
  DEFAULT_REVALIDATE_AFTER_SECONDS,
  parseEdgeConfig,
} from "../../edge/config";

describe("parseEdgeConfig", () => {
  it("defaults assets to the origin, /_astro/ and 30 s", () => {
    const config = parseEdgeConfig({ ORIGIN_URL: "https://origin.plue.dev" });
    expect(config.assets.href).toBe("https://origin.plue.dev/");
    expect(config.staticPrefixes).toEqual(["/_astro/"]);
    expect(config.originTimeoutMs).toBe(DEFAULT_ORIGIN_TIMEOUT_MS);
    expect(config.revalidateAfterSeconds).toBe(DEFAULT_REVALIDATE_AFTER_SECONDS);
    expect(DEFAULT_REVALIDATE_AFTER_SECONDS).toBe(1); // the "within one second everywhere"
  });

  it("reads every binding", () => {
    const config = parseEdgeConfig({
      ORIGIN_URL: "http://127.0.0.1:4000",
      ASSETS_URL: "https://cdn.plue.dev/build",
      STATIC_PREFIXES: " /_astro/ , /static/ ,",
      ORIGIN_TIMEOUT_MS: "1500",
      REVALIDATE_AFTER_SECONDS: "0",
    });
    expect(config.revalidateAfterSeconds).toBe(0);
    expect(config.assets.href).toBe("https://cdn.plue.dev/build");
    expect(config.staticPrefixes).toEqual(["/_astro/", "/static/"]);
    expect(config.originTimeoutMs).toBe(1500);
  });

  it.each([
    [{}, /ORIGIN_URL is not set/],
    [{ ORIGIN_URL: "origin.plue.dev" }, /ORIGIN_URL is not a URL/],
    [{ ORIGIN_URL: "ftp://origin.plue.dev" }, /ORIGIN_URL must be http\(s\)/],
    [{ ORIGIN_URL: "https://o.plue.dev/?x=1" }, /ORIGIN_URL must not carry a query/],
    [{ ORIGIN_URL: "https://o.plue.dev", ASSETS_URL: "cdn" }, /ASSETS_URL is not a URL/],
    [{ ORIGIN_URL: "https://o.plue.dev", STATIC_PREFIXES: "_astro/" }, /must start with "\/"/],
    [
      { ORIGIN_URL: "https://o.plue.dev", ORIGIN_TIMEOUT_MS: "30s" },
      /ORIGIN_TIMEOUT_MS must be a positive integer/,
    ],
    [
      { ORIGIN_URL: "https://o.plue.dev", ORIGIN_TIMEOUT_MS: "0" },
      /ORIGIN_TIMEOUT_MS must be a positive integer/,
    ],
    ...["-1", "1.5", "one", "86401"].map((v) => [
      { ORIGIN_URL: "https://o.plue.dev", REVALIDATE_AFTER_SECONDS: v },
      /REVALIDATE_AFTER_SECONDS must be an integer from 0 to 86400/,
    ]),
  ] as [Record<string, string>, RegExp][])("rejects %j with a message naming the binding", (env, message) => {
    expect(() => parseEdgeConfig(env)).toThrow(message);
  });
});

describe("parseCacheControl", () => {
  it("lower-cases names and unquotes values", () => {
    const cc = parseCacheControl('Public, MAX-AGE=31536000, immutable, private="Set-Cookie"');
    expect([...cc]).toEqual([
      ["public", ""],
      ["max-age", "31536000"],
      ["immutable", ""],
      ["private", "Set-Cookie"],
    ]);
  });

  it("treats a missing header as no directives", () => {
    expect(parseCacheControl(null).size).toBe(0);
  });
});
