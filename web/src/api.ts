/**
 * Talking to the API from the browser. A person signs in with a password (or SSO) and gets a
 * browser session: an HttpOnly cookie the browser sends by itself to this origin, which the
 * script never sees. Every state-changing request made with the cookie carries the session's
 * CSRF token as `X-CSRF-Token` (read once per page from `GET /api/session`).
 *
 * An API token pasted at /login (kept in localStorage) still works, sent as a Bearer header;
 * scripts and tests use it. With a token no cookie matters and no CSRF header is needed.
 *
 * Public content is read with `credentials: false`: no Authorization header and no cookie, so
 * the edge, shared caches and the server's fast path can answer it.
 */
import { ApiError, apiError } from "../../app/client/api-error";
import type { BrowserSessionView } from "../../app/wire/accounts";
import type { ConfigView } from "../../app/wire/api";
import { api } from "./routes";

const TOKEN_KEY = "plue.token";
const SAFE_METHODS = new Set(["GET", "HEAD"]);

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
    try {
      localStorage.removeItem(TOKEN_KEY);
    } catch {
      // nothing stored
    }
  },
};

let browserSession: Promise<BrowserSessionView | null> | undefined;

/**
 * The cookie session of this browser (user and CSRF token), asked once per page and only when
 * needed (the first state-changing request): null when there is none.
 */
export function currentSession(): Promise<BrowserSessionView | null> {
  browserSession ??= fetch(api.session(), {
    credentials: "same-origin",
    headers: { accept: "application/json" },
  })
    .then(async (res) => (res.ok ? ((await res.json()) as BrowserSessionView | null) : null))
    .then((s) => (s && typeof s === "object" && s.user ? s : null))
    .catch(() => null);
  return browserSession;
}

/** After signing in on this page: the answer of `POST /api/session` is the session. */
export function rememberSession(s: BrowserSessionView | null): void {
  browserSession = Promise.resolve(s);
  config = undefined;
}

/** The headers that authenticate a request: the token, or the cookie's CSRF token when needed. */
async function authHeaders(method: string, credentials: boolean): Promise<Record<string, string>> {
  if (!credentials) return {};
  const token = auth.token();
  if (token) return { authorization: `Bearer ${token}` };
  if (SAFE_METHODS.has(method)) return {};
  const session = await currentSession();
  return session ? { "x-csrf-token": session.csrf_token } : {};
}

/**
 * A `fetch` for the client library (agent chat): the page's credentials added, the same way
 * apiFetch adds them, so its POSTs pass the CSRF check when signed in with a cookie.
 */
export const browserFetch: typeof fetch = async (input, init = {}) => {
  const method = (init.method ?? "GET").toUpperCase();
  const headers = new Headers(init.headers);
  for (const [k, v] of Object.entries(await authHeaders(method, true)))
    if (!headers.has(k)) headers.set(k, v);
  return fetch(input, { ...init, headers, credentials: "same-origin" });
};

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** Send the token or cookie (default). False for reads of public content, so caches can share them. */
  credentials?: boolean;
  signal?: AbortSignal;
}

/** A fetch of the API; throws ApiError with the server's message on a non-2xx answer. */
export async function apiFetch(path: string, opts: RequestOptions = {}): Promise<Response> {
  const method = (opts.method ?? "GET").toUpperCase();
  const credentials = opts.credentials !== false;
  const headers = await authHeaders(method, credentials);
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: opts.signal,
      credentials: credentials ? "same-origin" : "omit",
    });
  } catch (err) {
    if ((err as Error).name === "AbortError") throw err;
    throw new ApiError(0, "network", "The server could not be reached. Check your connection and retry.");
  }
  if (res.ok) return res;
  const err = apiError(res.status, await res.text(), `${method} ${path} failed with ${res.status}`);
  // The session's CSRF token went stale (signed in again in another tab): ask once more, retry once.
  if (err.code === "csrf_failed" && !retried.has(opts)) {
    browserSession = undefined;
    retried.add(opts);
    return apiFetch(path, opts);
  }
  throw err;
}

