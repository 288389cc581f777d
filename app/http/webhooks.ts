/**
 * Inbound webhooks that start workflows:
 *   POST /api/webhooks/push   {repository: "owner/name", ref, before, after, paths?}
 *   POST /api/webhooks/pr     {repository, action, number?, base, head, base_sha?, head_sha?, title?, paths?}
 *   POST /api/webhooks/issue  {repository, action, number?, title?, labels?}
 *   POST /api/webhooks/mention {repository, handle, body?}   (a mention elsewhere, say a comment)
 * → 202 {delivery, runs: [{id, workflow, path, status, error}]}
 *
 * Authentication: `X-Plue-Timestamp: <unix seconds>`, `X-Plue-Delivery: <unique id>` and
 * `X-Plue-Signature-256: sha256=<hex HMAC-SHA256 with PLUE_WEBHOOK_SECRET of
 * "<timestamp>.<delivery>.<raw body>">`, compared in constant time. The signature binds the id and
 * the time to the body, so a captured delivery can be neither re-sent under a new id nor later:
 * timestamps older than PLUE_WEBHOOK_TOLERANCE_SECONDS (or over 60 s ahead) are refused, and each
 * id is accepted once (UNIQUE in webhook_deliveries, so across replicas and racing retries).
 * Rows are pruned once their timestamp is past the window: a replay of one would be stale.
 * Without PLUE_WEBHOOK_SECRET the webhooks are disabled (503).
 *
 * The router parses its own bodies as raw bytes (the signature covers exactly what was sent), so
 * it is mounted before the API's JSON parser.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import express, { type Request, Router } from "express";
import { z } from "zod";
import type { AppContext } from "../compose";
import type { Queryable } from "../db";
import { AppError, badRequest, conflict, notFound } from "../errors";
import { branchName, ZERO_SHA } from "../workflows/events";
import { WorkflowEventSchema } from "../workflows/index";

export const SIGNATURE_HEADER = "x-plue-signature-256";
export const DELIVERY_HEADER = "x-plue-delivery";
export const TIMESTAMP_HEADER = "x-plue-timestamp";
const DELIVERY_ID = /^[A-Za-z0-9._:-]{1,200}$/;
/** How far ahead of this server's clock a timestamp may be (the sender's clock may run fast). */
const FUTURE_SKEW_SECONDS = 60;
/** Rows are kept this long past the window, for replicas whose clocks run behind this one's. */
const PRUNE_SLACK_SECONDS = 60;
const PRUNE_EVERY_MS = 60_000;

const KINDS = { push: "push", pr: "pull_request", issue: "issue", mention: "mention" } as const;
type HookName = keyof typeof KINDS;

const Envelope = z.looseObject({
  repository: z.string().regex(/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/, "a repository as owner/name"),
});

export interface SignedDelivery {
  /** Unix seconds, as sent in X-Plue-Timestamp. */
  timestamp: number | string;
  /** X-Plue-Delivery. */
  delivery: string;
  body: Buffer | string;
}

/** The bytes a sender signs: `<timestamp>.<delivery>.<raw body>`. */
function signedPayload(d: SignedDelivery): Buffer {
  return Buffer.concat([Buffer.from(`${d.timestamp}.${d.delivery}.`, "utf8"), Buffer.from(d.body)]);
}

/** `sha256=<hex>`: what a sender puts in X-Plue-Signature-256. */
export function signDelivery(secret: string, d: SignedDelivery): string {
  return `sha256=${createHmac("sha256", secret).update(signedPayload(d)).digest("hex")}`;
}

/** The three headers of a delivery of `body` signed now (for clients and tests). */
export function deliveryHeaders(
  secret: string,
  body: Buffer | string,
  delivery: string,
  timestamp = Math.floor(Date.now() / 1000),
): Record<string, string> {
  return {
    [TIMESTAMP_HEADER]: String(timestamp),
    [DELIVERY_HEADER]: delivery,
    [SIGNATURE_HEADER]: signDelivery(secret, { timestamp, delivery, body }),
  };
}

/** Whether `header` signs the delivery; constant time in the signature's bytes. */
export function verifySignature(secret: string, d: SignedDelivery, header: string | undefined): boolean {
  const m = /^sha256=([0-9a-f]{64})$/i.exec(header?.trim() ?? "");
  if (!m) return false;
  const expected = createHmac("sha256", secret).update(signedPayload(d)).digest();
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
    throw new AppError(
      503,
      "webhooks_disabled",
      "webhooks are disabled: set PLUE_WEBHOOK_SECRET on the server",
    );
  }
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const { delivery, timestamp } = authenticate(secret, body, req, ctx.config.PLUE_WEBHOOK_TOLERANCE_SECONDS);

  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    throw new AppError(400, "malformed_json", "request body is not valid JSON");
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

  await recordDelivery(ctx, delivery, hook, timestamp);
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
      throw new AppError(422, "unknown_commit", `${what} ${rev} is not in ${repo.owner}/${repo.name}`);
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

