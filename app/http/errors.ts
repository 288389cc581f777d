/**
 * Renders errors for HTTP: services and handlers throw `AppError` (app/errors.ts); one middleware
 * renders every error as `{"error":{"code","message",...details}}` with its status and headers, and
 * never leaks a stack trace.
 */
import type { ErrorRequestHandler, RequestHandler } from "express";
import { ZodError } from "zod";
import { isDiskFull } from "../disk-full";
import { AppError, badRequest, notFound } from "../errors";
import type { ErrorEnvelope } from "../wire/api";

/** Parses `value` with a zod schema, turning failures into a 400 that names each field. */
export function parseBody<T>(schema: { parse(v: unknown): T }, value: unknown): T {
  try {
    return schema.parse(value);
  } catch (err) {
    if (err instanceof ZodError) {
      const detail = err.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ");
      throw badRequest(`invalid request: ${detail}`, "invalid_request");
    }
    throw err;
  }
}

export const notFoundHandler: RequestHandler = (req) => {
  throw notFound(`no route for ${req.method} ${req.path}`);
};

/** Body-parser and friends mark their errors with `status`/`type`; map those, hide the rest. */
export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const e = toAppError(err);
  if (e.status >= 500) req.log?.error({ err }, "request failed");
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res
    .status(e.status)
    .set(e.headers)
    .json({ error: { code: e.code, message: e.message, ...e.details } } satisfies ErrorEnvelope);
};

function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (isDiskFull(err)) {
    return new AppError(
      507,
      "insufficient_storage",
      "the server's disk is full: nothing was written; try again later",
    );
  }
  const e = err as { status?: number; type?: string; message?: string };
  if (e?.type === "entity.parse.failed")
    return new AppError(400, "malformed_json", "request body is not valid JSON");
  if (e?.type === "entity.too.large")
    return new AppError(413, "payload_too_large", "request body is too large");
  if (e?.type === "encoding.unsupported" || e?.type === "charset.unsupported")
    return new AppError(415, "unsupported_encoding", e.message ?? "unsupported encoding");
  if (typeof e?.status === "number" && e.status >= 400 && e.status < 500)
    return new AppError(e.status, "bad_request", e.message ?? "bad request");
  return new AppError(500, "internal", "internal server error");
}
