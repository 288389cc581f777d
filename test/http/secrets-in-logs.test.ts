/**
 * No credential reaches the logs. A real server (warm pool on, everything logged at trace level
 * into one captured stream) sees real traffic with real credentials: git push and clone over HTTP
 * with the token as Basic password, API calls with Bearer tokens, a runner that registers with the
 * pool secret, long-polls and heartbeats with its runner token, and a workload whose runner posts
 * events with its task token; plus cookies, `?token=` queries and malformed headers. Code in the
 * server and in the runner also logs objects that hold secrets outright (an assignment, the
 * configuration, an error quoting a database URL). Then the whole log is searched for every
 * credential, and for any 12-character piece of one.
 */
import fs from "node:fs";
import { Writable } from "node:stream";
import { loadConfig } from "../../app/config";
import { createLogger } from "../../app/log";
import { cloneUrl, createRepo, GitClient } from "../git/client";
import { POOL_SECRET, type PoolPlatform, startPoolPlatform, waitFor } from "../helpers/standby-runner";

class Capture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.lines.push(chunk.toString("utf8"));
    done();
  }
  get text(): string {
    return this.lines.join("");
  }
}

const capture = new Capture();
// `secrets: []`: the test proves the structural nets (names and shapes), not the list of this
// process's own secret values, which holds none of the test's credentials anyway.
const serverLog = createLogger("trace", { destination: capture, secrets: [] });
const runnerLog = createLogger("trace", { destination: capture, service: "runner", secrets: [] });

let p: PoolPlatform;
const git = new GitClient();
const secrets = new Map<string, string>();

beforeAll(async () => {
  p = await startPoolPlatform({ size: 1, log: serverLog, runnerLog });
  secrets.set("pool secret", POOL_SECRET);
  secrets.set("admin token", p.adminToken!);
});
afterAll(async () => {
  await p?.close();
  git.cleanup();
});

/** Every 12-character window of `secret`: a log that kept part of a credential fails too. */
function pieces(secret: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 12 <= secret.length; i++) out.push(secret.slice(i, i + 12));
  return out;
}

it("logs no credential, whatever the traffic and whatever code logs", async () => {
  const alice = await p.user("alice");
  secrets.set("alice's API token", alice.token);

  // Git smart HTTP with the token as Basic password (push, then clone).
  await createRepo(p.url, p.adminToken!, { name: "proj" });
  const work = await git.repoWith("proj", { "README.md": "# proj\n" });
  const url = cloneUrl(p.url, "admin", "proj", p.adminToken!);
  await git.ok(["push", url, "main"], work);
  await git.ok(["clone", "-q", url, `${git.home}/copy`]);
  secrets.set("Basic credentials", Buffer.from(`x:${p.adminToken}`).toString("base64"));

  // A cookie, `?token=`-like queries, and malformed headers that still hold a credential.
  const cookie = "plue_session=cookie-value-0123456789abcdef";
  const queryToken = "query-token-0123456789abcdef";
  secrets.set("cookie", "cookie-value-0123456789abcdef");
  secrets.set("query token", queryToken);
  const q = await fetch(
    `${p.url}/api/repos/admin/proj?token=${queryToken}&access_token=${queryToken}x&api_key=${queryToken}y`,
    { headers: { authorization: `Bearer ${alice.token}`, cookie, "x-plue-task-token": queryToken } },
  );
  expect(q.status).toBe(200);
  for (const header of [`Bearer  ${alice.token}`, `Token ${alice.token}`, `Basic ${alice.token}`]) {
    expect((await fetch(`${p.url}/api/repos`, { headers: { authorization: header } })).status).toBe(401);
  }

  // A runner of its own: registration answers a runner token; poll (heartbeat) and leave with it.
  const reg = await fetch(`${p.url}/internal/runners/register`, {
    method: "POST",
    headers: { authorization: `Bearer ${POOL_SECRET}`, "content-type": "application/json" },
    body: JSON.stringify({ pod_name: "log-test-runner" }),
  });
  expect(reg.status).toBe(201);
  const { runner_id, token: runnerToken } = await reg.json();
  secrets.set("runner token", runnerToken);
  const bearer = { authorization: `Bearer ${runnerToken}` };
  const poll = await fetch(`${p.url}/internal/runners/${runner_id}/assignment?wait=0`, { headers: bearer });
  expect(poll.status).toBe(204);
  const bye = await fetch(`${p.url}/internal/runners/${runner_id}`, { method: "DELETE", headers: bearer });
  expect(bye.status).toBe(204);

  // A workload: the pool's standby runner gets an assignment and posts its events with the task token.
  const session = await alice.ok("POST", "/api/sessions", {});
  const { workload_id } = await alice.ok("POST", `/api/sessions/${session.id}/run`, { message: "hi" });
  expect((await p.ended(workload_id)).status).toBe("succeeded");
  const assignment = p.backend.holding(workload_id)!.assignments[0]!;
  secrets.set("task token", assignment.token);

  // Code that logs secrets outright, at every level, in the server and in the runner.
  const config = loadConfig({
    PLUE_POOL_SECRET: POOL_SECRET,
    DATABASE_URL: "postgres://plue:db-password-0123456789@db.internal:5432/plue",
  });
  secrets.set("database password", "db-password-0123456789");
  serverLog.trace({ assignment }, "assignment");
  serverLog.debug({ config }, "configuration");
  serverLog.error({ err: new Error(`cannot connect to ${config.DATABASE_URL}`) }, "database unreachable");
  serverLog.child({ token: assignment.token }).info({ headers: { cookie } }, "child bindings");
  runnerLog.info({ assignment, secret: POOL_SECRET }, "runner got its assignment");
  runnerLog.warn(`retrying with Bearer ${runnerToken} at ${p.url}/x?token=${queryToken}`);

  // The log holds what happened (so this cannot pass on an empty log) ...
  await waitFor(() => capture.text.includes(`/internal/tasks/${workload_id}/events`), 5_000, "the events");
  const log = capture.text;
  for (const seen of [
    "git-receive-pack",
    "git-upload-pack",
    "/internal/runners/register",
    "/assignment",
    `/internal/tasks/${workload_id}/events`,
    "registered with the pool",
    "api_key=[redacted]",
    "postgres://plue:[redacted]@db.internal",
    '"authorization":"[redacted]"',
    '"cookie":"[redacted]"',
  ]) {
    expect(log).toContain(seen);
  }
  expect(capture.lines.length).toBeGreaterThan(20);
  // PLUE_TEST_LOG_FILE: keep what was captured, to read or grep (see test/helpers/platform.ts).
  if (process.env.PLUE_TEST_LOG_FILE) fs.appendFileSync(process.env.PLUE_TEST_LOG_FILE, log);
  // ... and none of the credentials, nor any piece of one.
  expect(secrets.size).toBe(9);
  for (const [what, secret] of secrets) {
    const leaked = pieces(secret).find((piece) => log.includes(piece));
    expect({ what, leaked }).toEqual({ what, leaked: undefined });
  }
});
