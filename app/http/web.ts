/**
 * The web UI's server side (docs/web.md):
 *   GET /_astro/<name>.<hash>.(js|css|map)          → bundled assets, immutable for a year
 *   GET / · /login · /signup · /password · /sessions/:id · /runs/:id ·
 *       /settings/tokens · /orgs/new · /admin/(users|invites|audit) · /:owner ·
 *       /:owner/:repo[/tree|blob/<ref>/<path>] ·
 *       /:owner/:repo/(runs|settings|issues[/new|/:n]|pulls[/:n[/commits|/files]]|compare/<b>...<h>)
 *                                                   → an HTML shell; the page script renders it
 *   GET /api/config                                 → what the UI needs to know about this server
 *   GET /api/repos/:owner/:repo/markdown/:sha/*path → a Markdown file rendered to sanitised HTML
 *
 * Pages carry nothing personal (the script asks who is signed in: a cookie session, or an API
 * token kept in localStorage and sent as a Bearer header), so the shell is the same for
 * everyone; it is still `no-cache` so a deploy shows at once. A strict CSP allows only this origin's script,
 * styles and connections: no inline script, no request to another host.
 *
 * Mounted last (app/http/routes.ts): every API route, git smart HTTP and /metrics win.
 */
import { type Request, type Response, Router } from "express";
import { hasModelCredentials } from "../../runner/model";
import { ASSET_PREFIX, loadWebAssets } from "../../web/build";
import { parseRoute, type Route, urls } from "../../web/src/routes";
import type { AppContext } from "../compose";
import { AppError, badRequest, notFound } from "../errors";
import type { ConfigView, MarkdownView } from "../wire/api";
import { fullOid, NameError, validateTreePath } from "../wire/names";
import { contentCacheControl } from "./files";
import { repoAccess } from "./repo-access";

/** Markdown files larger than this are not rendered (the UI shows them as text instead). */
export const MAX_MARKDOWN_BYTES = 512 * 1024;

export const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const IMMUTABLE = "public, max-age=31536000, immutable";

export function webRouter(ctx: AppContext): Router {
  const router = Router();

  router.get(`${ASSET_PREFIX}:name`, async (req, res) => {
    const assets = await loadWebAssets();
    const file = assets.files.get(req.params.name as string);
    if (!file) throw notFound(`no asset ${req.params.name}`);
    res.set({
      "Content-Type": file.type,
      "Cache-Control": IMMUTABLE,
      "X-Content-Type-Options": "nosniff",
      "Access-Control-Allow-Origin": "*", // served from the asset origin too
    });
    res.send(file.body);
  });

  router.get("/api/config", (_req, res) => {
    const user = res.locals.user;
    res.set("Cache-Control", "private, no-store");
    res.json({
      user: user ? { username: user.username, admin: user.is_admin } : null,
      agents: agentsStatus(ctx),
    } satisfies ConfigView);
  });

  router.get("/api/repos/:owner/:repo/markdown/:sha/*path", repoAccess(ctx, "read"), async (req, res) => {
    await renderMarkdown(ctx, req, res);
  });

  router.get("/{*page}", async (req, res, next) => {
    const route = parseRoute(req.path);
    if (!route) return next();
    const assets = await loadWebAssets();
    res.set({
      "Content-Type": "text/html; charset=utf-8",
      "Cache-Control": "no-cache",
      "Content-Security-Policy": PAGE_CSP,
      "X-Content-Type-Options": "nosniff",
      "X-Frame-Options": "DENY",
      "Referrer-Policy": "same-origin",
    });
    res.send(shell(route, assets));
  });

  return router;
}

