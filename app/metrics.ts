/** One Prometheus registry for the process; modules add their own metrics to it. */
import { createHash, timingSafeEqual } from "node:crypto";
import client from "prom-client";

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

export const httpRequestDuration = new client.Histogram({
  name: "plue_http_request_duration_seconds",
  help: "HTTP request duration by route and status",
  labelNames: ["method", "route", "status"],
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
  registers: [registry],
});

/**
 * Who may read `/metrics`: with PLUE_METRICS_TOKEN set, only a scraper that shows it
 * (`Authorization: Bearer <token>`, compared in constant time), from anywhere; without it, only a
 * client on this machine that connected directly. "Directly" is judged from the socket, never
 * from X-Forwarded-For (Express's `trust proxy` would believe a loopback proxy's header), and a
 * request carrying any forwarding header came through a proxy — the edge Worker under
 * `plue dev --edge`, a local nginx — so it is refused even though its socket is loopback.
 */
export type MetricsAccess = "allowed" | "unauthorized" | "forbidden";

const FORWARDING_HEADERS = [
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-real-ip",
  "cf-connecting-ip",
];

export function metricsAccess(
  req: { socket: { remoteAddress?: string }; headers: Record<string, string | string[] | undefined> },
  scrapeToken: string | undefined,
  bearer: string | undefined,
): MetricsAccess {
  if (scrapeToken !== undefined) {
    return bearer !== undefined && sameSecret(bearer, scrapeToken) ? "allowed" : "unauthorized";
  }
  const direct = FORWARDING_HEADERS.every((h) => req.headers[h] === undefined);
  return direct && isLoopback(req.socket.remoteAddress) ? "allowed" : "forbidden";
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith("::ffff:") ? address.slice(7) : address;
  return v4 === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** Equal strings, in time independent of where they differ (both hashed to one length first). */
function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();
  return timingSafeEqual(digest(a), digest(b));
}
