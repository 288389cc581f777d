/**
 * Inbound webhooks that start workflows:
 *   POST /api/webhooks/push   {repository: "owner/name", ref, before, after, paths?}
 *   POST /api/webhooks/pr     {repository, action, number?, base, head, base_sha?, head_sha?, title?, paths?}
 *   POST /api/webhooks/issue  {repository, action, number?, title?, labels?}
 *   POST /api/webhooks/mention {repository, handle, body?}   (a mention elsewhere, say a comment)
 * → 202 {delivery, runs: [{id, workflow, path, status, error}]}
 *
 * Authentication is the body's signature: `X-Plue-Signature-256: sha256=<hex HMAC-SHA256 of the raw
 * body with PLUE_WEBHOOK_SECRET>`, compared in constant time. `X-Plue-Delivery` is a unique id per
 * delivery; a second delivery with the same id is refused (409), so a captured request cannot be
 * replayed. Without PLUE_WEBHOOK_SECRET the webhooks are disabled (503).
 *
 * The router parses its own bodies as raw bytes (the signature covers exactly what was sent), so
 * it is mounted before the API's JSON parser.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import express, { type Request, Router } from "express";
import { z } from "zod";
import type { AppContext } from "../context";
import { branchName, ZERO_SHA } from "../workflows/events";
import { WorkflowEventSchema } from "../workflows/index";
import { badRequest, conflict, HttpError, notFound, unauthorized } from "./errors";

export const SIGNATURE_HEADER = "x-plue-signature-256";
export const DELIVERY_HEADER = "x-plue-delivery";
const DELIVERY_ID = /^[A-Za-z0-9._:-]{1,200}$/;

const KINDS = { push: "push", pr: "pull_request", issue: "issue", mention: "mention" } as const;
type HookName = keyof typeof KINDS;

const Envelope = z.looseObject({
  repository: z.string().regex(/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/, "a repository as owner/name"),
});

/** `sha256=<hex>` of the body: what a sender puts in X-Plue-Signature-256. */
export function signBody(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** Whether `header` is the body's signature; constant time in the signature's bytes. */
export function verifySignature(secret: string, body: Buffer, header: string | undefined): boolean {
  const m = /^sha256=([0-9a-f]{64})$/i.exec(header?.trim() ?? "");
  if (!m) return false;
  const expected = createHmac("sha256", secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(m[1]!, "hex"));
}

export function webhooksRouter(ctx: AppContext): Router {
  const router = Router();
  router.use("/api/webhooks", express.raw({ type: () => true, limit: ctx.config.PLUE_MAX_BODY }));
  for (const hook of Object.keys(KINDS) as HookName[]) {
    router.post(`/api/webhooks/${hook}`, async (req, res) => {
      res.status(202).json(await receive(ctx, hook, req));
    });
  }
  return router;
}

async function receive(ctx: AppContext, hook: HookName, req: Request) {
  const secret = ctx.config.PLUE_WEBHOOK_SECRET;
  if (!secret) {
    throw new HttpError(
      503,
      "webhooks_disabled",
      "webhooks are disabled: set PLUE_WEBHOOK_SECRET on the server",
    );
  }
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const signature = req.headers[SIGNATURE_HEADER];
  if (typeof signature !== "string") {
    throw unauthorized(`missing ${SIGNATURE_HEADER}: sign the body with HMAC-SHA256 (sha256=<hex>)`);
  }
  if (!verifySignature(secret, body, signature))
    throw unauthorized("the webhook signature does not match the body");
  const delivery = req.headers[DELIVERY_HEADER];
  if (typeof delivery !== "string" || !DELIVERY_ID.test(delivery)) {
    throw badRequest(`${DELIVERY_HEADER} must be a unique delivery id (letters, digits, . _ : -; up to 200)`);
  }

  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    throw new HttpError(400, "malformed_json", "request body is not valid JSON");
  }
  const envelope = Envelope.safeParse(json);
  if (!envelope.success)
    throw badRequest(`invalid payload: ${envelope.error.issues[0]?.message}`, "invalid_request");
  const { repository, ...fields } = envelope.data;
  const event = WorkflowEventSchema.safeParse({ ...fields, kind: KINDS[hook] });
  if (!event.success) {
    const detail = event.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw badRequest(`invalid ${hook} payload: ${detail}`, "invalid_request");
  }
  const [owner, name] = repository.split("/") as [string, string];
  const repo = await ctx.git.repos.find(owner, name);
  if (!repo) throw notFound(`repository ${repository} not found`);
  const target = await targetOf(ctx, repo, event.data);

  await recordDelivery(ctx, delivery, hook);
  try {
    const runs = target ? await ctx.runs.trigger({ repo, event: event.data, ...target }) : [];
    return { delivery, runs };
  } catch (err) {
    // Nothing was started: let the sender deliver the same id again.
    await ctx.db.query("DELETE FROM webhook_deliveries WHERE delivery_id = $1", [delivery]).catch(() => {});
    throw err;
  }
}

/** The commit (and ref) an event runs at; undefined for a push that deleted its ref. */
async function targetOf(
  ctx: AppContext,
  repo: NonNullable<Awaited<ReturnType<AppContext["git"]["repos"]["find"]>>>,
  event: z.infer<typeof WorkflowEventSchema>,
): Promise<{ commit: string; ref: string | null } | undefined> {
  const resolve = async (rev: string, what: string) => {
    const commit = await ctx.git.resolveRef(repo, rev).catch(() => undefined);
    if (!commit)
      throw new HttpError(422, "unknown_commit", `${what} ${rev} is not in ${repo.owner}/${repo.name}`);
    return commit;
  };
  switch (event.kind) {
    case "push":
      if (event.after === ZERO_SHA) return undefined;
      return { commit: await resolve(event.after, "commit"), ref: event.ref };
    case "pull_request": {
      const head = branchName(event.head);
      const commit = await resolve(event.head_sha ?? head, event.head_sha ? "commit" : "branch");
      return { commit, ref: `refs/heads/${head}` };
    }
    default:
      return {
        commit: await resolve(repo.defaultBranch, "default branch"),
        ref: `refs/heads/${repo.defaultBranch}`,
      };
  }
}

async function recordDelivery(ctx: AppContext, delivery: string, hook: HookName): Promise<void> {
  const r = await ctx.db.query(
    "INSERT INTO webhook_deliveries (delivery_id, kind) VALUES ($1, $2) ON CONFLICT (delivery_id) DO NOTHING",
    [delivery, hook],
  );
  if (r.rowCount === 0) {
    throw conflict(
      `delivery ${delivery} was already received; each delivery id is accepted once`,
      "duplicate_delivery",
    );
  }
}
