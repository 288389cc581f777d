/**
 * Git's smart HTTP protocol, served by `git http-backend` as a CGI child: the request body
 * streams into its stdin and its stdout streams back to the client, both with backpressure, so
 * packs are never held in memory. For receive-pack the ref-update commands at the start of the
 * request and the per-ref status report at the end of the response are parsed on the side.
 */
import { spawn } from "node:child_process";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable, Writable } from "node:stream";
import zlib from "node:zlib";
import { DISK_FULL_TEXT } from "../disk-full";
import { gitEnv } from "./exec";
import { PktLineParser, ReceivePackCommands, type RefUpdate, ReportStatus } from "./pktline";
import type { HookSetup } from "./protect";

export interface HttpBackendOptions {
  /** Directory holding `<owner>/<name>.git`. */
  projectRoot: string;
  /** `/<owner>/<name>.git/<info/refs | git-upload-pack | git-receive-pack>` from validated names. */
  pathInfo: string;
  /** Set for authenticated callers; http-backend enables receive-pack only when it is set. */
  remoteUser?: string;
  /**
   * receive-pack: the largest pack it may read (`receive.maxInputSize`), and with the ref commands
   * on top the largest request body, counted after inflating gzip. Past it the push is refused
   * and `limitMessage` is shown to the client.
   */
  maxInputSize?: number;
  limitMessage?: string;
  /**
   * receive-pack: decides the push's ref commands once they are read (branch protection,
   * app/git/protect.ts); the answer's settings and environment go to the http-backend child.
   */
  refPolicy?: (commands: { updates: RefUpdate[]; complete: boolean }) => Promise<HookSetup | undefined>;
}

export interface HttpBackendResult {
  exitCode: number | null;
  /** Whether the whole response reached the client. */
  completed: boolean;
  /** For receive-pack: the ref updates receive-pack reported as done. */
  updated?: RefUpdate[];
  /** For receive-pack without a status report (very old clients): the updates it was asked for. */
  unreported?: RefUpdate[];
  /** For receive-pack: why nothing was stored, when the limit or a full disk refused the push. */
  refused?: "too_large" | "disk_full";
  stderr: string;
}

/** A request http-backend must not see: the caller answers it with this status and message. */
export class GitRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "GitRequestError";
  }
}

/** The report is small (status lines plus side-band progress); more than this is not a report. */
const MAX_REPORT_BYTES = 4 * 1024 * 1024;
const MAX_CGI_HEADER_BYTES = 64 * 1024;
/** Room for the ref-update commands in front of the pack, on top of `maxInputSize`. */
const COMMANDS_ALLOWANCE = 1024 * 1024;
/** How much of a receive-pack command list is checked before http-backend starts. */
const PRELUDE_BYTES = 64 * 1024;

