/**
 * Agent-session test rigs: a platform whose executor is the scripted runner double, users with
 * tokens, a small JSON client, and a TCP proxy that can drop every connection through it (the
 * way a restarting load balancer does).
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createApiToken, createUser } from "../../app/auth/tokens";
import { loadConfig } from "../../app/config";
import type { Db } from "../../app/db";
import type { DispatcherOptions } from "../../app/dispatch/dispatcher";
import type { SseOptions } from "../../app/events/sse";
import { type Platform, startPlatform } from "../../app/platform";
import { openTestDb } from "./db";
import { testLogger } from "./platform";
import { ScriptedExecutor } from "./scripted-runner";

export interface AgentPlatform extends Platform {
  /** The runner double; undefined when started with `executor: false`. */
  executor: ScriptedExecutor;
  /** Creates a user and returns a JSON client acting as them. */
  user(name: string): Promise<ApiClient>;
}

export interface AgentPlatformOptions {
  db?: Db;
  env?: Record<string, string>;
  sse?: Partial<SseOptions>;
  dispatcher?: Partial<DispatcherOptions>;
  /** false: the app's own executor (chosen by RUNNER_MODE) instead of the runner double. */
  executor?: boolean;
}

export async function startAgentPlatform(opts: AgentPlatformOptions = {}): Promise<AgentPlatform> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-agents-"));
  const config = loadConfig(
    { PLUE_DATA_DIR: dataDir, PLUE_SEED_DEMO: "false", LOG_LEVEL: "silent", ...opts.env },
    { port: 0 },
  );
  const db = opts.db ?? (await openTestDb());
  let executor: ScriptedExecutor | undefined;
  const platform = await startPlatform(config, {
    db,
    log: testLogger(), // PLUE_TEST_LOG=debug: the server's (and its runners') logs
    services: {
      executor: opts.executor === false ? undefined : (hooks) => (executor = new ScriptedExecutor(hooks)),
      sse: { heartbeatMs: 15_000, retryMs: 50, ...opts.sse },
      dispatcher: { abortGraceMs: 200, killGraceMs: 200, ...opts.dispatcher },
      hub: { pollMs: 1_000 },
    },
  });
  return {
    ...platform,
    executor: executor as ScriptedExecutor,
    async user(name) {
      const u = await createUser(platform.ctx.db, name);
      return new ApiClient(platform.url, await createApiToken(platform.ctx.db, u.id, "test"));
    },
    async close() {
      await platform.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: test assertions read API answers freely
type Json = any;

export class ApiClient {
  constructor(
    readonly url: string,
    readonly token: string,
  ) {}

  async request(method: string, p: string, body?: unknown): Promise<{ status: number; body: Json }> {
    const res = await fetch(this.url + p, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  async ok(method: string, p: string, body?: unknown): Promise<Json> {
    const r = await this.request(method, p, body);
    if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** An EventSource-compatible fetch that authenticates as this user. */
  get fetch(): typeof fetch {
    return (input, init) =>
      fetch(input, {
        ...init,
        headers: { ...(init?.headers as object), authorization: `Bearer ${this.token}` },
      });
  }
}

/** A TCP proxy in front of `target`; `cut()` drops every open connection (clients reconnect). */
export async function startProxy(
  target: string,
): Promise<{ url: string; cut(): number; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), hostname);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${addr.port}`,
    cut() {
      const n = pairs.size;
      for (const [a, b] of [...pairs]) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
      return n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const [a, b] of pairs) {
          a.destroy();
          b.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
