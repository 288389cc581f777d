/**
 * Authentication comes before anything else, on a real server:
 *   - the runner callbacks (`/internal/tasks/:id/events` and `/abort`) tell a caller without a
 *     genuine task token nothing about a workload: the same 401 for a live, an ended and a
 *     missing workload, while the ended workload's own runner still learns `workload_ended`;
 *   - on every route that reads Authorization, a malformed header is a 401 with
 *     WWW-Authenticate, never anonymous.
 */
import { type AgentPlatform, type ApiClient, startAgentPlatform } from "../helpers/agents";
import type { ScriptedRunner } from "../helpers/scripted-runner";

let p: AgentPlatform;
let alice: ApiClient;
const METRICS_TOKEN = "metrics-token-0123456789";

beforeAll(async () => {
  p = await startAgentPlatform({ env: { PLUE_METRICS_TOKEN: METRICS_TOKEN } });
  alice = await p.user("alice");
});
afterAll(() => p.close());

async function startRun(): Promise<{ runner: ScriptedRunner; release(): void }> {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  p.executor.script = () => held;
  const next = p.executor.next();
  const session = (await alice.ok("POST", "/api/sessions", {})).id as string;
  await alice.ok("POST", `/api/sessions/${session}/run`, { message: "hi" });
  return { runner: await next, release };
}

/** Status, code, WWW-Authenticate and the whole body of an answer. */
async function answer(res: Response) {
  const text = await res.text();
  return {
    status: res.status,
    code: JSON.parse(text).error?.code as string,
    challenge: res.headers.get("www-authenticate"),
    body: text.replaceAll(/[0-9a-f]{8}-[0-9a-f-]{27}/g, "<id>"),
  };
}

describe("runner callbacks authenticate before they look a workload up", () => {
  it("answers the same 401 for a live, an ended and a missing workload; the ended one's runner still learns it ended", async () => {
    const live = await startRun();
    const ended = await startRun();
    await ended.runner.tokens(["a", "b"]);
    await ended.runner.event("done", { reason: "end_turn" });
    ended.release();
    const ids = {
      live: live.runner.workloadId,
      ended: ended.runner.workloadId,
      missing: crypto.randomUUID(),
    };
    const batch = { events: [{ seq: 9, type: "token", data: { text: "forged" } }] };

    for (const token of [undefined, "plue_task_forged-token-0123456789", alice.token, "Bearer  x"]) {
      const seen = new Set<string>();
      for (const id of Object.values(ids)) {
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (token) headers.authorization = token.startsWith("Bearer") ? token : `Bearer ${token}`;
        const events = await fetch(`${p.url}/internal/tasks/${id}/events`, {
          method: "POST",
          headers,
          body: JSON.stringify(batch),
        });
        const abort = await fetch(`${p.url}/internal/tasks/${id}/abort?wait=0`, { headers });
        for (const a of [await answer(events), await answer(abort)]) {
          expect(a).toMatchObject({ status: 401, code: "unauthorized" });
          expect(a.challenge).toMatch(/^Bearer /);
          expect(a.body).not.toMatch(/succeeded|"ack"/);
          seen.add(a.body);
        }
      }
      // One answer per endpoint, whichever workload the URL names.
      expect(seen.size).toBeLessThanOrEqual(2);
    }

    // Its own runner, retrying after the end, still learns what was stored.
    const retry = await ended.runner.post({
      events: [{ seq: 3, type: "done", data: { reason: "end_turn" } }],
    });
    expect(retry.status).toBe(409);
    expect((await retry.json()).error).toMatchObject({ code: "workload_ended", ack: 3 });
    // A genuine runner naming another workload: 403 if it exists, 404 if not.
    const other = await live.runner.post(batch, { url: ended.runner.assignment.callback_url });
    expect(other.status).toBe(403);
    const missing = live.runner.assignment.callback_url.replace(ids.live, ids.missing);
    expect((await live.runner.post(batch, { url: missing })).status).toBe(404);
    // And nothing forged was stored.
    const stored = await p.ctx.db.query("SELECT 1 FROM task_events WHERE data->>'text' = 'forged'");
    expect(stored.rows).toHaveLength(0);
    live.release();
  });
});

