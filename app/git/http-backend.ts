/**
 * Git's smart HTTP protocol, served by `git http-backend` as a CGI child: the request body
 * streams into its stdin and its stdout streams back to the client, both with backpressure, so
 * packs are never held in memory. For receive-pack the ref-update commands at the start of the
 * request and the per-ref status report at the end of the response are parsed on the side.
 */
import { spawn } from "node:child_process";
import type { IncomingMessage, ServerResponse } from "node:http";
import zlib from "node:zlib";
import { gitEnv } from "./exec";
import { ReceivePackCommands, type RefUpdate, ReportStatus } from "./pktline";

export interface HttpBackendOptions {
  /** Directory holding `<owner>/<name>.git`. */
  projectRoot: string;
  /** `/<owner>/<name>.git/<info/refs | git-upload-pack | git-receive-pack>` from validated names. */
  pathInfo: string;
  /** Set for authenticated callers; http-backend enables receive-pack only when it is set. */
  remoteUser?: string;
}

export interface HttpBackendResult {
  exitCode: number | null;
  /** Whether the whole response reached the client. */
  completed: boolean;
  /** For receive-pack: the ref updates receive-pack reported as done. */
  updated?: RefUpdate[];
  /** For receive-pack without a status report (very old clients): the updates it was asked for. */
  unreported?: RefUpdate[];
  stderr: string;
}

/** The report is small (status lines plus side-band progress); more than this is not a report. */
const MAX_REPORT_BYTES = 4 * 1024 * 1024;
const MAX_CGI_HEADER_BYTES = 64 * 1024;

export function serveHttpBackend(
  req: IncomingMessage,
  res: ServerResponse,
  options: HttpBackendOptions,
): Promise<HttpBackendResult> {
  const receivePack = req.method === "POST" && options.pathInfo.endsWith("/git-receive-pack");
  const query = req.url?.includes("?") ? req.url.slice(req.url.indexOf("?") + 1) : "";
  const h = req.headers;
  const env: Record<string, string> = {
    GIT_PROJECT_ROOT: options.projectRoot,
    GIT_HTTP_EXPORT_ALL: "1",
    PATH_INFO: options.pathInfo,
    REQUEST_METHOD: req.method ?? "GET",
    QUERY_STRING: query,
    CONTENT_TYPE: h["content-type"] ?? "",
    REMOTE_ADDR: req.socket.remoteAddress ?? "",
  };
  if (options.remoteUser) env.REMOTE_USER = options.remoteUser;
  if (h["content-length"] && /^\d+$/.test(h["content-length"])) env.CONTENT_LENGTH = h["content-length"];
  // http-backend inflates gzip bodies itself when told the encoding.
  if (h["content-encoding"]) env.HTTP_CONTENT_ENCODING = String(h["content-encoding"]);
  const protocol = h["git-protocol"];
  if (typeof protocol === "string" && /^[\w.=:-]{1,100}$/.test(protocol)) env.GIT_PROTOCOL = protocol;

  const child = spawn("git", ["http-backend"], { env: gitEnv(env), stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString("utf8")).slice(-4000);
  });

  const commands = receivePack ? watchCommands(req) : undefined;
  req.pipe(child.stdin);
  child.stdin.on("error", () => {}); // EPIPE when http-backend stops reading early: its answer says why

  // The client went away: stop a fetch. A push is left to finish, since refs it already updated
  // must still produce their events (its report is read from the pipe, not from the client).
  res.on("close", () => {
    if (!receivePack && !res.writableFinished && child.exitCode === null) child.kill("SIGTERM");
  });

  const report: Buffer[] = [];
  let reportBytes = 0;
  let header: Buffer | undefined = Buffer.alloc(0);
  const forward = (chunk: Buffer) => {
    if (chunk.length === 0) return;
    if (receivePack && reportBytes < MAX_REPORT_BYTES) {
      report.push(chunk);
      reportBytes += chunk.length;
    }
    if (res.destroyed || res.writableEnded) return;
    if (!res.write(chunk)) {
      child.stdout.pause();
      const resume = () => {
        res.off("drain", resume);
        res.off("close", resume);
        child.stdout.resume();
      };
      res.on("drain", resume);
      res.on("close", resume);
    }
  };
  child.stdout.on("data", (chunk: Buffer) => {
    if (header === undefined) return forward(chunk);
    header = Buffer.concat([header, chunk]);
    const parsed = parseCgiHeaders(header);
    if (!parsed) {
      if (header.length > MAX_CGI_HEADER_BYTES) child.kill("SIGKILL");
      return;
    }
    header = undefined;
    if (!res.headersSent) res.writeHead(parsed.status, parsed.headers);
    forward(parsed.rest);
  });

  const exited = new Promise<number | null>((resolve) => {
    child.on("error", () => resolve(null));
    child.on("close", (code) => resolve(code));
  });
  return exited.then((exitCode) => {
    if (!res.headersSent) {
      res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
      res.end("git http-backend failed\n");
    } else if (!res.writableEnded) res.end();
    const completed = exitCode === 0 && res.writableEnded && !res.destroyed;
    if (!commands || exitCode !== 0) return { exitCode, completed, stderr };
    const caps = commands.capabilities;
    if (!caps.has("report-status") && !caps.has("report-status-v2")) {
      return { exitCode, completed, stderr, unreported: commands.updates };
    }
    const status = new ReportStatus(caps.has("side-band-64k") || caps.has("side-band"));
    status.push(Buffer.concat(report));
    const updated = status.unpackOk ? commands.updates.filter((u) => status.ok.has(u.ref)) : [];
    return { exitCode, completed, stderr, updated };
  });
}

/** Parses the ref-update commands from the start of a receive-pack request, inflating gzip. */
function watchCommands(req: IncomingMessage): ReceivePackCommands {
  const commands = new ReceivePackCommands();
  const gzip = /gzip/i.test(String(req.headers["content-encoding"] ?? ""));
  const inflate = gzip ? zlib.createGunzip() : undefined;
  inflate?.on("data", (c: Buffer) => commands.push(c));
  inflate?.on("error", () => {}); // a corrupt body is http-backend's to reject
  const onData = (chunk: Buffer) => {
    if (inflate) inflate.write(chunk);
    else commands.push(chunk);
    if (commands.complete) {
      req.off("data", onData);
      inflate?.destroy();
    }
  };
  req.on("data", onData);
  return commands;
}

/** CGI response headers: `Name: value` lines, `Status: 200 OK`, then a blank line. */
function parseCgiHeaders(
  buf: Buffer,
): { status: number; headers: Record<string, string>; rest: Buffer } | undefined {
  let end = buf.indexOf("\r\n\r\n");
  let sep = 4;
  const lf = buf.indexOf("\n\n");
  if (lf >= 0 && (end < 0 || lf < end)) {
    end = lf;
    sep = 2;
  }
  if (end < 0) return undefined;
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of buf.toString("latin1", 0, end).split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === "status") status = Number.parseInt(value, 10) || 500;
    else headers[name] = value;
  }
  return { status, headers, rest: buf.subarray(end + sep) };
}
