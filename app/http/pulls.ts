/**
 * Pull requests API (docs/pulls.md), GitHub's shapes (app/wire/pulls.ts):
 *   GET   /api/repos/:owner/:repo/pulls                 ?state= &labels= &author= &assignee= &page= &per_page=
 *   POST  /api/repos/:owner/:repo/pulls                 CreatePull → 201 PullView
 *   GET   /api/repos/:owner/:repo/pulls/:n              PullView with body_html and blockers
 *   PATCH /api/repos/:owner/:repo/pulls/:n              UpdatePull → PullView
 *   GET   /api/repos/:owner/:repo/pulls/:n/files        ?page= &per_page= → DiffPage
 *   GET   /api/repos/:owner/:repo/pulls/:n/commits      → CommitView[]
 *   GET   /api/repos/:owner/:repo/pulls/:n/reviews      → ReviewView[]
 *   POST  /api/repos/:owner/:repo/pulls/:n/reviews      CreateReview → 201 ReviewView (+ comments)
 *   GET   /api/repos/:owner/:repo/pulls/:n/comments     → ReviewCommentView[] (line comments)
 *   POST  /api/repos/:owner/:repo/pulls/:n/comments     CreateReviewComment → 201 ReviewCommentView
 *   PUT   /api/repos/:owner/:repo/pulls/:n/merge        MergePull → MergeResult; 409 not_mergeable {reasons}
 * Reading needs read access; everything else write (conversation comments are the issues API's).
 */
import { Router } from "express";
import type { AppContext } from "../compose";
import { notFound } from "../errors";
import type { Repository } from "../git/repos";
import {
  CreatePull,
  CreateReview,
  CreateReviewComment,
  DiffQuery,
  ListQuery,
  MergePull,
  type PullView,
  UpdatePull,
} from "../wire/pulls";
import { requireUser } from "./auth";
import { parseBody } from "./errors";
import { repoAccess } from "./repo-access";

const BASE = "/api/repos/:owner/:repo/pulls";

/** `:n` as a pull request number; anything else is 404 like a missing one. */
function numberOf(raw: unknown): number {
  const s = String(raw);
  if (!/^[1-9][0-9]{0,9}$/.test(s) || Number(s) > 2 ** 31 - 1) throw notFound(`no pull request ${s}`);
  return Number(s);
}

async function withHtml<T extends { body: string; body_html?: string }>(
  repo: Repository,
  view: T,
  commit: string,
) {
  // Loaded on first use (the Markdown and sanitiser libraries are heavy).
  const { markdownToSafeHtml } = await import("./markdown");
  view.body_html = markdownToSafeHtml(view.body, { owner: repo.owner, repo: repo.name, commit, dir: "" });
  return view;
}

export function pullsRouter(ctx: AppContext): Router {
  const { pulls } = ctx;
  const router = Router();
  const read = repoAccess(ctx, "read");
  const write = [requireUser, repoAccess(ctx, "write")];

  const single = async (repo: Repository, n: number): Promise<PullView> => {
    const view = await pulls.get(repo, n);
    return withHtml(repo, view, view.head.sha);
  };

  router.get(BASE, read, async (req, res) => {
    res.json(await pulls.list(res.locals.repo!, parseBody(ListQuery, req.query)));
  });

  router.post(BASE, ...write, async (req, res) => {
    const repo = res.locals.repo!;
    const created = await pulls.create(repo, res.locals.user!, parseBody(CreatePull, req.body ?? {}));
    const view = await withHtml(repo, created, created.head.sha);
    res.status(201).location(`/api/repos/${repo.owner}/${repo.name}/pulls/${view.number}`).json(view);
  });

  router.get(`${BASE}/:number`, read, async (req, res) => {
    res.json(await single(res.locals.repo!, numberOf(req.params.number)));
  });

  router.patch(`${BASE}/:number`, ...write, async (req, res) => {
    const repo = res.locals.repo!;
    const n = numberOf(req.params.number);
    await pulls.update(repo, res.locals.user!, n, parseBody(UpdatePull, req.body ?? {}));
    res.json(await single(repo, n));
  });

  router.get(`${BASE}/:number/files`, read, async (req, res) => {
    const repo = res.locals.repo!;
    const n = numberOf(req.params.number);
    const q = parseBody(DiffQuery, req.query);
    // A page of the diff is a function of two commit ids: revalidated by ETag, never recomputed.
    const row = await pulls.row(repo, n);
    const etag = `"${row.merge_base ?? row.base_sha}.${row.head_sha}.${q.page}.${q.per_page}"`;
    res.set({ ETag: etag, "Cache-Control": "private, no-cache" });
    if (req.headers["if-none-match"] === etag) return void res.status(304).end();
    res.json(await pulls.files(repo, n, q));
  });

  router.get(`${BASE}/:number/commits`, read, async (req, res) => {
    res.json(await pulls.commits(res.locals.repo!, numberOf(req.params.number)));
  });

  router.get(`${BASE}/:number/reviews`, read, async (req, res) => {
    res.json(await pulls.reviews.list(res.locals.repo!, numberOf(req.params.number)));
  });

  router.post(`${BASE}/:number/reviews`, ...write, async (req, res) => {
    const repo = res.locals.repo!;
    const body = parseBody(CreateReview, req.body ?? {});
    const review = await pulls.reviews.create(repo, res.locals.user!, numberOf(req.params.number), body);
    res.status(201).json(await withHtml(repo, review, review.commit_sha));
  });

  router.get(`${BASE}/:number/comments`, read, async (req, res) => {
    res.json(await pulls.comments.list(res.locals.repo!, numberOf(req.params.number)));
  });

  router.post(`${BASE}/:number/comments`, ...write, async (req, res) => {
    const repo = res.locals.repo!;
    const body = parseBody(CreateReviewComment, req.body ?? {});
    const comment = await pulls.comments.create(repo, res.locals.user!, numberOf(req.params.number), body);
    res.status(201).json(await withHtml(repo, comment, comment.commit_id));
  });

  router.put(`${BASE}/:number/merge`, ...write, async (req, res) => {
    const body = parseBody(MergePull, req.body ?? {});
    res.json(await pulls.merges.merge(res.locals.repo!, res.locals.user!, numberOf(req.params.number), body));
  });

  return router;
}