describe("a malformed Authorization header is a 401, never anonymous", () => {
  const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
  const token = () => alice.token;
  /** Each variant is present but unusable; some hold a valid token in a broken frame. */
  const variants: Array<[string, () => string]> = [
    ["two spaces", () => `Bearer  ${token()}`],
    ["a tab", () => `Bearer\t${token()}`],
    ["empty bearer", () => "Bearer "],
    ["scheme only", () => "Bearer"],
    ["empty header", () => ""],
    ["unknown scheme", () => `Token ${token()}`],
    ["Digest", () => 'Digest username="alice", realm="plue"'],
    ["two tokens", () => `Bearer ${token()} ${token()}`],
    ["non-ASCII", () => `Bearer ${token()}é`],
    ["Basic, bad base64", () => "Basic %%%not-base64%%%"],
    ["Basic, unpadded base64", () => `Basic ${b64(`x:${token()}`).replace(/=+$/, "")}x`],
    ["Basic without colon", () => `Basic ${b64(token())}`],
    ["Basic with empty password", () => `Basic ${b64("alice:")}`],
    ["Basic, not UTF-8", () => `Basic ${Buffer.from([0x78, 0x3a, 0xff, 0xfe]).toString("base64")}`],
    ["oversized", () => `Bearer ${"a".repeat(5000)}`],
  ];

  const routes: Array<{ name: string; path: string; method?: string; challenge: RegExp; basic?: boolean }> = [
    { name: "the API", path: "/api/repos", challenge: /^Bearer /, basic: true },
    {
      name: "git smart HTTP",
      path: "/admin/none.git/info/refs?service=git-upload-pack",
      challenge: /^Basic /,
      basic: true,
    },
    {
      name: "runner callbacks",
      path: `/internal/tasks/${crypto.randomUUID()}/abort?wait=0`,
      challenge: /^Bearer /,
    },
    { name: "pool registration", path: "/internal/runners/register", method: "POST", challenge: /^Bearer / },
    {
      name: "runner polls",
      path: `/internal/runners/${crypto.randomUUID()}/assignment?wait=0`,
      challenge: /^Bearer /,
    },
    { name: "metrics", path: "/metrics", challenge: /^Bearer / },
  ];

  it.each(routes)("on $name", async (route) => {
    // node:http, since fetch() refuses some of these values. (Whitespace around a value is not part
    // of it, RFC 9110 §5.5: servers trim it, so `Bearer x ` is simply `Bearer x`.)
    const http = await import("node:http");
    const send = (authorization: string) =>
      new Promise<{ status: number; challenge?: string; body: string }>((resolve, reject) => {
        const req = http.request(
          `${p.url}${route.path}`,
          {
            method: route.method ?? "GET",
            headers: { authorization, "content-type": "application/json" },
            agent: false,
          },
          (res) => {
            let body = "";
            res.on("data", (c) => (body += c));
            res.on("end", () =>
              resolve({ status: res.statusCode ?? 0, challenge: res.headers["www-authenticate"], body }),
            );
          },
        );
        req.on("error", reject);
        req.end(route.method === "POST" ? "{}" : undefined);
      });
    for (const [what, header] of variants) {
      const r = await send(header());
      expect({ what, status: r.status }).toEqual({ what, status: 401 });
      expect(r.challenge).toMatch(route.challenge);
      expect(JSON.parse(r.body).error.code).toBe("unauthorized");
      expect(r.body).not.toContain(token());
    }
    // The well-formed forms still work where they are accepted (not a 401 for the header itself).
    const good = await send(`Bearer ${route.name === "metrics" ? METRICS_TOKEN : token()}`);
    if (route.name === "the API" || route.name === "metrics") expect(good.status).toBe(200);
    if (route.basic) expect((await send(`Basic ${b64(`alice:${token()}`)}`)).status).not.toBe(401);
  });

  it("no header at all is still anonymous where anonymous is allowed", async () => {
    expect((await fetch(`${p.url}/api/health`)).status).toBe(200);
    expect((await fetch(`${p.url}/api/repos/admin/none`)).status).toBe(404);
  });
});
