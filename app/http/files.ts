/**
 * SHA-addressed file serving (DESIGN.md §4):
 *   GET /api/:owner/:repo/refs/:ref            → {"commit"}, cacheable for 5 s
 *   GET /api/:owner/:repo/tree/:commit{/:path} → entries, immutable
 *   GET /api/:owner/:repo/blob/:commit/:path   → bytes, immutable
 * Content addressed by a full commit id never changes, so it is served with a strong ETag (the
 * object id) and, when public, a one-year immutable Cache-Control (private: `private, no-cache`);
 * revalidation needs only the path → id lookup.
 * User content is never given an active type: text/plain or octet-stream, nosniff, CSP sandbox.
 *
 * `FileServer` does the work on plain Node request/response objects and throws `AppError`
 * before writing anything when it cannot answer; the Express routes here and the fast path in
 * `fast-files.ts` are both thin adapters around it.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Router } from "express";
import type { AppContext } from "../compose";
import { AppError, badRequest, notFound } from "../errors";
import type { ObjectContent } from "../git/catfile";
import type { Caller, Repository } from "../git/repos";
import type { Logger } from "../log";
import type { ResolvedRef } from "../wire/api";
import { fullOid, NameError, RESERVED_OWNERS, validateRefName, validateTreePath } from "../wire/names";
import { authorizedRepo, type RepoAccessContext } from "./repo-access";

/** Blobs up to this size are read in one piece; larger ones are streamed. */
const BUFFERED_BLOB_BYTES = 256 * 1024;
/** How much of a blob is inspected to tell text from binary (as git does). */
const SNIFF_BYTES = 8000;

/** Route parameters, percent-decoded; `path` as segments (Express wildcard) or joined. */
export interface FileParams {
  owner: string;
  repo: string;
  sha: string;
  path?: readonly string[] | string;
}

export class FileServer {
  private readonly git: RepoAccessContext["git"];

  constructor(
    private readonly access: RepoAccessContext,
    private readonly log: Logger,
  ) {
    this.git = access.git;
  }

  async refs(res: ServerResponse, owner: string, name: string, ref: string, caller: Caller): Promise<void> {
    const valid = checked(() => validateRefName(ref));
    const { repo, gitDir } = await this.visible(owner, name, caller);
    const commit = await this.git.objects.resolveCommit(gitDir, valid);
    if (!commit) throw notFound(`ref ${valid} not found in ${repo.owner}/${repo.name}`);
    res.setHeader("Cache-Control", `${scope(repo)}, max-age=5`);
    sendJson(res, { commit } satisfies ResolvedRef);
  }

  async tree(req: IncomingMessage, res: ServerResponse, params: FileParams, caller: Caller): Promise<void> {
    const { commit, path } = target(params);
    const { repo, gitDir } = await this.visible(params.owner, params.repo, caller);
    const object = await this.resolve(gitDir, commit, path, "tree");
    immutable(res, repo, object.oid);
    if (notModified(req, res, object.oid)) return;
    const entries = await this.git.objects.readTree(gitDir, object.oid);
    if (!entries) throw notFound(`tree ${object.oid} not found`);
    sendJson(res, entries);
  }

  async blob(req: IncomingMessage, res: ServerResponse, params: FileParams, caller: Caller): Promise<void> {
    const { commit, path } = target(params);
    if (path === "") throw badRequest("a blob needs a path; use /tree/ for the root directory");
    const { repo, gitDir } = await this.visible(params.owner, params.repo, caller);
    const cached = this.git.blobs.get(repo.id, commit, path);
    if (cached) {
      blobHeaders(res, repo, cached.oid);
      if (notModified(req, res, cached.oid)) return;
      const info = { oid: cached.oid, type: "blob" as const, size: cached.data.length };
      return this.send(res, { info, data: cached.data });
    }
    if (req.headers["if-none-match"]) {
      // Revalidation: the path → id lookup alone decides, without reading the content.
      const object = await this.resolve(gitDir, commit, path, "blob");
      blobHeaders(res, repo, object.oid);
      if (notModified(req, res, object.oid)) return;
    }
    // Commit check and content in one round trip to cat-file.
    const found = await this.git.objects.contentsAt(gitDir, commit, path, BUFFERED_BLOB_BYTES);
    let content = found.content;
    if (found.commit?.type !== "commit") throw notFound(`commit ${commit} not found`);
    if (content?.info.type !== "blob") {
      throw notFound(content ? `'${path}' is a directory, not a file` : `path '${path}' not found`);
    }
    if (!content.data) {
      // Too large to hold in memory: stream it on a process of its own.
      content = await this.git.objects.stream(gitDir, content.info.oid);
      if (!content) throw notFound(`blob ${found.content?.info.oid} not found`);
    }
    if (content.data)
      this.git.blobs.set(repo.id, commit, path, { oid: content.info.oid, data: content.data });
    blobHeaders(res, repo, content.info.oid);
    await this.send(res, content);
  }

  /** The repository if the caller may read it; 404 otherwise, exactly as if it did not exist. */
  private async visible(owner: string, name: string, caller: Caller) {
    const repo = await authorizedRepo(this.access, caller, owner, name, "read");
    return { repo, gitDir: this.git.repos.gitDir(repo) };
  }

