import path from "node:path";
import { ConfigError, loadConfig } from "../../app/config";

describe("configuration", () => {
  it("has working defaults", () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(4000);
    expect(c.HOST).toBe("127.0.0.1");
    expect(c.dataDir).toBe(path.resolve(".plue"));
    expect(c.publicUrl).toBe("http://127.0.0.1:4000");
    expect(c.RUNNER_MODE).toBe("local");
  });

  it("names each bad variable and what it expected", () => {
    let err: unknown;
    try {
      loadConfig({ PORT: "99999", DATABASE_URL: "mysql://x", RUNNER_MODE: "docker", PLUE_WORKSPACE: "ws" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain('PORT="99999"');
    expect(msg).toContain('DATABASE_URL="mysql://x": a postgres:// or postgresql:// URL');
    expect(msg).toMatch(/RUNNER_MODE="docker": .*local.*in-process.*kubernetes/);
    expect(msg).toContain('PLUE_WORKSPACE="ws": an absolute path');
  });

  /** The ConfigError message for `env`. */
  function problems(env: Record<string, string>): string {
    try {
      loadConfig(env);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error("expected a ConfigError");
  }

  it.each([
    ["PLUE_POOL_SECRET", "short-secret"],
    ["PLUE_WEBHOOK_SECRET", "short-secret"],
    ["PLUE_METRICS_TOKEN", "short-token"],
    ["PLUE_METRICS_TOKEN", "has spaces in the scrape token"],
  ])("names %s and its problem, never its value", (name, value) => {
    const msg = problems({ [name]: value });
    expect(msg).toContain(name);
    expect(msg).toMatch(/at least 16 characters|visible ASCII/);
    expect(msg).not.toContain(value);
    expect(msg).not.toContain(value.slice(0, 6));
  });

  it.each([
    ["a password", "mysql://plue:hunter2-db-password@db:3306/plue", "mysql://plue:[redacted]@db:3306/plue"],
    [
      "a password in the query",
      "mysql://db/plue?password=hunter2-db-password",
      "mysql://db/plue?password=[redacted]",
    ],
    ["no scheme", "plue:hunter2-db-password@db/plue", undefined],
    ["a stray @", "pg://db/x@hunter2-db-password", undefined],
  ])("shows DATABASE_URL with %s masked, or not at all", (_what, value, shown) => {
    const msg = problems({ DATABASE_URL: value });
    expect(msg).toContain("DATABASE_URL");
    expect(msg).toContain("a postgres:// or postgresql:// URL");
    expect(msg).not.toContain("hunter2");
    if (shown) expect(msg).toContain(`DATABASE_URL="${shown}"`);
    else expect(msg).toContain("DATABASE_URL (value not shown: not a URL)");
  });

  it("PLUE_METRICS_TOKEN is optional and kept as given", () => {
    expect(loadConfig({}).PLUE_METRICS_TOKEN).toBeUndefined();
    expect(loadConfig({ PLUE_METRICS_TOKEN: "scrape-token-0123456789" }).PLUE_METRICS_TOKEN).toBe(
      "scrape-token-0123456789",
    );
  });

  it("PLUE_DATA_DIR moves the data directory", () => {
    expect(loadConfig({ PLUE_DATA_DIR: "/srv/plue" }).dataDir).toBe("/srv/plue");
  });
});
