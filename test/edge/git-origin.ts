/**
 * A real git smart-HTTP origin for the edge tests: node:http in front of `git http-backend`, run as
 * a CGI program (RFC 3875) over the bare repositories in one directory.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface GitOrigin {
  readonly url: string;
  /** Method, URL and headers of each request, in order. */
  readonly requests: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

export async function startGitOrigin(projectRoot: string): Promise<GitOrigin> {
  const requests: GitOrigin["requests"] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    serveCgi(projectRoot, req, res).catch((error: Error) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`git http-backend failed: ${error.message}`);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}

async function serveCgi(projectRoot: string, req: http.IncomingMessage, res: http.ServerResponse) {
  const url = new URL(req.url ?? "/", "http://git.invalid");
  const child = spawn("git", ["http-backend"], { env: cgiEnv(projectRoot, req, url), stdio: "pipe" });
  const exited = once(child, "close");
  child.stderr.resume();
  const upload = pipeline(req, child.stdin);

  const { status, headers, rest } = await readCgiHead(child.stdout);
  res.writeHead(status, headers);
  res.write(rest);
  await Promise.all([pipeline(child.stdout, res), upload, exited]);
}

/** CGI meta-variables, plus every request header as HTTP_* (http-backend reads Git-Protocol there). */
function cgiEnv(projectRoot: string, req: http.IncomingMessage, url: URL): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_PROJECT_ROOT: projectRoot,
    GIT_HTTP_EXPORT_ALL: "1",
    GIT_CONFIG_NOSYSTEM: "1",
    REQUEST_METHOD: req.method,
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.slice(1),
    REMOTE_ADDR: req.socket.remoteAddress,
  };
  if (req.headers["content-type"]) env.CONTENT_TYPE = req.headers["content-type"];
  if (req.headers["content-length"]) env.CONTENT_LENGTH = req.headers["content-length"];
  for (const [name, value] of Object.entries(req.headers)) {
    env[`HTTP_${name.toUpperCase().replace(/-/g, "_")}`] = Array.isArray(value) ? value.join(", ") : value;
  }
  return env;
}

/** Reads the CGI response head (header lines, blank line), leaving the body in the paused stream. */
function readCgiHead(
  stdout: Readable,
): Promise<{ status: number; headers: Record<string, string>; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onEnd = () => reject(new Error("git http-backend ended before sending CGI headers"));
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const match = /\r?\n\r?\n/.exec(buffered.toString("latin1"));
      if (!match) return;
      stdout.off("data", onData).off("end", onEnd).pause();
      resolve({
        ...parseCgiHead(buffered.subarray(0, match.index).toString("latin1")),
        rest: buffered.subarray(match.index + match[0].length),
      });
    };
    stdout.on("data", onData).once("end", onEnd).once("error", reject);
  });
}

function parseCgiHead(head: string) {
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of head.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === "status") status = Number.parseInt(value, 10);
    else headers[name] = value;
  }
  return { status, headers };
}
