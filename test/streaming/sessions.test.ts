/** `GET /api/sessions`: a user's chats, most recently active first, by repository, page by page. */
import { createRepo } from "../git/client";
import { type AgentPlatform, type ApiClient, startAgentPlatform } from "../helpers/agents";

let p: AgentPlatform;
let alice: ApiClient;
let bob: ApiClient;

beforeAll(async () => {
  p = await startAgentPlatform();
  alice = await p.user("alice");
  bob = await p.user("bob");
  await createRepo(p.url, alice.token, { name: "notes" });
});
afterAll(() => p.close());

type Listed = {
  sessions: Array<{ id: string; title: string | null; repo: string | null; status: string }>;
  next: string | null;
};

it("lists only the caller's sessions, most recently active first, and pages through them", async () => {
  const made: string[] = [];
  for (const title of ["one", "two", "three"]) {
    made.push((await alice.ok("POST", "/api/sessions", { title })).id);
  }
  const about = (await alice.ok("POST", "/api/sessions", { repo: "alice/notes" })).id as string;
  await bob.ok("POST", "/api/sessions", { title: "bob's" });
  // A run makes "one" the most recently active.
  p.executor.script = async (r) => {
    await r.event("done", { reason: "end_turn" });
  };
  const next = p.executor.next();
  await alice.ok("POST", `/api/sessions/${made[0]}/run`, { message: "hi" });
  await next;

  const all = (await alice.ok("GET", "/api/sessions")) as Listed;
  expect(all.sessions.map((s) => s.id)).toEqual([made[0], about, made[2], made[1]]);
  expect(all.sessions[1]).toMatchObject({ repo: "alice/notes", title: null, status: "idle" });
  expect(all.next).toBeNull();

  const first = (await alice.ok("GET", "/api/sessions?limit=3")) as Listed;
  expect(first.sessions).toHaveLength(3);
  expect(first.next).toBe(first.sessions[2]!.id);
  const rest = (await alice.ok("GET", `/api/sessions?limit=3&before=${first.next}`)) as Listed;
  expect(rest).toEqual({ sessions: [all.sessions[3]], next: null });

  const notes = (await alice.ok("GET", "/api/sessions?repo=alice/notes")) as Listed;
  expect(notes.sessions.map((s) => s.id)).toEqual([about]);
  expect(((await bob.ok("GET", "/api/sessions")) as Listed).sessions.map((s) => s.title)).toEqual(["bob's"]);
});

it("refuses bad queries, another user's cursor, and anonymous callers", async () => {
  for (const q of ["limit=0", "limit=101", "limit=x", "before=nope", "repo=no-slash"]) {
    const r = await alice.request("GET", `/api/sessions?${q}`);
    expect([q, r.status, r.body.error.code]).toEqual([q, 400, "invalid_request"]);
  }
  const bobs = (await bob.ok("POST", "/api/sessions", {})).id as string;
  expect((await alice.request("GET", `/api/sessions?before=${bobs}`)).status).toBe(404);
  expect((await fetch(`${p.url}/api/sessions`)).status).toBe(401);
});
