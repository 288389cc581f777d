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

  it("PLUE_DATA_DIR moves the data directory", () => {
    expect(loadConfig({ PLUE_DATA_DIR: "/srv/plue" }).dataDir).toBe("/srv/plue");
  });
});
