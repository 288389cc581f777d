/**
 * How CLI commands reach a running server: `PLUE_URL` (default http://127.0.0.1:4000) and
 * `PLUE_TOKEN`, or the admin token `plue dev` wrote to `<PLUE_DATA_DIR or .plue>/admin-token`.
 * Shared by `plue run` and `plue user`.
 */
import fs from "node:fs";
import path from "node:path";
import { apiError } from "../client/api-error";

export interface Io {
  out(s: string): void;
  err(s: string): void;
}

export const processIo: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

export const DEFAULT_URL = "http://127.0.0.1:4000";

export const NO_TOKEN = "no token: set PLUE_TOKEN, or run `plue dev` here (it writes .plue/admin-token)";

/** The server and token from the environment; the token is undefined when neither is found. */
export function apiTarget(env: NodeJS.ProcessEnv): { base: string; token: string | undefined } {
  return {
    base: (env.PLUE_URL ?? DEFAULT_URL).replace(/\/+$/, ""),
    token: env.PLUE_TOKEN ?? readAdminToken(env),
  };
}

function readAdminToken(env: NodeJS.ProcessEnv): string | undefined {
  const file = path.join(path.resolve(env.PLUE_DATA_DIR ?? ".plue"), "admin-token");
  try {
    return fs.readFileSync(file, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/** JSON over HTTP with the token; a non-2xx answer throws ApiError (the envelope's code and message). */
export class ApiClient {
  constructor(
    readonly base: string,
    readonly token: string,
  ) {}

  async json<T>(method: string, p: string, body?: unknown): Promise<T> {
    const res = await fetch(this.base + p, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    // Not an error envelope (a proxy's error page): the start of the page or the status says enough.
    if (!res.ok) throw apiError(res.status, text, text.slice(0, 200) || res.statusText);
    try {
      return (text ? JSON.parse(text) : undefined) as T;
    } catch {
      return undefined as T;
    }
  }
}
