/**
 * Webhook authentication against a real server: the signature binds timestamp, delivery id and
 * body; stale and future timestamps, reused ids and every tampered part are refused, and only a
 * valid delivery starts runs.
 */
import { createHmac } from "node:crypto";
import { deliveryHeaders, pruneWebhookDeliveries, signDelivery } from "../../app/http/webhooks";
import { GitClient } from "../git/client";
import { type AgentPlatform, type ApiClient, startAgentPlatform } from "../helpers/agents";
import { pushRepo } from "../runs/helpers";

const SECRET = "webhook-secret-for-tests-0123456789";
let p: AgentPlatform;
let alice: ApiClient;
const git = new GitClient();

const TRIAGE = `from plue import workflow, issue

@workflow(triggers=[issue(types=["opened"])])
def triage(ctx):
    ctx.run(name="label", cmd="echo triage")
`;

beforeAll(async () => {
  p = await startAgentPlatform({ env: { PLUE_WEBHOOK_SECRET: SECRET } });
  p.executor.script = async (r) => void (await r.event("done", { reason: "completed", outputs: {} }));
  alice = await p.user("alice");
  await pushRepo(git, p.url, alice, "alice", "hooks", { ".plue/workflows/triage.py": TRIAGE });
});
afterAll(async () => {
  await p.close();
  git.cleanup();
});

const now = () => Math.floor(Date.now() / 1000);
const payload = JSON.stringify({ repository: "alice/hooks", action: "opened", title: "t" });
let n = 0;
const freshId = () => `delivery-${process.pid}-${++n}`;

