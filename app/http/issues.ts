/**
 * Issues, labels, comments, reactions and the timeline (docs/pulls.md, "Issues"), in GitHub's
 * shapes (app/wire/pulls.ts):
 *   GET/POST   /api/repos/:o/:r/issues                 list (issues only) / open
 *   GET/PATCH  /api/repos/:o/:r/issues/:n              an issue or a pull request's issue half
 *   GET/POST   /api/repos/:o/:r/issues/:n/comments     conversation comments, oldest first
 *   GET/PATCH/DELETE …/issues/comments/:id              one comment (author or admin changes it)
 *   POST       …/issues/:n/labels {labels}, DELETE …/issues/:n/labels/:name
 *   GET        …/issues/:n/timeline
 *   POST       …/issues/:n/reactions {content}, …/issues/comments/:id/reactions (toggle);
 *   DELETE     …/issues/:n/reactions/:content, …/issues/comments/:id/reactions/:content
 *   GET/POST   /api/repos/:o/:r/labels, GET/PATCH/DELETE …/labels/:name
 * read sees; write opens, edits, comments and labels; reacting needs read (and a token that may
 * write). Single reads carry `body_html`, rendered by the Markdown sanitizer at the default branch.
 */
import { type Request, type Response, Router } from "express";
import { z } from "zod";
import type { AppContext } from "../compose";
import { AppError, badRequest } from "../errors";
import type { Repository } from "../git/repos";
import { createLabel, deleteLabel, findLabel, listLabels, updateLabel } from "../issues/labels";
import {
  type CommentView,
  CreateComment,
  CreateIssue,
  CreateLabel,
  CreateReaction,
  type IssueView,
  ListQuery,
  REACTIONS,
  UpdateComment,
  UpdateIssue,
  UpdateLabel,
} from "../wire/pulls";
import { requireScope, requireUser } from "./auth";
import { parseBody } from "./errors";
import { repoAccess } from "./repo-access";

const PageQuery = z.object({
  page: z.coerce.number().int().min(1).max(100000).default(1),
  per_page: z.coerce.number().int().min(1).max(100).default(30),
});
const AddLabels = z.strictObject({ labels: z.array(z.string().trim().min(1).max(50)).min(1).max(20) });
const ReactionParam = z.enum(REACTIONS);
/** The largest body accepted, in bytes (the schema counts characters: this is the byte bound). */
const MAX_BODY_BYTES = 65536;

