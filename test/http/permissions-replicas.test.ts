/**
 * Two replicas on one PostgreSQL (needs PLUE_TEST_POSTGRES_URL or DATABASE_URL): a permission or
 * visibility change made through replica A reaches replica B's caches (roles and repository rows)
 * within a second, through AuthChanges' NOTIFY, although B had them cached. Without PostgreSQL
 * it fails saying so, never skips (scripts/test.sh and CI always start one).
 */
import { openDb } from "../../app/db";
import { type AgentPlatform, ApiClient, startAgentPlatform } from "../helpers/agents";
import { createPostgresDatabase } from "../helpers/db";

let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
let a: AgentPlatform;
let b: AgentPlatform;
let aliceA: ApiClient;
let bobB: ApiClient;

const replica = async () => startAgentPlatform({ db: await openDb({ url: database.url, poolSize: 4 }) });

describe("on two replicas", () => {
  beforeAll(async () => {
    database = await createPostgresDatabase();
    a = await replica();
    b = await replica();
    aliceA = await a.user("alice");
    bobB = new ApiClient(b.url, (await a.user("bob")).token);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  /** How long until `status()` answers `want` (fails after a second). */
  async function within1s(status: () => Promise<number>, want: number): Promise<number> {
    const start = Date.now();
    for (;;) {
      const got = await status();
      if (got === want) return Date.now() - start;
      if (Date.now() - start > 1000) throw new Error(`still ${got} after 1 s, want ${want}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  const anonymous = async (base: string, path: string) => (await fetch(base + path)).status;

  it("a removed collaborator loses access on the other replica at once", async () => {
    expect(a.ctx.db.kind).toBe("postgres");
    await aliceA.ok("POST", "/api/repos", { name: "secret", visibility: "private" });
    await aliceA.ok("PUT", "/api/repos/alice/secret/collaborators/bob", { permission: "write" });
    expect((await bobB.request("GET", "/api/repos/alice/secret")).status).toBe(200); // cached on B now
    await aliceA.ok("DELETE", "/api/repos/alice/secret/collaborators/bob");
    await within1s(async () => (await bobB.request("GET", "/api/repos/alice/secret")).status, 404);
  });

  it("a repository made private is private on the other replica at once", async () => {
    await aliceA.ok("POST", "/api/repos", { name: "open", visibility: "public" });
    expect(await anonymous(b.url, "/api/repos/alice/open")).toBe(200); // B caches the row
    await aliceA.ok("PATCH", "/api/repos/alice/open", { visibility: "private" });
    await within1s(() => anonymous(b.url, "/api/repos/alice/open"), 404);
    await aliceA.ok("PATCH", "/api/repos/alice/open", { visibility: "public" });
    await within1s(() => anonymous(b.url, "/api/repos/alice/open"), 200);
  });

  it("a deleted repository is gone on the other replica at once", async () => {
    await aliceA.ok("POST", "/api/repos", { name: "doomed" });
    expect(await anonymous(b.url, "/api/repos/alice/doomed")).toBe(200);
    expect((await aliceA.request("DELETE", "/api/repos/alice/doomed")).status).toBe(204);
    await within1s(() => anonymous(b.url, "/api/repos/alice/doomed"), 404);
  });
});
