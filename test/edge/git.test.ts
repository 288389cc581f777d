/** git smart HTTP (clone and push) through the edge Worker in workerd, against real git. */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type RunningEdge, startEdge } from "../../edge/dev";
import { type GitOrigin, startGitOrigin } from "./git-origin";

const exec = promisify(execFile);
let dir: string;
let origin: GitOrigin;
let edge: RunningEdge;

/** git with no user or system configuration, and never a prompt. */
async function git(cwd: string, ...args: string[]): Promise<string> {
  const env = { PATH: process.env.PATH, HOME: dir, GIT_CONFIG_NOSYSTEM: "1", GIT_TERMINAL_PROMPT: "0" };
  const id = [
    "-c",
    "user.name=Edge Test",
    "-c",
    "user.email=edge@plue.test",
    "-c",
    "init.defaultBranch=main",
  ];
  return (await exec("git", [...id, ...args], { cwd, env, maxBuffer: 16 << 20 })).stdout.trim();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "plue-edge-git-"));
  await git(dir, "init", "--bare", "--quiet", "demo.git");
  await git(join(dir, "demo.git"), "config", "http.receivepack", "true"); // anonymous push, test only
  await git(dir, "init", "--quiet", "seed");
  await writeFile(join(dir, "seed", "README.md"), "hello through the edge\n");
  await git(join(dir, "seed"), "add", ".");
  await git(join(dir, "seed"), "commit", "--quiet", "-m", "seed");
  await git(join(dir, "seed"), "push", "--quiet", join(dir, "demo.git"), "main");
  origin = await startGitOrigin(dir);
  edge = await startEdge({ originUrl: origin.url, port: 0 });
});

afterAll(async () => {
  await edge?.close();
  await origin?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("clones a repository through the edge", async () => {
  await git(dir, "clone", "--quiet", `${edge.url}/demo.git`, "clone");
  expect(await readFile(join(dir, "clone", "README.md"), "utf8")).toBe("hello through the edge\n");
  const [advertise, ...rest] = origin.requests;
  expect(`${advertise?.method} ${advertise?.url}`).toBe("GET /demo.git/info/refs?service=git-upload-pack");
  expect(advertise?.headers["git-protocol"]).toBe("version=2"); // v2 needs this header to reach the backend
  expect(advertise?.headers["x-forwarded-host"]).toBe(new URL(edge.url).host);
  expect(rest.length).toBeGreaterThan(0);
  for (const r of rest) expect(`${r.method} ${r.url}`).toBe("POST /demo.git/git-upload-pack");
});

it("pushes a pack larger than git's post buffer (a streamed, chunked body) through the edge", async () => {
  const work = join(dir, "clone");
  await writeFile(join(work, "random.bin"), randomBytes(3 << 20)); // incompressible, > http.postBuffer (1 MiB)
  await git(work, "add", ".");
  await git(work, "commit", "--quiet", "-m", "big");
  await git(work, "push", "--quiet", "origin", "main");
  expect(await git(join(dir, "demo.git"), "rev-parse", "main")).toBe(await git(work, "rev-parse", "HEAD"));
  // git sends a 4-byte probe first, then the pack itself without a Content-Length.
  const upload = origin.requests.findLast((r) => r.url === "/demo.git/git-receive-pack");
  expect(upload?.headers["transfer-encoding"]).toBe("chunked");
});