async function send(headers: Record<string, string>, body = payload) {
  const res = await fetch(`${p.url}/api/webhooks/issue`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  return {
    status: res.status,
    body: (await res.json()) as { error?: { code: string; message: string }; runs?: unknown[] },
  };
}

const triageRuns = async () =>
  ((await alice.ok("GET", "/api/repos/alice/hooks/runs?workflow=triage&limit=100")) as { runs: unknown[] })
    .runs.length;

describe("webhook deliveries", () => {
  it("accepts a valid delivery and starts its run", async () => {
    const before = await triageRuns();
    const r = await send(deliveryHeaders(SECRET, payload, freshId()));
    expect(r.status).toBe(202);
    expect(r.body.runs).toHaveLength(1);
    expect(await triageRuns()).toBe(before + 1);
  });

  it("refuses a captured delivery re-sent under a new id, and a reused id", async () => {
    const id = freshId();
    const captured = deliveryHeaders(SECRET, payload, id);
    expect((await send(captured)).status).toBe(202);
    const before = await triageRuns();
    for (let i = 0; i < 5; i++) {
      const replay = await send({ ...captured, "x-plue-delivery": freshId() });
      expect(replay).toMatchObject({ status: 401, body: { error: { code: "bad_signature" } } });
    }
    const again = await send(captured);
    expect(again).toMatchObject({ status: 409, body: { error: { code: "duplicate_delivery" } } });
    // The sender's own retry of that id, freshly signed, is a duplicate too.
    const retry = await send(deliveryHeaders(SECRET, payload, id));
    expect(retry).toMatchObject({ status: 409, body: { error: { code: "duplicate_delivery" } } });
    expect(await triageRuns()).toBe(before);
  });

  it("lets exactly one of racing deliveries of one id through", async () => {
    const id = freshId();
    const before = await triageRuns();
    const results = await Promise.all(
      Array.from({ length: 6 }, () => send(deliveryHeaders(SECRET, payload, id))),
    );
    expect(results.map((r) => r.status).sort()).toEqual([202, 409, 409, 409, 409, 409]);
    expect(await triageRuns()).toBe(before + 1);
  });

  it("refuses stale and future timestamps, even correctly signed", async () => {
    const stale = await send(deliveryHeaders(SECRET, payload, freshId(), now() - 301));
    expect(stale).toMatchObject({ status: 401, body: { error: { code: "stale_timestamp" } } });
    expect(stale.body.error!.message).toContain("older than 300 s");
    const future = await send(deliveryHeaders(SECRET, payload, freshId(), now() + 600));
    expect(future).toMatchObject({ status: 401, body: { error: { code: "future_timestamp" } } });
    // Inside the window (a little old, a little ahead): accepted.
    expect((await send(deliveryHeaders(SECRET, payload, freshId(), now() - 240))).status).toBe(202);
    expect((await send(deliveryHeaders(SECRET, payload, freshId(), now() + 30))).status).toBe(202);
  });

  it("refuses every tampered part: body, id, timestamp, signature, secret", async () => {
    const before = await triageRuns();
    const variants: Array<[string, (h: Record<string, string>) => [Record<string, string>, string]]> = [
      ["body changed", (h) => [h, payload.replace('"t"', '"T"')]],
      ["body with a byte appended", (h) => [h, `${payload} `]],
      ["id changed", (h) => [{ ...h, "x-plue-delivery": `${h["x-plue-delivery"]}x` }, payload]],
      [
        "timestamp moved back",
        (h) => [{ ...h, "x-plue-timestamp": String(Number(h["x-plue-timestamp"]) - 1) }, payload],
      ],
      [
        "timestamp moved ahead",
        (h) => [{ ...h, "x-plue-timestamp": String(Number(h["x-plue-timestamp"]) + 1) }, payload],
      ],
      [
        "signature flipped",
        (h) => [{ ...h, "x-plue-signature-256": flip(h["x-plue-signature-256"]!) }, payload],
      ],
      [
        "signature truncated",
        (h) => [{ ...h, "x-plue-signature-256": h["x-plue-signature-256"]!.slice(0, -2) }, payload],
      ],
      [
        "another secret",
        (h) => [{ ...h, "x-plue-signature-256": signWith("another-secret-0123456789", h) }, payload],
      ],
      [
        "the body alone signed (the old scheme)",
        (h) => [{ ...h, "x-plue-signature-256": bodyOnly(payload) }, payload],
      ],
    ];
    for (const [what, tamper] of variants) {
      const [headers, body] = tamper(deliveryHeaders(SECRET, payload, freshId()));
      const r = await send(headers, body);
      expect({ what, status: r.status, code: r.body.error?.code }).toEqual({
        what,
        status: 401,
        code: "bad_signature",
      });
    }
    expect(await triageRuns()).toBe(before);
  });

  it("says which header is missing or malformed", async () => {
    const h = deliveryHeaders(SECRET, payload, freshId());
    const without = (name: string) => Object.fromEntries(Object.entries(h).filter(([k]) => k !== name));
    expect(await send(without("x-plue-signature-256"))).toMatchObject({
      status: 401,
      body: { error: { code: "missing_signature" } },
    });
    expect(await send(without("x-plue-timestamp"))).toMatchObject({
      status: 400,
      body: { error: { code: "invalid_timestamp" } },
    });
    expect(await send({ ...h, "x-plue-timestamp": "2026-01-01T00:00:00Z" })).toMatchObject({
      status: 400,
      body: { error: { code: "invalid_timestamp" } },
    });
    expect(await send(without("x-plue-delivery"))).toMatchObject({
      status: 400,
      body: { error: { code: "invalid_delivery" } },
    });
  });

  it("prunes delivery ids once their timestamp is past the window; a replay of one is stale", async () => {
    const oldId = freshId();
    const signedAt = now() - 3600;
    const oldHeaders = deliveryHeaders(SECRET, payload, oldId, signedAt);
    await p.ctx.db.query(
      "INSERT INTO webhook_deliveries (delivery_id, kind, signed_at) VALUES ($1, 'issue', to_timestamp($2))",
      [oldId, signedAt],
    );
    const recent = freshId();
    expect((await send(deliveryHeaders(SECRET, payload, recent))).status).toBe(202);
    expect(await pruneWebhookDeliveries(p.ctx.db, 300)).toBeGreaterThanOrEqual(1);
    const rows = await p.ctx.db.query<{ delivery_id: string }>(
      "SELECT delivery_id FROM webhook_deliveries WHERE delivery_id = ANY($1)",
      [[oldId, recent]],
    );
    expect(rows.rows.map((r) => r.delivery_id)).toEqual([recent]);
    expect(await send(oldHeaders)).toMatchObject({
      status: 401,
      body: { error: { code: "stale_timestamp" } },
    });
  });
});

function flip(sig: string): string {
  const last = sig.slice(-1);
  return sig.slice(0, -1) + (last === "0" ? "1" : "0");
}
function signWith(secret: string, h: Record<string, string>): string {
  return signDelivery(secret, {
    timestamp: h["x-plue-timestamp"]!,
    delivery: h["x-plue-delivery"]!,
    body: payload,
  });
}
function bodyOnly(body: string): string {
  return `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`;
}