export async function serveHttpBackend(
  req: IncomingMessage,
  res: ServerResponse,
  options: HttpBackendOptions,
): Promise<HttpBackendResult> {
  const post = req.method === "POST";
  const receivePack = post && options.pathInfo.endsWith("/git-receive-pack");
  const limit = receivePack && options.maxInputSize !== undefined ? options.maxInputSize : undefined;
  const bodyLimit = limit === undefined ? undefined : limit + COMMANDS_ALLOWANCE;
  const h = req.headers;
  const gzip = /gzip/i.test(String(h["content-encoding"] ?? ""));
  const declared = h["content-length"] && /^\d+$/.test(h["content-length"]) ? h["content-length"] : undefined;
  if (bodyLimit !== undefined && declared !== undefined && Number(declared) > bodyLimit) {
    throw new GitRequestError(413, "push_too_large", options.limitMessage ?? "the push is too large");
  }
  // The body reaches http-backend inflated (so its size after inflating is what is counted), and
  // checked to be pkt-line framed before http-backend starts (it answers garbage with an empty 200).
  const body = post ? await readPrelude(req, gzip, receivePack, bodyLimit) : undefined;

  const query = req.url?.includes("?") ? req.url.slice(req.url.indexOf("?") + 1) : "";
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
  if (declared !== undefined && !gzip) env.CONTENT_LENGTH = declared;
  const config: Array<[string, string]> = [];
  if (limit !== undefined) config.push(["receive.maxInputSize", String(limit)]);
  const commands = body?.commands;
  const hooks =
    commands && (await options.refPolicy?.({ updates: commands.updates, complete: commands.complete }));
  if (hooks) {
    config.push(...hooks.config);
    Object.assign(env, hooks.env);
  }
  // Command-line level configuration (git ≥ 2.31): applies to every repository, old or new.
  if (config.length > 0) env.GIT_CONFIG_COUNT = String(config.length);
  config.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  const protocol = h["git-protocol"];
  if (typeof protocol === "string" && /^[\w.=:-]{1,100}$/.test(protocol)) env.GIT_PROTOCOL = protocol;

  const child = spawn("git", ["http-backend"], { env: gitEnv(env), stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString("utf8")).slice(-4000);
  });
  child.stdin.on("error", () => {}); // EPIPE when http-backend stops reading early: its answer says why
  let overLimit = false;
  if (body) {
    body.feed(child.stdin, () => {
      overLimit = true;
    });
  } else child.stdin.end();

  // The client went away: stop a fetch. A push is left to finish, since refs it already updated
  // must still produce their events (its report is read from the pipe, not from the client).
  res.on("close", () => {
    if (!receivePack && !res.writableFinished && child.exitCode === null) child.kill("SIGTERM");
  });

  // receive-pack's answer (the status report and progress, small) is held until it exits, so that
  // a refusal can be explained to the client in a `remote:` line ahead of git's own.
  const report: Buffer[] = [];
  let reportBytes = 0;
  let holding = receivePack;
  let head: { status: number; headers: Record<string, string> } | undefined;
  const send = (chunk: Buffer) => {
    if (chunk.length === 0 || res.destroyed || res.writableEnded) return;
    if (!res.headersSent && head) res.writeHead(head.status, head.headers);
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
  const forward = (chunk: Buffer) => {
    if (chunk.length === 0) return;
    if (receivePack && reportBytes < MAX_REPORT_BYTES) {
      report.push(chunk);
      reportBytes += chunk.length;
      if (holding) return;
    }
    if (holding) {
      // Not a report after all: stop holding and stream what there is.
      holding = false;
      send(Buffer.concat(report));
    }
    send(chunk);
  };
  let cgi: Buffer | undefined = Buffer.alloc(0);
  child.stdout.on("data", (chunk: Buffer) => {
    if (cgi === undefined) return forward(chunk);
    cgi = Buffer.concat([cgi, chunk]);
    const parsed = parseCgiHeaders(cgi);
    if (!parsed) {
      if (cgi.length > MAX_CGI_HEADER_BYTES) child.kill("SIGKILL");
      return;
    }
    cgi = undefined;
    head = { status: parsed.status, headers: parsed.headers };
    if (!holding) res.writeHead(parsed.status, parsed.headers);
    forward(parsed.rest);
  });

  const exitCode = await new Promise<number | null>((resolve) => {
    child.on("error", () => resolve(null));
    child.on("close", (code) => resolve(code));
  });
  const output = Buffer.concat(report);
  const refused = receivePack
    ? overLimit || /exceeds maximum allowed size/.test(output.toString("latin1"))
      ? "too_large"
      : DISK_FULL_TEXT.test(output.toString("latin1")) || DISK_FULL_TEXT.test(stderr)
        ? "disk_full"
        : undefined
    : undefined;
  if (holding) {
    const sideband =
      body?.commands?.capabilities.has("side-band-64k") || body?.commands?.capabilities.has("side-band");
    const note = refused && sideband ? sidebandMessage(refusalText(refused, options)) : Buffer.alloc(0);
    if (head && !res.headersSent && !res.destroyed) res.writeHead(head.status, head.headers);
    send(Buffer.concat([note, output]));
  }
  if (!res.headersSent) {
    res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
    res.end("git http-backend failed\n");
  } else if (!res.writableEnded) res.end();
  const completed = exitCode === 0 && res.writableEnded && !res.destroyed;
  if (!commands || exitCode !== 0) return { exitCode, completed, stderr, refused };
  const caps = commands.capabilities;
  if (!caps.has("report-status") && !caps.has("report-status-v2")) {
    return { exitCode, completed, stderr, refused, unreported: commands.updates };
  }
  const status = new ReportStatus(caps.has("side-band-64k") || caps.has("side-band"));
  status.push(output);
  const updated = status.unpackOk ? commands.updates.filter((u) => status.ok.has(u.ref)) : [];
  return { exitCode, completed, stderr, refused, updated };
}

