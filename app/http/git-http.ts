/**
 * Git smart HTTP at `/:owner/:repo.git` (the `.git` is optional): clone and fetch, and push with
 * a token. Git clients authenticate with HTTP Basic, the token as password; they send no
 * credentials until a 401 asks for them, so an anonymous request that needs a login gets
 * `WWW-Authenticate: Basic`. To someone without access, a private repository answers like a
 * missing one (401 while anonymous, 404 once authenticated).
 */
import path from "node:path";
import type { Request, Response } from "express";
import { Router } from "express";
import type { AppContext } from "../compose";
import { AppError, forbidden, unauthorized } from "../errors";
import { GitRequestError, type HttpBackendResult, serveHttpBackend } from "../git/http-backend";
import type { RefUpdate } from "../git/pktline";
import { decidePush, hookSetup } from "../git/protect";
import type { Caller, Repository } from "../git/repos";
import { RESERVED_OWNERS } from "../wire/names";
import { credentialsFrom } from "./auth";
import { findRepo, repoNotFound } from "./repo-access";

type Service = "git-upload-pack" | "git-receive-pack";

/** 1.5 MiB, 300 KiB, 12 B. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = Math.max(0, n);
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : Number(v.toFixed(1))} ${units[i]}`;
}

const basicChallenge = (message: string) => unauthorized(message, 'Basic realm="plue", charset="UTF-8"');

export function gitHttpRouter(ctx: AppContext): Router {
  const { git, log, permissions } = ctx;
  const router = Router();

  async function caller(req: Request): Promise<Caller | undefined> {
    // A malformed header gets the Basic challenge too, so git asks again instead of going anonymous.
    const credentials = credentialsFrom(req.headers.authorization, {
      basic: true,
      challenge: basicChallenge,
    });
    if (credentials === undefined) return undefined;
    const c = await git.callerForToken(credentials.token, credentials.username);
    if (!c) {
      throw basicChallenge(
        "invalid, expired or revoked token (or a username that is not the token's: use yours, or x-access-token)",
      );
    }
    return c;
  }

  async function handle(req: Request, res: Response, service: Service, tail: string) {
    const { owner, repo: name } = req.params as { owner: string; repo: string };
    const who = await caller(req);
    const found = await findRepo(git, owner, name, { fresh: true });
    const action = service === "git-receive-pack" ? "write" : "read";
    if (!who && (action === "write" || !found || !(await permissions.role({}, found)))) {
      throw basicChallenge(action === "write" ? "pushing needs a token" : "authentication required");
    }
    if (!found) throw repoNotFound(owner, name);
    const repo = found;
    try {
      await permissions.authorize(who ?? {}, repo, action);
    } catch (err) {
      // Shown by git as `remote: …` (it prints text/plain error bodies of ref discovery): the role
      // or the scope (repo:write) this caller lacks.
      if (!(err instanceof AppError) || err.status !== 403) throw err;
      res.status(403).type("text/plain").send(`${err.code}: ${err.message}\n`);
      return;
    }
    const user = who?.user;
    const limit = service === "git-receive-pack" ? await pushLimit(repo) : undefined;
    if (limit && limit.bytes <= 0) {
      // Shown by git as `remote: …` (it prints text/plain error bodies of ref discovery).
      res.status(507).type("text/plain").send(`${limit.message}\n`);
      return;
    }
    let result: HttpBackendResult;
    try {
      result = await serveHttpBackend(req, res, {
        projectRoot: git.repos.root,
        pathInfo: `/${repo.owner}/${repo.name}.git/${tail}`,
        remoteUser: user?.username,
        maxInputSize: limit?.bytes,
        limitMessage: limit?.message,
        ...(service === "git-receive-pack" ? { refPolicy: protectPush(repo, user) } : {}),
      });
    } catch (err) {
      if (err instanceof GitRequestError) {
        const message = err.code === "push_too_large" && limit ? limit.message : err.message;
        throw new AppError(err.status, err.code, message);
      }
      throw err;
    } finally {
      if (service === "git-receive-pack") git.sizes.forget(git.repos.gitDir(repo));
    }
    if (result.refused) {
      const level = result.refused === "disk_full" ? "error" : "info";
      log[level]({ repo: `${repo.owner}/${repo.name}`, reason: result.refused }, "push refused");
    }
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

  /** Branch protection of a push's ref commands (app/git/protect.ts). */
  function protectPush(repo: Repository, user: Caller["user"]) {
    const hooksDir = path.join(ctx.config.dataDir, "hooks");
    return async (commands: { updates: RefUpdate[]; complete: boolean }) =>
      hookSetup(
        hooksDir,
        await decidePush(ctx.db, ctx.protections, repo, user, commands.updates, commands.complete),
      );
  }

  /**
   * How large a push to `repo` may be: PLUE_MAX_PUSH_SIZE, or the room left under
   * PLUE_REPO_QUOTA when that is smaller (≤ 0: the repository is full). Undefined: no limit.
   */
  async function pushLimit(repo: Repository): Promise<{ bytes: number; message: string } | undefined> {
    const max = ctx.config.PLUE_MAX_PUSH_SIZE;
    const quota = ctx.config.PLUE_REPO_QUOTA;
    const full = `${repo.owner}/${repo.name}`;
    if (quota > 0) {
      const used = await git.repoSize(repo);
      const room = quota - used;
      if (max === 0 || room < max) {
        const message =
          room <= 0
            ? `${full} is over its size quota (${formatBytes(used)} of ${formatBytes(quota)}): pushes are refused until it is smaller`
            : `this push would take ${full} over its size quota of ${formatBytes(quota)} (${formatBytes(used)} used, ${formatBytes(room)} left)`;
        return { bytes: room, message: `quota_exceeded: ${message}` };
      }
    }
    if (max === 0) return undefined;
    return {
      bytes: max,
      message: `push_too_large: the push is larger than this server's limit of ${formatBytes(max)} (PLUE_MAX_PUSH_SIZE)`,
    };
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
