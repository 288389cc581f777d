/**
 * A stand-in for the app's `POST /internal/tasks/:id/events` for runner tests that run without
 * the app: it keeps events idempotently by seq as the contract says, answers `{ack, abort}`, and
 * can be told to fail requests or to ask for an abort. End-to-end tests use the real endpoint.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { RunnerEvent } from "../../app/wire/protocol";
import { EventBatch } from "../../app/wire/protocol";

export interface EventsSink {
  readonly url: string;
  /** Stored events in seq order, each once. */
  readonly events: RunnerEvent[];
  /** Every request body received, including failed and retried ones. */
  readonly batches: RunnerEvent[][];
  /** Answer the next `n` requests with `status`. */
  failNext(n: number, status?: number): void;
  /** Answer `abort: true` from now on. */
  abort(): void;
  readonly tokens: string[];
  /** Resolves when an event of this type has been stored. */
  waitFor(type: string, timeoutMs?: number): Promise<RunnerEvent>;
  close(): Promise<void>;
}

export async function startEventsSink(token = "task-token"): Promise<EventsSink> {
  const stored = new Map<number, RunnerEvent>();
  const batches: RunnerEvent[][] = [];
  const tokens: string[] = [];
  let failures = 0;
  let failStatus = 503;
  let abort = false;
  const waiters: Array<{ type: string; resolve(e: RunnerEvent): void }> = [];
  const server = http.createServer(async (req, res) => {
    const raw: Buffer[] = [];
    for await (const c of req) raw.push(c as Buffer);
    tokens.push(String(req.headers.authorization));
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401).end('{"error":{"code":"unauthorized"}}');
      return;
    }
    const parsed = EventBatch.safeParse(JSON.parse(Buffer.concat(raw).toString("utf8")));
    if (!parsed.success) {
      res.writeHead(400).end(JSON.stringify({ error: { message: parsed.error.message } }));
      return;
    }
    batches.push(parsed.data.events);
    if (failures > 0) {
      failures--;
      res.writeHead(failStatus).end('{"error":{"code":"unavailable"}}');
      return;
    }
    for (const e of parsed.data.events) {
      if (stored.has(e.seq)) continue;
      stored.set(e.seq, e);
      for (const w of waiters.filter((w) => w.type === e.type)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
    let ack = 0;
    while (stored.has(ack + 1)) ack++;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ack, abort }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const sorted = () => [...stored.values()].sort((a, b) => a.seq - b.seq);
  return {
    url: `http://127.0.0.1:${port}/internal/tasks/x/events`,
    get events() {
      return sorted();
    },
    batches,
    tokens,
    failNext(n, status = 503) {
      failures = n;
      failStatus = status;
    },
    abort() {
      abort = true;
    },
    waitFor(type, timeoutMs = 10_000) {
      const found = sorted().find((e) => e.type === type);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ${type} event within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          type,
          resolve: (e) => {
            clearTimeout(t);
            resolve(e);
          },
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
