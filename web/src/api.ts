/**
 * Talking to the API from the browser. The API token is kept in localStorage and sent as a
 * Bearer header, never as a cookie: pages stay identical for everyone (cacheable, no CSRF), and
 * a public repository is read anonymously, which lets the edge and the server's fast path
 * answer it.
 */
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

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

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
  const text = await res.text();
  let code = "http_error";
  let message = `${opts.method ?? "GET"} ${path} failed with ${res.status}`;
  try {
    const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    if (e?.code) code = e.code;
    if (e?.message) message = e.message;
  } catch {
    // not JSON: keep the generic message
  }
  throw new ApiError(res.status, code, message);
}

export async function apiJson<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  return (await apiFetch(path, opts)).json() as Promise<T>;
}

export interface ServerConfig {
  user: { username: string; admin: boolean } | null;
  agents: { configured: boolean; message?: string };
}

let config: Promise<ServerConfig> | undefined;

/**
 * Who is signed in and what the server can do, asked once per page. A stored token that the
 * server refuses is dropped, so the page falls back to anonymous browsing.
 */
export function serverConfig(): Promise<ServerConfig> {
  config ??= apiJson<ServerConfig>(api.config()).catch(async (err) => {
    if (err instanceof ApiError && err.status === 401 && auth.token()) {
      auth.clear();
      return { ...(await apiJson<ServerConfig>(api.config())), tokenRejected: true };
    }
    throw err;
  });
  return config;
}

export interface RepoView {
  owner: string;
  name: string;
  visibility: "public" | "private";
  default_branch: string;
  clone_url: string;
  created_at: string;
}

export interface RefListing {
  default_branch: string;
  branches: { name: string; commit: string }[];
  tags: { name: string; commit: string }[];
  truncated: boolean;
}

export interface TreeEntry {
  name: string;
  type: "tree" | "blob" | "symlink" | "commit";
  mode: string;
  sha: string;
  size?: number;
}