function refusalText(reason: "too_large" | "disk_full", options: HttpBackendOptions): string {
  if (reason === "too_large") return `error: ${options.limitMessage ?? "the push is too large"}`;
  return "error: the server's disk is full: this push was not stored (nothing already stored was changed); try again later";
}

/** One side-band channel-2 packet: git clients print it as `remote: <text>`. */
function sidebandMessage(text: string): Buffer {
  const payload = Buffer.concat([Buffer.from([2]), Buffer.from(`${text}\n`, "utf8")]);
  return Buffer.concat([Buffer.from((payload.length + 4).toString(16).padStart(4, "0"), "latin1"), payload]);
}

interface RequestBody {
  /** receive-pack: the ref updates and capabilities, parsed as the body passes. */
  commands?: ReceivePackCommands;
  /** Writes the body into `sink` (what was read so far, then the rest), with backpressure. */
  feed(sink: Writable, onOverLimit: () => void): void;
}

/**
 * Reads the start of a request body (inflated) until it is known to be pkt-line framed: for
 * receive-pack the command list up to its flush (or PRELUDE_BYTES of it), for upload-pack the
 * first packet. Throws GitRequestError (400) for a body that is not, or (413) past `limit`.
 */
function readPrelude(
  req: IncomingMessage,
  gzip: boolean,
  receivePack: boolean,
  limit: number | undefined,
): Promise<RequestBody> {
  const source: Readable = gzip ? req.pipe(zlib.createGunzip()) : req;
  const commands = receivePack ? new ReceivePackCommands() : undefined;
  let first = false;
  const probe =
    commands ??
    new PktLineParser(() => {
      first = true;
      return false; // upload-pack: its first packet is enough
    });
  const held: Buffer[] = [];
  let bytes = 0;
  let raw = 0;
  let sink: Writable | undefined;
  let overLimit: (() => void) | undefined;
  let tripped = false;

  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (status: number, code: string, message: string) => {
      if (settled) return;
      settled = true;
      source.removeAllListeners("data");
      reject(new GitRequestError(status, code, message));
    };
    const ready = () => {
      if (settled) return;
      settled = true;
      // Until http-backend is there to read it (the ref policy may ask the database first).
      if (!ended) source.pause();
      resolve({
        commands,
        feed(s, onOverLimit) {
          sink = s;
          overLimit = onOverLimit;
          for (const c of held.splice(0)) s.write(c);
          if (ended) s.end();
          else source.resume();
        },
      });
    };
    const trip = () => {
      // Stop feeding: receive-pack sees the pack end early and refuses it; the rest of the body
      // is not read (the connection closes after the answer).
      tripped = true;
      source.removeAllListeners("data");
      req.unpipe();
      source.pause();
      overLimit?.();
      sink?.end();
    };
    req.on("data", (c: Buffer) => {
      raw += c.length;
      if (limit !== undefined && raw > limit && !tripped) {
        if (!settled) fail(413, "push_too_large", "the push is too large");
        else trip();
      }
    });
    let ended = false;
    source.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      if (limit !== undefined && bytes > limit) {
        if (!settled) return fail(413, "push_too_large", "the push is too large");
        return trip();
      }
      if (!probe.done || commands) probe.push(chunk);
      if (sink) {
        if (!sink.write(chunk)) {
          source.pause();
          sink.once("drain", () => source.resume());
        }
        return;
      }
      held.push(chunk);
      if (probe.malformed) return fail(400, "malformed_request", malformedMessage(probe.malformed));
      if (probe.done || (commands && bytes - probe.buffered >= PRELUDE_BYTES)) ready();
    });
    source.on("end", () => {
      ended = true;
      if (sink) return void sink.end();
      if (bytes === 0) return fail(400, "malformed_request", malformedMessage("the request body is empty"));
      if (commands && !commands.complete)
        return fail(
          400,
          "malformed_request",
          malformedMessage("the command list ends without a flush packet"),
        );
      if (!commands && !first)
        return fail(400, "malformed_request", malformedMessage("the body ends inside its first packet"));
      ready();
    });
    source.on("error", (err) => {
      if (!settled)
        return fail(400, "malformed_request", `the request body is not valid gzip: ${err.message}`);
      sink?.end();
    });
  });
}

const malformedMessage = (why: string) =>
  `not a git smart-HTTP request body (${why}): send it with a git client`;

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
