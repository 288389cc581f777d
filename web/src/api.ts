/**
 * Talking to the API from the browser. The API token is kept in localStorage and sent as a
 * Bearer header, never as a cookie: pages stay identical for everyone (cacheable, no CSRF), and
 * a public repository is read anonymously, which lets the edge and the server's fast path
 * answer it.
 */
import { ApiError, apiError } from "../../app/client/api-error";
import type { ConfigView } from "../../app/wire/api";
import { api } from "./routes";

const TOKEN_KEY = "plue.token";

export const auth = {
  token(): string | undefined {
    try {
      return localStorage.getItem(TOKEN_KEY) ?? undefined;
    } catch {
      return undefined; // storage disabled: browse anonymously
    }
  },
  set(token: string): void {
    localStorage.setItem(TOKEN_KEY, token);
  },
  clear(): void {
    localStorage.removeItem(TOKEN_KEY);
  },
};

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** Send the token (default). False for reads of public content, so caches can share them. */
  credentials?: boolean;
  signal?: AbortSignal;
}

/** A fetch of the API; throws ApiError with the server's message on a non-2xx answer. */
export async function apiFetch(path: string, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  const token = opts.credentials === false ? undefined : auth.token();
  if (token) headers.authorization = `Bearer ${token}`;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(path, {
      method: opts.method ?? "GET",
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: opts.signal,
    });
  } catch (err) {
    if ((err as Error).name === "AbortError") throw err;
    throw new ApiError(0, "network", "The server could not be reached. Check your connection and retry.");
  }
  if (res.ok) return res;
  throw apiError(res.status, await res.text(), `${opts.method ?? "GET"} ${path} failed with ${res.status}`);
}

export async function apiJson<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  return (await apiFetch(path, opts)).json() as Promise<T>;
}

let config: Promise<ConfigView> | undefined;

/**
 * Who is signed in and what the server can do, asked once per page. A stored token that the
 * server refuses is dropped, so the page falls back to anonymous browsing.
 */
export function serverConfig(): Promise<ConfigView> {
  config ??= apiJson<ConfigView>(api.config()).catch(async (err) => {
    if (err instanceof ApiError && err.status === 401 && auth.token()) {
      auth.clear();
      return { ...(await apiJson<ConfigView>(api.config())), tokenRejected: true };
    }
    throw err;
  });
  return config;
}
