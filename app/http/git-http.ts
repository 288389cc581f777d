/**
 * Git smart HTTP at `/:owner/:repo.git` (the `.git` is optional): clone and fetch, and push with
 * a token. Git clients authenticate with HTTP Basic, the token as password; they send no
 * credentials until a 401 asks for them, so an anonymous request that needs a login gets
 * `WWW-Authenticate: Basic`. To someone without access, a private repository answers like a
 * missing one (401 while anonymous, 404 once authenticated).
 */
import type { Request, Response } from "express";
import { Router } from "express";
import type { AppContext } from "../context";
import { serveHttpBackend } from "../git/http-backend";
import { isRepoPath, RESERVED_OWNERS } from "../git/names";
import { type Caller, canRead, canWrite } from "../git/repos";
import { tokenFrom } from "./auth";
import { forbidden, HttpError, notFound } from "./errors";

type Service = "git-upload-pack" | "git-receive-pack";

const basicChallenge = (message: string) =>
  new HttpError(401, "unauthorized", message, { "WWW-Authenticate": 'Basic realm="plue", charset="UTF-8"' });

export function gitHttpRouter(ctx: AppContext): Router {
  const { git, log } = ctx;
  const router = Router();

  async function caller(req: Request): Promise<Caller | undefined> {
    const token = tokenFrom(req.headers.authorization);
    if (token === undefined) return undefined;
    const c = await git.callerForToken(token);
    if (!c) throw basicChallenge("invalid or revoked token");
    return c;
  }

  async function handle(req: Request, res: Response, service: Service, tail: string) {
    const { owner, repo: name } = req.params as { owner: string; repo: string };
    const who = await caller(req);
    const repo = isRepoPath(owner, name) ? await git.repos.find(owner, name) : undefined;
    const readable = repo !== undefined && canRead(who ?? {}, repo);
    if (!who && (service === "git-receive-pack" || !readable)) {
      throw basicChallenge(
        service === "git-receive-pack" ? "pushing needs a token" : "authentication required",
      );
    }
    if (!repo || !readable) throw notFound(`repository ${owner}/${name} not found`);
    if (service === "git-receive-pack" && !canWrite(who ?? {}, repo)) {
      throw forbidden(`you may not push to ${repo.owner}/${repo.name}`);
    }
    const user = who?.user;
    const result = await serveHttpBackend(req, res, {
      projectRoot: git.repos.root,
      pathInfo: `/${repo.owner}/${repo.name}.git/${tail}`,
      remoteUser: user?.username,
    });
    if (result.exitCode !== 0) {
      log.warn(
        { repo: `${repo.owner}/${repo.name}`, service, code: result.exitCode, stderr: result.stderr },
        "git http-backend failed",
      );
    }
    const updates =
      result.updated ?? (result.unreported ? await git.verifyUpdates(repo, result.unreported) : []);
    if (updates.length > 0) await git.recordPush(repo, user, updates);
  }

  const skipReserved = (req: Request) => RESERVED_OWNERS.has(String(req.params.owner).toLowerCase());

  router.get("/:owner/:repo{.git}/info/refs", async (req, res, next) => {
    if (skipReserved(req)) return next();
    const service = req.query.service;
    if (service !== "git-upload-pack" && service !== "git-receive-pack") {
      throw forbidden("only git's smart HTTP protocol is served (git 1.6.6 or newer)");
    }
    await handle(req, res, service, "info/refs");
  });

  for (const service of ["git-upload-pack", "git-receive-pack"] as const) {
    router.post(`/:owner/:repo{.git}/${service}`, async (req, res, next) => {
      if (skipReserved(req)) return next();
      await handle(req, res, service, service);
    });
  }

  return router;
}
