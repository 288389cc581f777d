/**
 * Two branches compared without a pull request (the web UI's "New pull request"), GitHub's shape:
 *   GET /api/repos/:owner/:repo/compare/:base...:head ?page= &per_page=
 *     → {base_sha, head_sha, merge_base, commits: CommitView[], files: DiffPage}
 * The commits of head not in base (oldest first, at most 250) and the diff from their merge base
 * to head, paged by file as a pull request's. Read access. Branch names are checked with git's
 * rules before git sees them (no `-x`, `a..b`, spaces); an unknown branch is 404 and branches
 * with no common history are 422.
 */
import { Router } from "express";
import type { AppContext } from "../compose";
import { notFound, unprocessable } from "../errors";
import { diffPage, listCommits, mergeBase } from "../git/diff";
import type { Repository } from "../git/repos";
import { NameError, validateBranchName } from "../wire/names";
import { type CompareView, DiffQuery } from "../wire/pulls";
import { parseBody } from "./errors";
import { repoAccess } from "./repo-access";

/** As a pull request's commits tab. */
const MAX_COMMITS = 250;

function branch(name: string, field: string): string {
  try {
    return validateBranchName(name);
  } catch (err) {
    if (err instanceof NameError) throw unprocessable(`${field}: ${err.message}`, "invalid_branch");
    throw err;
  }
}

/** `base...head` (both branches; `feature/x` keeps its slash). */
function parseSpec(spec: string): { base: string; head: string } {
  const dots = spec.indexOf("...");
  if (dots <= 0 || dots + 3 >= spec.length)
    throw unprocessable("compare two branches as base...head", "invalid_compare");
  return { base: branch(spec.slice(0, dots), "base"), head: branch(spec.slice(dots + 3), "head") };
}

async function tip(ctx: AppContext, repo: Repository, name: string): Promise<string> {
  const sha = await ctx.git.resolveRef(repo, `refs/heads/${name}`);
  if (!sha) throw notFound(`no branch ${name} in ${repo.owner}/${repo.name}`);
  return sha;
}

export function compareRouter(ctx: AppContext): Router {
  const router = Router();
  router.get("/api/repos/:owner/:repo/compare/*spec", repoAccess(ctx, "read"), async (req, res) => {
    const repo = res.locals.repo!;
    const raw = req.params.spec as unknown;
    const { base, head } = parseSpec(Array.isArray(raw) ? raw.join("/") : String(raw));
    const q = parseBody(DiffQuery, req.query);
    const [baseSha, headSha] = await Promise.all([tip(ctx, repo, base), tip(ctx, repo, head)]);
    const gitDir = ctx.git.repos.gitDir(repo);
    const from = await mergeBase(gitDir, baseSha, headSha);
    if (!from) throw unprocessable(`${base} and ${head} share no history`, "no_common_history");
    const [{ commits }, files] = await Promise.all([
      listCommits(gitDir, from, headSha, { limit: MAX_COMMITS }),
      diffPage(gitDir, from, headSha, q),
    ]);
    res.json({
      base_sha: baseSha,
      head_sha: headSha,
      merge_base: from,
      commits,
      files,
    } satisfies CompareView);
  });
  return router;
}