/**
 * Checks the delivery's headers and signature, then its age; throws a 4xx naming what is wrong.
 * The headers' form is checked first (400), the signature before the age (401 either way), so an
 * unsigned request learns nothing about the window.
 */
function authenticate(
  secret: string,
  body: Buffer,
  req: Request,
  tolerance: number,
): { delivery: string; timestamp: number } {
  const signature = req.headers[SIGNATURE_HEADER];
  if (typeof signature !== "string") {
    throw new AppError(
      401,
      "missing_signature",
      `missing ${SIGNATURE_HEADER}: sign "<timestamp>.<delivery>.<body>" with HMAC-SHA256 (sha256=<hex>)`,
    );
  }
  const delivery = req.headers[DELIVERY_HEADER];
  if (typeof delivery !== "string" || !DELIVERY_ID.test(delivery)) {
    throw badRequest(
      `${DELIVERY_HEADER} must be a unique delivery id (letters, digits, . _ : -; up to 200)`,
      "invalid_delivery",
    );
  }
  const stamp = req.headers[TIMESTAMP_HEADER];
  if (typeof stamp !== "string" || !/^\d{1,12}$/.test(stamp)) {
    throw badRequest(`${TIMESTAMP_HEADER} must be the time of signing in Unix seconds`, "invalid_timestamp");
  }
  if (!verifySignature(secret, { timestamp: stamp, delivery, body }, signature)) {
    throw new AppError(
      401,
      "bad_signature",
      `the webhook signature does not match "<${TIMESTAMP_HEADER}>.<${DELIVERY_HEADER}>.<body>"`,
    );
  }
  const timestamp = Number(stamp);
  const age = Math.floor(Date.now() / 1000) - timestamp;
  if (age > tolerance) {
    throw new AppError(
      401,
      "stale_timestamp",
      `the delivery was signed ${age} s ago; deliveries older than ${tolerance} s are refused (sign each attempt anew)`,
    );
  }
  if (age < -FUTURE_SKEW_SECONDS) {
    throw new AppError(
      401,
      "future_timestamp",
      `the delivery is signed ${-age} s in the future; check the sender's clock (up to ${FUTURE_SKEW_SECONDS} s is allowed)`,
    );
  }
  return { delivery, timestamp };
}

/**
 * Claims the delivery id: the UNIQUE constraint makes exactly one of any number of racing
 * requests (on any replica) win; the others get 409.
 */
async function recordDelivery(
  ctx: AppContext,
  delivery: string,
  hook: HookName,
  timestamp: number,
): Promise<void> {
  const r = await ctx.db.query(
    `INSERT INTO webhook_deliveries (delivery_id, kind, signed_at) VALUES ($1, $2, to_timestamp($3))
     ON CONFLICT (delivery_id) DO NOTHING`,
    [delivery, hook, timestamp],
  );
  if (r.rowCount === 0) {
    throw conflict(
      `delivery ${delivery} was already received; each delivery id is accepted once`,
      "duplicate_delivery",
    );
  }
  await pruneDeliveries(ctx);
}

const lastPrune = new WeakMap<AppContext, number>();

/** At most once a minute per replica, after an accepted delivery. */
async function pruneDeliveries(ctx: AppContext): Promise<void> {
  const now = Date.now();
  if (now - (lastPrune.get(ctx) ?? 0) < PRUNE_EVERY_MS) return;
  lastPrune.set(ctx, now);
  await pruneWebhookDeliveries(ctx.db, ctx.config.PLUE_WEBHOOK_TOLERANCE_SECONDS, now).catch((err) =>
    ctx.log.warn({ err }, "pruning webhook deliveries failed"),
  );
}

/**
 * Drops deliveries whose timestamp is past the window (plus slack for replicas' clocks): a
 * replay of one is refused as stale, so its row is no longer needed. Rows from before
 * timestamps were signed have none and go too. Returns how many went.
 */
export async function pruneWebhookDeliveries(db: Queryable, toleranceSeconds: number, nowMs = Date.now()) {
  const cutoff = Math.floor(nowMs / 1000) - toleranceSeconds - PRUNE_SLACK_SECONDS;
  const r = await db.query(
    "DELETE FROM webhook_deliveries WHERE signed_at < to_timestamp($1) OR signed_at IS NULL",
    [cutoff],
  );
  return r.rowCount;
}
