/**
 * A failed API call as the clients (web UI, agent client, CLI) see it, and the one reader of the
 * error envelope (`{"error":{"code","message",...}}`, app/wire/api.ts) that builds it.
 */
import type { ErrorEnvelope } from "../wire/api";

/** An HTTP call of the API failed; `details` are the envelope's other fields (`expected_seq`, …). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/**
 * The error a non-2xx answer stands for, from its body's text: the envelope's code and message,
 * or code `http_error` and `fallback` when the body is not an envelope (a proxy's error page).
 */
export function apiError(status: number, body: string, fallback: string): ApiError {
  const e = envelope(body);
  if (!e) return new ApiError(status, "http_error", fallback);
  const { code, message, ...details } = e;
  return new ApiError(status, code || "http_error", message || fallback, details);
}

function envelope(body: string): Partial<ErrorEnvelope["error"]> | undefined {
  try {
    const e = (JSON.parse(body) as Partial<ErrorEnvelope> | null)?.error;
    return e && typeof e === "object" ? e : undefined;
  } catch {
    return undefined;
  }
}
