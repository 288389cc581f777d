/**
 * A fast path in front of Express for the hottest requests of the platform: GET/HEAD of blobs
 * and trees by commit id (what browsers, the edge and API clients fetch, and revalidate with 304s).
 * Express's per-request machinery (prototype swaps, router walk, logging middleware) costs several
 * times the work of answering such a request from the cat-file pool, so these requests are
 * answered by `FileServer` directly. Only clean answers (200/304) are sent from here: anything
 * else — a private or missing repository, bad input, an error — is handed to the Express app
 * untouched, which answers it exactly as it answers every other request.
 *
 * A request with a token is served here too, for the same caller Express would see: the step of
 * the `authenticate` middleware itself (`tokenCaller`, app/http/auth.ts: the header parser and the
 * cached token lookup), and the same access check inside `FileServer` (role and token scope). A
 * header that cannot be used, or a token that is unknown, revoked or expired, is handed to Express,
 * which answers its 401; a refusal (404, 403) is Express's too. Requests with a cookie (browser
 * sessions, CSRF) always go through Express.
 */
import type { IncomingMessage, RequestListener } from "node:http";
import type { AppContext } from "../compose";
import { httpRequestDuration } from "../metrics";
import { RESERVED_OWNERS } from "../wire/names";
import { tokenCaller } from "./auth";
import { type FileParams, FileServer } from "./files";

const FILE_URL = /^\/api\/([^/?#]+)\/([^/?#]+)\/(blob|tree)\/([^/?#]+)(\/[^?#]*)?(?:\?.*)?$/;
const ROUTES = { blob: "/api/:owner/:repo/blob/:sha/*path", tree: "/api/:owner/:repo/tree/:sha{/*path}" };

type Eligible = FileParams & { kind: "blob" | "tree" };

/** The request listener to serve with: the fast path, falling back to `app`. */
export function withFastFiles(ctx: AppContext, app: RequestListener): RequestListener {
  const files = new FileServer(ctx, ctx.log);
  return (req, res) => {
    const params = eligible(req);
    if (!params) return app(req, res);
    const end = httpRequestDuration.startTimer({ method: req.method });
    // Anonymous requests skip the token lookup's async step altogether.
    const served =
      req.headers.authorization === undefined
        ? files[params.kind](req, res, params, {})
        : tokenCaller(ctx, req.headers.authorization).then((user) =>
            files[params.kind](req, res, params, { user }),
          );
    served.then(
      () => end({ route: ROUTES[params.kind], status: String(res.statusCode) }),
      () => {
        if (res.headersSent) return void res.destroy();
        for (const name of res.getHeaderNames()) res.removeHeader(name);
        res.statusCode = 200;
        app(req, res);
      },
    );
  };
}

function eligible(req: IncomingMessage): Eligible | undefined {
  if (req.method !== "GET" && req.method !== "HEAD") return undefined;
  if (req.headers.cookie !== undefined) return undefined;
  const m = FILE_URL.exec(req.url ?? "");
  if (!m) return undefined;
  try {
    const owner = decodeURIComponent(m[1]!);
    if (RESERVED_OWNERS.has(owner.toLowerCase())) return undefined;
    return {
      kind: m[3] as "blob" | "tree",
      owner,
      repo: decodeURIComponent(m[2]!),
      sha: decodeURIComponent(m[4]!),
      path: m[5] ? m[5].slice(1).split("/").map(decodeURIComponent) : undefined,
    };
  } catch {
    return undefined; // malformed percent-encoding: Express answers it
  }
}
