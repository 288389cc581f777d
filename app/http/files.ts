/**
 * SHA-addressed file serving (DESIGN.md §4):
 *   GET /api/:owner/:repo/refs/:ref           → {"commit"}, cacheable for 5 s
 *   GET /api/:owner/:repo/tree/:commit{/:path} → entries, immutable
 *   GET /api/:owner/:repo/blob/:commit/:path   → bytes, immutable
 * Content addressed by a full commit id never changes, so it is served with a one-year immutable
 * Cache-Control and a strong ETag (the object id); revalidation needs only the path → id lookup.
 * User content is never given an active type: text/plain or octet-stream, nosniff, CSP sandbox.
 */
import type { Request, Response } from "express";
import { Router } from "express";
import type { AppContext } from "../context";
import type { ObjectContent } from "../git/catfile";
import {
  fullOid,
  isRepoPath,
  NameError,
  RESERVED_OWNERS,
  validateRefName,
  validateTreePath,
} from "../git/names";
import { discard } from "../git/objects";
import type { Repository } from "../git/repos";
import { badRequest, HttpError, notFound } from "./errors";

/** Blobs up to this size are read in one piece; larger ones are streamed. */
const BUFFERED_BLOB_BYTES = 256 * 1024;
/** How much of a blob is inspected to tell text from binary (as git does). */
const SNIFF_BYTES = 8000;

export function filesRouter(ctx: AppContext): Router {
  const { git } = ctx;
  const router = Router();

  /** The repository if the caller may read it; 404 otherwise, exactly as if it did not exist. */
  async function visible(req: Request, res: Response): Promise<{ repo: Repository; gitDir: string }> {
    const { owner, repo: name } = req.params as { owner: string; repo: string };
    const repo = isRepoPath(owner, name)
      ? await git.visibleRepo({ user: res.locals.user }, owner, name)
      : undefined;
    if (!repo) throw notFound(`repository ${owner}/${name} not found`);
    return { repo, gitDir: git.repos.gitDir(repo) };
  }

  // Other areas own `/api/<reserved>/...`; leave those URLs to them.
  router.use("/api/:owner/:repo", (req, _res, next) => {
    next(RESERVED_OWNERS.has(String(req.params.owner).toLowerCase()) ? "router" : undefined);
  });

  router.get("/api/:owner/:repo/refs/*ref", async (req, res) => {
    const ref = checked(() => validateRefName((req.params.ref as unknown as string[]).join("/")));
    const { repo, gitDir } = await visible(req, res);
    const commit = await git.objects.resolveCommit(gitDir, ref);
    if (!commit) throw notFound(`ref ${ref} not found in ${repo.owner}/${repo.name}`);
    res.setHeader("Cache-Control", `${scope(repo)}, max-age=5`);
    res.json({ commit });
  });

  router.get("/api/:owner/:repo/tree/:sha{/*path}", async (req, res) => {
    const { commit, path } = target(req);
    const { repo, gitDir } = await visible(req, res);
    const object = await resolve(gitDir, commit, path, "tree");
    immutable(res, repo, object.oid);
    if (notModified(req, res, object.oid)) return;
    const entries = await git.objects.readTree(gitDir, object.oid);
    if (!entries) throw notFound(`tree ${object.oid} not found`);
    res.json(entries);
  });

  router.get("/api/:owner/:repo/blob/:sha/*path", async (req, res) => {
    const { commit, path } = target(req);
    if (path === "") throw badRequest("a blob needs a path; use /tree/ for the root directory");
    const { repo, gitDir } = await visible(req, res);
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Content-Security-Policy", "sandbox");
    if (req.headers["if-none-match"]) {
      // Revalidation: the path → id lookup alone decides, without reading the content.
      const object = await resolve(gitDir, commit, path, "blob");
      immutable(res, repo, object.oid);
      if (notModified(req, res, object.oid)) return;
    }
    // Commit check and content in one round trip to cat-file.
    const found = await git.objects.contentsAt(gitDir, commit, path, BUFFERED_BLOB_BYTES);
    const content = found.content;
    if (found.commit?.type !== "commit" || content?.info.type !== "blob") {
      discard(content);
      if (found.commit?.type !== "commit") throw notFound(`commit ${commit} not found`);
      throw notFound(content ? `'${path}' is a directory, not a file` : `path '${path}' not found`);
    }
    immutable(res, repo, content.info.oid);
    await sendBlob(req, res, content);
  });

  async function resolve(gitDir: string, commit: string, path: string, want: "tree" | "blob") {
    const found = await git.objects.lookup(gitDir, commit, path);
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

  async function sendBlob(req: Request, res: Response, content: ObjectContent) {
    res.setHeader("Content-Length", String(content.info.size));
    if (content.data) {
      res.setHeader("Content-Type", contentType(content.data.subarray(0, SNIFF_BYTES)));
      res.end(content.data);
      return;
    }
    const { body } = content;
    const head = await peek(body, SNIFF_BYTES);
    res.setHeader("Content-Type", contentType(head));
    res.write(head);
    if (body.readableEnded) return void res.end();
    await new Promise<void>((resolve) => {
      body.on("error", (err) => {
        req.log?.error({ err }, "blob stream failed");
        res.destroy(err);
      });
      res.once("close", () => {
        body.destroy(); // a client that left mid-blob makes the process dirty; the pool kills it
        resolve();
      });
      body.pipe(res);
    });
  }

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

function target(req: Request): { commit: string; path: string } {
  const sha = String(req.params.sha);
  const commit = fullOid(sha);
  if (!commit) {
    throw new HttpError(
      400,
      "commit_sha_required",
      `'${sha.slice(0, 80)}' is not a full commit id: resolve the ref first with ` +
        `GET /api/${req.params.owner}/${req.params.repo}/refs/<ref> and use the commit it returns`,
    );
  }
  const path = checked(() => validateTreePath(req.params.path as unknown as string[] | undefined));
  return { commit, path };
}

const scope = (repo: Repository) => (repo.visibility === "public" ? "public" : "private");

function immutable(res: Response, repo: Repository, oid: string): void {
  res.setHeader("Cache-Control", `${scope(repo)}, max-age=31536000, immutable`);
  res.setHeader("ETag", `"${oid}"`);
}

/** If-None-Match (weak comparison, as RFC 9110 prescribes for it) against the object id. */
function notModified(req: Request, res: Response, oid: string): boolean {
  const header = req.headers["if-none-match"];
  if (!header) return false;
  const match =
    header.trim() === "*" || header.split(",").some((tag) => tag.trim().replace(/^W\//, "") === `"${oid}"`);
  if (match) {
    res.status(304).end();
  }
  return match;
}

/** Text unless a NUL byte appears near the start, the heuristic git itself uses. */
const contentType = (head: Buffer) =>
  head.includes(0) ? "application/octet-stream" : "text/plain; charset=utf-8";

/** Reads at least `n` bytes (or everything) from a stream without losing any. */
function peek(body: NodeJS.ReadableStream & { readableEnded: boolean }, n: number): Promise<Buffer> {
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