/** Requests already retried after a CSRF refusal (by their options object). */
const retried = new WeakSet<RequestOptions>();

export async function apiJson<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await apiFetch(path, opts);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

let config: Promise<ConfigView> | undefined;
let known: ConfigView["user"] = null;

/**
 * Who is signed in and what the server can do, asked once per page. With a stored token the
 * token decides (one the server refuses is dropped, so the page falls back to the cookie or to
 * anonymous browsing); without one, the cookie session does.
 */
export function serverConfig(): Promise<ConfigView> {
  config ??= loadConfig().then((c) => {
    known = c.user;
    return c;
  });
  return config;
}

/** `GET /api/config`, whose `user` is the caller by token or, without one, by cookie session. */
async function loadConfig(): Promise<ConfigView> {
  if (auth.token()) {
    try {
      return await apiJson<ConfigView>(api.config());
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) throw err;
      auth.clear();
    }
  }
  return apiJson<ConfigView>(api.config());
}

/** Whether someone is signed in (token or cookie); exact once serverConfig() has answered. */
export function signedIn(): boolean {
  return known !== null || auth.token() !== undefined;
}

/**
 * Signs out everywhere this browser is signed in: the cookie session ends on the server
 * (`DELETE /api/session`), and a stored token is forgotten (it stays valid: revoke it in
 * settings).
 */
export async function signOut(): Promise<void> {
  const hadToken = auth.token() !== undefined;
  auth.clear();
  // Signed in by token, the page never asked about a cookie; signed in by cookie, it may end it.
  const session = hadToken || known ? await currentSession() : null;
  if (session) {
    await apiFetch(api.session(), { method: "DELETE" }).catch((err) => {
      // Already ended (expired, or signed out in another tab) is signed out.
      if (!(err instanceof ApiError && (err.status === 401 || err.status === 404))) throw err;
    });
  }
  rememberSession(null);
}

// ---- issues and pull requests (app/wire/pulls.ts) ----------------------------------------------

const e = encodeURIComponent;
const repoBase = (owner: string, repo: string) => `/api/repos/${e(owner)}/${e(repo)}`;
const qs = (q: Record<string, string | number | undefined>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : "";
};

/** The endpoints of issues and pull requests, by repository. */
export function issueApi(owner: string, repo: string) {
  const base = repoBase(owner, repo);
  return {
    issues: (q: Record<string, string | number | undefined> = {}) => `${base}/issues${qs(q)}`,
    issue: (n: number) => `${base}/issues/${n}`,
    comments: (n: number) => `${base}/issues/${n}/comments`,
    reactions: (n: number) => `${base}/issues/${n}/reactions`,
    timeline: (n: number) => `${base}/issues/${n}/timeline`,
    labels: () => `${base}/labels`,
    pulls: (q: Record<string, string | number | undefined> = {}) => `${base}/pulls${qs(q)}`,
    pull: (n: number) => `${base}/pulls/${n}`,
    files: (n: number, page: number, perPage: number) =>
      `${base}/pulls/${n}/files${qs({ page, per_page: perPage })}`,
    commits: (n: number) => `${base}/pulls/${n}/commits`,
    reviews: (n: number) => `${base}/pulls/${n}/reviews`,
    reviewComments: (n: number) => `${base}/pulls/${n}/comments`,
    merge: (n: number) => `${base}/pulls/${n}/merge`,
    events: (n: number) => `${base}/pulls/${n}/events`,
    checks: (sha: string) => `${base}/commits/${e(sha)}/checks`,
    compare: (baseRef: string, head: string, page = 1, perPage = 100) =>
      `${base}/compare/${e(baseRef)}...${e(head)}${qs({ page, per_page: perPage })}`,
    branch: (name: string) => `${base}/branches/${name.split("/").map(e).join("/")}`,
  };
}

/** A listing's items, whether the API answers a bare array or a page `{items}`. */
export function itemsOf<T>(answer: unknown): T[] {
  if (Array.isArray(answer)) return answer as T[];
  const items = (answer as { items?: unknown } | null)?.items;
  return Array.isArray(items) ? (items as T[]) : [];
}
