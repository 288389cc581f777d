/**
 * The Express application: middleware, every router, and the error handling at the end.
 * Routers are functions of the AppContext so tests can build an app around any database.
 */
import express, { type Express } from "express";
import { pinoHttp } from "pino-http";
import type { AppContext } from "../compose";
import { forbidden, unauthorized } from "../errors";
import { httpRequestDuration, metricsAccess, registry } from "../metrics";
import { authenticate, tokenFrom } from "./auth";
import { errorHandler, notFoundHandler } from "./errors";
import { routers } from "./routes";
import { webhooksRouter } from "./webhooks";

export function createApp(ctx: AppContext): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", ctx.config.PLUE_TRUST_PROXY);
  app.set("query parser", "simple");

  app.use(
    pinoHttp({
      logger: ctx.log,
      genReqId: (req, res) => {
        const given = req.headers["x-request-id"];
        const id = typeof given === "string" && /^[\w.-]{1,100}$/.test(given) ? given : crypto.randomUUID();
        res.setHeader("X-Request-Id", id);
        return id;
      },
      autoLogging: { ignore: (req) => req.url === "/metrics" || req.url === "/api/health" },
      // Never bodies (registration answers a runner token, assignments carry task tokens); the
      // query stays only inside `url`, where the logger scrubs `?token=`-like values. Headers go
      // through the logger's redaction (Authorization, Cookie, Set-Cookie, *token*, *secret*).
      serializers: { req: requestForLog },
    }),
  );
  app.use((req, res, next) => {
    const end = httpRequestDuration.startTimer({ method: req.method });
    res.on("finish", () => end({ route: req.route?.path ?? "unmatched", status: String(res.statusCode) }));
    next();
  });

  app.get("/metrics", async (req, res) => {
    const bearer = tokenFrom(req.headers.authorization);
    const access = metricsAccess(req, ctx.config.PLUE_METRICS_TOKEN, bearer);
    if (access === "unauthorized") throw unauthorized("metrics need the scrape token (PLUE_METRICS_TOKEN)");
    if (access === "forbidden") {
      throw forbidden("metrics are served only to direct loopback clients; set PLUE_METRICS_TOKEN to scrape");
    }
    res
      .set("Cache-Control", "no-store")
      .type(registry.contentType)
      .send(await registry.metrics());
  });
  app.get("/api/health", async (_req, res) => {
    try {
      await ctx.db.query("SELECT 1");
      res.json({ status: "ok", database: ctx.db.kind });
    } catch {
      res.status(503).json({ error: { code: "unavailable", message: "database is not reachable" } });
    }
  });

  // Webhooks are authenticated by a signature over the raw body: they parse their own bodies.
  app.use(webhooksRouter(ctx));
  const json = express.json({ limit: ctx.config.PLUE_MAX_BODY });
  // The API also accepts the browser-session cookie (with its CSRF checks); git and /internal never do.
  const cookies = { sessions: ctx.browserSessions, publicUrl: ctx.publicUrl };
  app.use("/api", authenticate(ctx, cookies), json);
  app.use("/internal", json);
  for (const router of routers(ctx)) app.use(router);

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}

/** What the access log keeps of a request (pino-std-serializers' shape, without query and params). */
function requestForLog(req: {
  id: unknown;
  method: string;
  url: string;
  headers: unknown;
  remoteAddress?: string;
}) {
  return {
    id: req.id,
    method: req.method,
    url: req.url,
    remoteAddress: req.remoteAddress,
    headers: req.headers,
  };
}
