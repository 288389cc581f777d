/**
 * A real HTTP origin for the edge tests: it records every request it receives and serves the
 * responses the edge must handle (cache headers, SSE, slow headers, redirects, hop-by-hop headers).
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

type Visibility = "public" | "private" | "failing";

export interface TestOrigin {
  readonly url: string;
  readonly requests: Recorded[];
  /** Requests whose path (without query) is `path`. */
  hits(path: string): Recorded[];
  /** Lets the held /sse/gated stream send its last event. */
  releaseSse(): void;
  /** Whether the /sse/gated response has ended. */
  sseFinished(): boolean;
  /** Makes /repo/<name>/blob public (the default) or private, as a repository setting would; or failing. */
  setVisibility(name: string, visibility: Visibility): void;
  close(): Promise<void>;
}

/** Cache-Control (and friends) served by /cache/<kind>. */
export const CACHE_KINDS: Record<string, http.OutgoingHttpHeaders> = {
  immutable: { "cache-control": "public, max-age=31536000, immutable", etag: '"blob-sha"' },
  "ref-1s": { "cache-control": "public, max-age=1" },
  private: { "cache-control": "private, max-age=31536000, immutable" },
  "no-store": { "cache-control": "public, max-age=60, no-store" },
  "no-cache": { "cache-control": "public, no-cache, max-age=60" },
  "no-lifetime": { "cache-control": "public" },
  "set-cookie": { "cache-control": "public, max-age=31536000, immutable", "set-cookie": "sid=abc; HttpOnly" },
  "vary-origin": { "cache-control": "public, max-age=31536000, immutable", vary: "Origin" },
  sse: { "cache-control": "public, max-age=31536000, immutable", "content-type": "text/event-stream" },
};

export async function startOrigin(name = "origin"): Promise<TestOrigin> {
  const requests: Recorded[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let finished = false;
  const visibility = new Map<string, Visibility>();

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? "/", "http://origin.invalid");
    requests.push({
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
    });
    const count = requests.filter((r) => r.url.split("?")[0] === url.pathname).length;

    if (url.pathname.startsWith("/cache/")) {
      const kind = url.pathname.slice("/cache/".length);
      const status = Number(url.searchParams.get("status") ?? 200);
      res.writeHead(status, { "content-type": "text/plain", ...CACHE_KINDS[kind] });
      res.end(`${name} ${kind} #${count}`);
    } else if (/^\/repo\/[\w-]+\/blob$/.test(url.pathname)) {
      // Like Plue's blob by commit: immutable bytes, a strong ETag, revalidation honoured; a
      // private repository is a 404 (with no cache headers) for anonymous callers.
      const repo = url.pathname.split("/")[2]!;
      const etag = `"v-${repo}"`;
      if (visibility.get(repo) === "failing") {
        res.writeHead(503, { "content-type": "application/json" }).end('{"error":{"code":"unavailable"}}');
      } else if (visibility.get(repo) === "private") {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: "not_found", message: `repository ${repo} not found` } }));
      } else {
        const headers = { etag, "cache-control": "public, max-age=31536000, immutable" };
        if (req.headers["if-none-match"] === etag) res.writeHead(304, headers).end();
        else res.writeHead(200, { ...headers, "content-type": "text/plain" }).end(`bytes of ${repo}`);
      }
    } else if (url.pathname === "/etag") {
      const headers = { etag: '"v1"', "cache-control": "private, max-age=0" };
      if (req.headers["if-none-match"] === '"v1"') res.writeHead(304, headers).end();
      else res.writeHead(200, headers).end("fresh");
    } else if (url.pathname === "/redirect") {
      res.writeHead(302, { location: "/echo?from=redirect" }).end();
    } else if (url.pathname === "/hop") {
      res.writeHead(200, {
        connection: "x-origin-hop",
        "x-origin-hop": "1",
        "proxy-authenticate": "Basic",
        "x-end-to-end": "kept",
      });
      res.end("hop");
    } else if (url.pathname.startsWith("/status/")) {
      res.writeHead(Number(url.pathname.slice("/status/".length)), { "content-type": "text/html" });
      res.end("<html>origin error page</html>");
    } else if (url.pathname === "/slow") {
      // Holds the response headers back; gives up if the edge hangs up first.
      const timer = setTimeout(() => res.end("late"), Number(url.searchParams.get("ms") ?? 10_000));
      res.on("close", () => clearTimeout(timer));
    } else if (url.pathname === "/sse/gated") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.write("id: 1\ndata: first\n\n");
      await gate;
      res.end("id: 2\ndata: last\n\n", () => {
        finished = true;
      });
    } else if (url.pathname === "/sse/slow") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.write("id: 1\ndata: first\n\n");
      const timer = setTimeout(() => res.end("id: 2\ndata: last\n\n"), Number(url.searchParams.get("ms")));
      res.on("close", () => clearTimeout(timer));
    } else {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "private" });
      res.end(JSON.stringify({ origin: name, method: req.method, url: req.url }));
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    hits: (path) => requests.filter((r) => r.url.split("?")[0] === path),
    releaseSse: () => release(),
    sseFinished: () => finished,
    setVisibility: (repo, v) => void visibility.set(repo, v),
    close: async () => {
      release();
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}

/** A URL on 127.0.0.1 where nothing listens (the port was just released). */
export async function closedPortUrl(): Promise<string> {
  const server = http.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, "close");
  return `http://127.0.0.1:${port}`;
}