export function issuesRouter(ctx: AppContext): Router {
  const router = Router();
  const issues = ctx.issues;
  const talk = issues.conversation;
  const base = "/api/repos/:owner/:repo";
  const read = repoAccess(ctx, "read");
  const write = [requireUser, repoAccess(ctx, "write")];
  const repo = (res: Response): Repository => res.locals.repo!;
  const user = (res: Response) => res.locals.user!;

  const withHtml = async <T extends IssueView | CommentView>(r: Repository, view: T): Promise<T> => {
    const { markdownToSafeHtml } = await import("./markdown");
    const commit = (await ctx.git.resolveRef(r, r.defaultBranch)) ?? r.defaultBranch;
    return {
      ...view,
      body_html: markdownToSafeHtml(view.body, { owner: r.owner, repo: r.name, commit, dir: "" }),
    };
  };

  // Postgres text cannot hold NUL: refuse it anywhere in these routes' input, before it gets there.
  router.use([`${base}/issues`, `${base}/labels`], (req, _res, next) => {
    if (/%00/.test(req.originalUrl) || hasNul(req.body))
      throw badRequest("NUL characters are not allowed", "invalid_request");
    next();
  });

  // ---- issues ----
  router.get(`${base}/issues`, read, async (req, res) => {
    res.json(await issues.list(repo(res), parseBody(ListQuery, req.query)));
  });
  router.post(`${base}/issues`, ...write, async (req, res) => {
    const input = parseBody(CreateIssue, sized(req));
    res.status(201).json(await withHtml(repo(res), await issues.create(repo(res), user(res), input)));
  });

  // ---- one comment (before `issues/:n`, whose `:n` would take "comments") ----
  const comment = `${base}/issues/comments/:id`;
  router.get(comment, read, async (req, res) => {
    res.json(await withHtml(repo(res), await talk.comment(repo(res), id(req))));
  });
  router.patch(comment, requireUser, read, async (req, res) => {
    const { body } = parseBody(UpdateComment, sized(req));
    res.json(await withHtml(repo(res), await talk.editComment(repo(res), user(res), id(req), body)));
  });
  router.delete(comment, requireUser, read, async (req, res) => {
    await talk.deleteComment(repo(res), user(res), id(req));
    res.status(204).end();
  });
  const react = [requireUser, read, requireScope("repo:write")];
  router.post(`${comment}/reactions`, ...react, async (req, res) => {
    const { content } = parseBody(CreateReaction, req.body ?? {});
    const r = await talk.react(repo(res), user(res), { commentId: id(req) }, content);
    res.status(r.reacted ? 201 : 200).json(r);
  });
  router.delete(`${comment}/reactions/:content`, ...react, async (req, res) => {
    const content = parseBody(ReactionParam, req.params.content);
    res.json(await talk.unreact(repo(res), user(res), { commentId: id(req) }, content));
  });

  // ---- one issue ----
  const issue = `${base}/issues/:n`;
  router.get(issue, read, async (req, res) => {
    res.json(await withHtml(repo(res), await issues.get(repo(res), num(req))));
  });
  router.patch(issue, ...write, async (req, res) => {
    const input = parseBody(UpdateIssue, sized(req));
    res.json(await withHtml(repo(res), await issues.update(repo(res), user(res), num(req), input)));
  });
  router.get(`${issue}/comments`, read, async (req, res) => {
    const { page, per_page } = parseBody(PageQuery, req.query);
    const list = await talk.comments(repo(res), num(req), page, per_page);
    res.json({ ...list, items: await Promise.all(list.items.map((c) => withHtml(repo(res), c))) });
  });
  router.post(`${issue}/comments`, ...write, async (req, res) => {
    const { body } = parseBody(CreateComment, sized(req));
    res
      .status(201)
      .json(await withHtml(repo(res), await talk.addComment(repo(res), user(res), num(req), body)));
  });
  router.post(`${issue}/labels`, ...write, async (req, res) => {
    const { labels } = parseBody(AddLabels, req.body ?? {});
    res.json(await issues.addLabels(repo(res), user(res), num(req), labels));
  });
  router.delete(`${issue}/labels/:name`, ...write, async (req, res) => {
    res.json(await issues.removeLabel(repo(res), user(res), num(req), req.params.name as string));
  });
  router.get(`${issue}/timeline`, read, async (req, res) => {
    const { page, per_page } = parseBody(PageQuery, req.query);
    res.json(await talk.timeline(repo(res), num(req), page, per_page));
  });
  router.post(`${issue}/reactions`, ...react, async (req, res) => {
    const { content } = parseBody(CreateReaction, req.body ?? {});
    const r = await talk.react(repo(res), user(res), { number: num(req) }, content);
    res.status(r.reacted ? 201 : 200).json(r);
  });
  router.delete(`${issue}/reactions/:content`, ...react, async (req, res) => {
    const content = parseBody(ReactionParam, req.params.content);
    res.json(await talk.unreact(repo(res), user(res), { number: num(req) }, content));
  });

  // ---- labels ----
  const labels = `${base}/labels`;
  router.get(labels, read, async (_req, res) => {
    res.json(await listLabels(ctx.db, repo(res).id));
  });
  router.post(labels, ...write, async (req, res) => {
    res.status(201).json(await createLabel(ctx.db, repo(res).id, parseBody(CreateLabel, req.body ?? {})));
  });
  router.get(`${labels}/:name`, read, async (req, res) => {
    const label = await findLabel(ctx.db, repo(res).id, req.params.name as string);
    if (!label) throw new AppError(404, "not_found", `label ${JSON.stringify(req.params.name)} not found`);
    res.json(label);
  });
  router.patch(`${labels}/:name`, ...write, async (req, res) => {
    const input = parseBody(UpdateLabel, req.body ?? {});
    res.json(await updateLabel(ctx.db, repo(res).id, req.params.name as string, input));
  });
  router.delete(`${labels}/:name`, ...write, async (req, res) => {
    await deleteLabel(ctx.db, repo(res).id, req.params.name as string);
    res.status(204).end();
  });

  return router;
}

/** `:n` of the path: a positive integer that fits an issue number (a Postgres integer), else 400. */
function num(req: Request): number {
  return positive(req.params.n as string, "issue number", 2 ** 31 - 1);
}

function id(req: Request): number {
  return positive(req.params.id as string, "comment id", Number.MAX_SAFE_INTEGER);
}

function positive(s: string, what: string, max: number): number {
  if (!/^[1-9]\d{0,15}$/.test(s) || Number(s) > max) {
    throw badRequest(
      `${what} must be a positive integer up to ${max}, not ${JSON.stringify(s.slice(0, 40))}`,
      "invalid_number",
    );
  }
  return Number(s);
}

function hasNul(v: unknown, depth = 0): boolean {
  if (typeof v === "string") return v.includes("\0");
  if (depth > 20 || v === null || typeof v !== "object") return false;
  if (Array.isArray(v)) return v.some((x) => hasNul(x, depth + 1));
  return Object.entries(v).some(([k, x]) => k.includes("\0") || hasNul(x, depth + 1));
}

/** The request body, after refusing a `body` field over 64 KiB with 413 (the schema would say 400). */
function sized(req: Request): unknown {
  const body = (req.body ?? {}) as { body?: unknown };
  if (typeof body.body === "string" && Buffer.byteLength(body.body) > MAX_BODY_BYTES) {
    throw new AppError(413, "body_too_large", `the body is over ${MAX_BODY_BYTES / 1024} KiB`);
  }
  return body;
}