  private async resolve(gitDir: string, commit: string, path: string, want: "tree" | "blob") {
    const found = await this.git.objects.lookup(gitDir, commit, path);
    if (!found.found) {
      throw notFound(found.reason === "commit" ? `commit ${commit} not found` : `path '${path}' not found`);
    }
    if (found.object.type !== want) {
      throw notFound(
        want === "blob" ? `'${path}' is a directory, not a file` : `'${path}' is not a directory`,
      );
    }
    return found.object;
  }

  private async send(res: ServerResponse, content: ObjectContent): Promise<void> {
    res.setHeader("Content-Length", String(content.info.size));
    if (content.data) {
      res.setHeader("Content-Type", contentType(content.data.subarray(0, SNIFF_BYTES)));
      res.end(content.data);
      return;
    }
    const body = content.body!;
    const head = await peek(body, SNIFF_BYTES);
    res.setHeader("Content-Type", contentType(head));
    res.write(head);
    if (body.readableEnded) return void res.end();
    await new Promise<void>((resolve) => {
      body.on("error", (err) => {
        this.log.error({ err }, "blob stream failed");
        res.destroy(err);
      });
      res.once("close", () => {
        body.destroy(); // a client that left mid-blob makes the process dirty; the pool kills it
        resolve();
      });
      body.pipe(res);
    });
  }
}

export function filesRouter(ctx: AppContext): Router {
  const files = new FileServer(ctx, ctx.log);
  const router = Router();

  // Other areas own `/api/<reserved>/...`; leave those URLs to them.
  router.use("/api/:owner/:repo", (req, _res, next) => {
    next(RESERVED_OWNERS.has(String(req.params.owner).toLowerCase()) ? "router" : undefined);
  });

  router.get("/api/:owner/:repo/refs/*ref", async (req, res) => {
    const { owner, repo, ref } = req.params as unknown as { owner: string; repo: string; ref: string[] };
    await files.refs(res, owner, repo, ref.join("/"), { user: res.locals.user });
  });
  router.get("/api/:owner/:repo/tree/:sha{/*path}", async (req, res) => {
    await files.tree(req, res, req.params as unknown as FileParams, { user: res.locals.user });
  });
  router.get("/api/:owner/:repo/blob/:sha/*path", async (req, res) => {
    await files.blob(req, res, req.params as unknown as FileParams, { user: res.locals.user });
  });
  return router;
}

function checked<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof NameError) throw badRequest(err.message, "invalid_name");
    throw err;
  }
}

function target(params: FileParams): { commit: string; path: string } {
  const commit = fullOid(params.sha);
  if (!commit) {
    throw new AppError(
      400,
      "commit_sha_required",
      `'${params.sha.slice(0, 80)}' is not a full commit id: resolve the ref first with ` +
        `GET /api/${params.owner}/${params.repo}/refs/<ref> and use the commit it returns`,
    );
  }
  return { commit, path: checked(() => validateTreePath(params.path)) };
}

const scope = (repo: Repository) => (repo.visibility === "public" ? "public" : "private");

/**
 * Content by commit id never changes, so a public copy may be kept a year, anywhere (the edge caps
 * how long it serves one unrevalidated: docs/edge.md). A private one is never stored by a shared
 * cache (`private`) and is revalidated by the browser on every use (`no-cache`; the ETag makes that
 * a 304): once access is gone — removed, signed out, another person on the same browser — the
 * origin's 404 is what they see, not a copy kept for a year.
 */
export const contentCacheControl = (repo: Pick<Repository, "visibility">): string =>
  repo.visibility === "public" ? "public, max-age=31536000, immutable" : "private, no-cache";

function immutable(res: ServerResponse, repo: Repository, oid: string): void {
  res.setHeader("Cache-Control", contentCacheControl(repo));
  res.setHeader("ETag", `"${oid}"`);
}

function blobHeaders(res: ServerResponse, repo: Repository, oid: string): void {
  immutable(res, repo, oid);
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Content-Security-Policy", "sandbox");
}

/** If-None-Match against the object id, with the weak comparison RFC 9110 prescribes for it. */
function matches(req: IncomingMessage, oid: string): boolean {
  const header = req.headers["if-none-match"];
  if (!header) return false;
  if (header.trim() === "*") return true;
  const tag = `"${oid}"`;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === tag);
}

function notModified(req: IncomingMessage, res: ServerResponse, oid: string): boolean {
  if (!matches(req, oid)) return false;
  res.statusCode = 304;
  res.end();
  return true;
}

function sendJson(res: ServerResponse, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.setHeader("Content-Length", String(body.length));
  res.end(body);
}

/** Text unless a NUL byte appears near the start, the heuristic git itself uses. */
const contentType = (head: Buffer) =>
  head.includes(0) ? "application/octet-stream" : "text/plain; charset=utf-8";

/** Reads at least `n` bytes (or everything) from a stream without losing any. */
function peek(body: NodeJS.ReadableStream, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const finish = () => {
      body.off("data", onData);
      body.off("end", finish);
      body.off("error", reject);
      body.pause();
      resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= n) finish();
    };
    body.on("data", onData);
    body.once("end", finish);
    body.once("error", reject);
  });
}
