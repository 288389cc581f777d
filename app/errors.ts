/**
 * The one error family that services throw. Each error knows the status and machine-readable code a
 * client sees; `app/http/errors.ts` only renders it as `{"error":{"code","message",...details}}`.
 * Services never import the HTTP layer.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra fields of the error envelope (e.g. `expected_seq` of a seq gap). */
    readonly details: Readonly<Record<string, unknown>> = {},
    /** Protocol hints a client needs to recover (`WWW-Authenticate`, `Retry-After`). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = "AppError";
  }
}

export const badRequest = (message: string, code = "bad_request") => new AppError(400, code, message);
export const unauthorized = (message = "authentication required", challenge = 'Bearer realm="plue"') =>
  new AppError(401, "unauthorized", message, {}, { "WWW-Authenticate": challenge });
export const forbidden = (message = "not allowed", code = "forbidden") => new AppError(403, code, message);
export const notFound = (message = "not found") => new AppError(404, "not_found", message);
export const conflict = (message: string, code = "conflict") => new AppError(409, code, message);
export const tooLarge = (message: string, code = "too_large") => new AppError(413, code, message);
export const unprocessable = (message: string, code: string) => new AppError(422, code, message);
export const tooManyRequests = (message: string, retryAfterSeconds: number) =>
  new AppError(429, "rate_limited", message, {}, { "Retry-After": String(retryAfterSeconds) });