/** Whether agent chat can work here, and if not, what is missing, in words a user can act on. */
function agentsStatus(ctx: AppContext): ConfigView["agents"] {
  // Kubernetes runners get the key from their own secret; the app cannot see it from here.
  if (ctx.config.RUNNER_MODE === "kubernetes" || hasModelCredentials()) return { configured: true };
  return {
    configured: false,
    message:
      "Agents are not configured: ANTHROPIC_API_KEY is not set in the environment of the Plue server, " +
      "so runners cannot call the model. Set it (and ANTHROPIC_BASE_URL for a proxy) and restart.",
  };
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

function pageTitle(route: Route): string {
  switch (route.page) {
    case "home":
      return "Plue";
    case "login":
      return "Sign in · Plue";
    case "signup":
      return "Create an account · Plue";
    case "password":
      return "Set your password · Plue";
    case "tokens":
      return "Access tokens · Plue";
    case "new-org":
      return "New organization · Plue";
    case "admin-users":
      return "Users · Plue";
    case "admin-invites":
      return "Invites · Plue";
    case "admin-audit":
      return "Audit log · Plue";
    case "owner":
      return `${route.owner} · Plue`;
    case "repo-settings":
      return `Settings · ${route.owner}/${route.repo} · Plue`;
    case "session":
      return "Agent chat · Plue";
    case "run":
      return "Workflow run · Plue";
    case "runs":
      return `Runs · ${route.owner}/${route.repo} · Plue`;
    case "repo":
      return `${route.owner}/${route.repo} · Plue`;
    case "issues":
    case "issue-new":
    case "issue":
      return `Issues · ${route.owner}/${route.repo} · Plue`;
    case "pulls":
    case "pull":
      return `Pull requests · ${route.owner}/${route.repo} · Plue`;
    case "compare":
      return `Compare · ${route.owner}/${route.repo} · Plue`;
  }
}

/** The HTML every page starts as: landmarks, a status line, and the one script that fills them. */
function shell(route: Route, assets: { script: string; style: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(pageTitle(route))}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${escapeHtml(assets.style)}">
<script type="module" src="${escapeHtml(assets.script)}"></script>
</head>
<body data-page="${route.page}">
<a class="skip" href="#main">Skip to content</a>
<header class="topbar">
<a class="brand" href="${urls.home()}">Plue</a>
<nav aria-label="Account" id="account"></nav>
</header>
<main id="main" tabindex="-1"><p class="muted" role="status">Loading…</p></main>
<noscript><p class="notice">This page needs JavaScript. The API is at <code>/api</code>.</p></noscript>
</body>
</html>
`;
}

// ---- Markdown ------------------------------------------------------------------------------

/**
 * Renders a Markdown blob at a commit. The answer depends only on the URL (commit + path), so it
 * is immutable like the blob itself. Relative links point at the file browser at that commit;
 * relative images at the blob endpoint; images on other hosts become links (the page's CSP would
 * block them, and the UI makes no request to outside hosts). The repository is the route's
 * `res.locals.repo` (repoAccess).
 */
async function renderMarkdown(ctx: AppContext, req: Request, res: Response): Promise<void> {
  const commit = fullOid(req.params.sha as string);
  if (!commit) throw badRequest("a full commit id is required", "commit_sha_required");
  let path: string;
  try {
    path = validateTreePath(req.params.path as unknown as string[]);
  } catch (err) {
    if (err instanceof NameError) throw badRequest(err.message, "invalid_name");
    throw err;
  }
  const repo = res.locals.repo!;
  const gitDir = ctx.git.repos.gitDir(repo);
  const found = await ctx.git.objects.lookup(gitDir, commit, path);
  if (!found.found)
    throw notFound(found.reason === "commit" ? `commit ${commit} not found` : `path '${path}' not found`);
  if (found.object.type !== "blob") throw notFound(`'${path}' is not a file`);
  if (found.object.size > MAX_MARKDOWN_BYTES) {
    throw new AppError(
      413,
      "too_large",
      `'${path}' is larger than ${MAX_MARKDOWN_BYTES} bytes; not rendered`,
    );
  }
  const blob = await ctx.git.objects.read(gitDir, found.object.oid);
  if (!blob) throw notFound(`blob ${found.object.oid} not found`);
  // Loaded on first use: the Markdown and sanitiser libraries are a fifth of a second at start.
  const { markdownToSafeHtml } = await import("./markdown");
  const html = markdownToSafeHtml(blob.data.toString("utf8"), {
    owner: repo.owner,
    repo: repo.name,
    commit,
    dir: path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "",
  });
  // Rendered from content by commit id: cached like the blob itself (files.ts says why).
  res.set("Cache-Control", contentCacheControl(repo));
  res.json({ html } satisfies MarkdownView);
}
