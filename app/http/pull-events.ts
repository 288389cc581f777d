/**
 * The live pull request page: `GET /api/repos/:owner/:repo/pulls/:number/events` (SSE, read).
 * Sends `event: changed` with `{"what": "pull"}` when the pull request, its reviews or comments
 * changed (pullTopic) and `{"what": "checks"}` when a check of its current head changed
 * (checksTopic of the head): a run at it was created or ended, a status was posted. The page then
 * reads the views again; frames carry no ids, as there is nothing to replay. When the head moves
 * (a `pull` change), the stream watches the new head's checks. Heartbeats as every SSE stream
 * (ctx.sse); it ends on the client's disconnect or the replica's shutdown.
 */
import { Router } from "express";
import type { AppContext } from "../compose";
import type { Queryable } from "../db";
import { notFound } from "../errors";
import type { Subscription } from "../events/hub";
import { SseWriter } from "../events/sse";
import { checksTopic, pullTopic } from "../events/topics";
import type { PullChange } from "../wire/pulls";
import { repoAccess } from "./repo-access";

async function headOf(db: Queryable, repoId: number, number: number): Promise<string | undefined> {
  const r = await db.query<{ head_sha: string }>(
    `SELECT p.head_sha FROM issues i JOIN pull_requests p ON p.issue_id = i.id
      WHERE i.repo_id = $1 AND i.number = $2 AND i.is_pull`,
    [repoId, number],
  );
  return r.rows[0]?.head_sha;
}

const frame = (what: PullChange) => `event: changed\ndata: ${JSON.stringify({ what })}\n\n`;

export function pullEventsRouter(ctx: AppContext): Router {
  const { db, events } = ctx;
  const router = Router();

  router.get("/api/repos/:owner/:repo/pulls/:number/events", repoAccess(ctx, "read"), async (req, res) => {
    const repo = res.locals.repo!;
    const raw = String(req.params.number);
    const number = /^\d{1,9}$/.test(raw) ? Number(raw) : 0;
    let head = number > 0 ? await headOf(db, repo.id, number) : undefined;
    if (!head) throw notFound(`no pull request ${raw.slice(0, 20)} in ${repo.owner}/${repo.name}`);

    const sse = new SseWriter(res, ctx.sse);
    sse.open();
    sse.onClose(events.onClose(() => sse.end(true)));
    let checks: Subscription | undefined;
    const watchChecks = async (sha: string) => {
      const next = await events.watch(checksTopic(repo.id, sha), () => sse.write(frame("checks")));
      checks?.close();
      checks = next;
      if (sse.closed) next.close();
    };
    const onPull = () => {
      sse.write(frame("pull"));
      void headOf(db, repo.id, number)
        .then(async (now) => {
          if (now && now !== head && !sse.closed) {
            head = now;
            await watchChecks(now);
          }
        })
        .catch(() => sse.end()); // the page reconnects and reads again
    };
    const pull = await events.watch(pullTopic(repo.id, number), onPull);
    await watchChecks(head);
    sse.onClose(() => {
      pull.close();
      checks?.close();
    });
  });

  return router;
}
