/** A real git client for tests: no user or system config, no prompts, HOME in a temp dir. */
import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class GitClient {
  readonly home = fs.mkdtempSync(path.join(os.tmpdir(), "plue-git-client-"));

  /** Runs git; never throws on a non-zero exit (tests assert on failures too). */
  run(args: string[], cwd = this.home, env: Record<string, string> = {}, input?: string): Promise<GitResult> {
    return new Promise((resolve) => {
      const child = execFile(
        "git",
        args,
        {
          cwd,
          env: {
            PATH: process.env.PATH,
            HOME: this.home,
            GIT_TERMINAL_PROMPT: "0",
            GIT_CONFIG_NOSYSTEM: "1",
            GIT_AUTHOR_NAME: "Tester",
            GIT_AUTHOR_EMAIL: "tester@example.com",
            GIT_COMMITTER_NAME: "Tester",
            GIT_COMMITTER_EMAIL: "tester@example.com",
            ...env,
          },
          maxBuffer: 64 * 1024 * 1024,
        },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
          resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        },
      );
      if (input !== undefined) child.stdin?.end(input);
    });
  }

  /** Like run, but a failure is an error carrying git's stderr. */
  async ok(
    args: string[],
    cwd = this.home,
    env: Record<string, string> = {},
    input?: string,
  ): Promise<string> {
    const r = await this.run(args, cwd, env, input);
    if (r.code !== 0) throw new Error(`git ${args.join(" ")} failed (${r.code}):\n${r.stderr}`);
    return r.stdout.trim();
  }

  /** A fresh non-bare repository with one commit holding `files`. */
  async repoWith(name: string, files: Record<string, string | Buffer>): Promise<string> {
    const dir = path.join(this.home, name);
    await this.ok(["init", "-q", "-b", "main", dir]);
    for (const [p, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
      fs.writeFileSync(path.join(dir, p), content);
    }
    await this.ok(["add", "-A"], dir);
    await this.ok(["commit", "-q", "-m", `initial ${name}`], dir);
    return dir;
  }

  cleanup(): void {
    fs.rmSync(this.home, { recursive: true, force: true });
  }
}

/** `http://user:token@host:port/owner/repo.git` */
export function cloneUrl(
  base: string,
  owner: string,
  repo: string,
  token?: string,
  user = "x-access-token",
): string {
  const u = new URL(`${base}/${owner}/${repo}.git`);
  if (token) {
    u.username = user;
    u.password = token;
  }
  return u.toString();
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A GET whose path goes on the wire exactly as written (fetch would resolve `..` and `%2e%2e`
 * before sending, so it cannot test traversal).
 */
export function rawGet(
  base: string,
  rawPath: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: rawPath, method: "GET", headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

export async function createRepo(
  base: string,
  token: string,
  body: { name: string; visibility?: "public" | "private"; default_branch?: string },
): Promise<{ owner: string; name: string; clone_url: string; visibility: string; default_branch: string }> {
  const r = await fetch(`${base}/api/repos`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (r.status !== 201) throw new Error(`create repo ${body.name}: ${r.status} ${await r.text()}`);
  return r.json();
}
