/**
 * The pages of the web UI and their URLs, in one place: the server (app/http/web.ts) uses
 * `parseRoute` to decide which paths are pages, the browser uses it to know what to render, and
 * both build links with the helpers below.
 */
import { isRepoPath } from "../../app/wire/names";

/** Whether `name` could be a user or organization (any repository name will do for the check). */
const isOwnerPath = (name: string) => isRepoPath(name, "x");

export type Route =
  | { page: "home" }
  | { page: "login" }
  | { page: "signup" }
  | { page: "password" }
  | { page: "tokens" }
  | { page: "new-org" }
  | { page: "admin-users" }
  | { page: "admin-invites" }
  | { page: "admin-audit" }
  /** `/<name>`: a user's or an organization's page. */
  | { page: "owner"; owner: string }
  | { page: "repo-settings"; owner: string; repo: string }
  | { page: "session"; id: string }
  | { page: "run"; id: string }
  | { page: "runs"; owner: string; repo: string }
  | { page: "issues"; owner: string; repo: string }
  | { page: "issue-new"; owner: string; repo: string }
  | { page: "issue"; owner: string; repo: string; number: number }
  | { page: "pulls"; owner: string; repo: string }
  /** `/<owner>/<repo>/pulls/<n>[/commits|/files]`: one pull request, on one of its tabs. */
  | { page: "pull"; owner: string; repo: string; number: number; tab: PullTab }
  /** `/<owner>/<repo>/compare[/<base>...<head>]`: two branches compared, and a new pull request. */
  | { page: "compare"; owner: string; repo: string; base: string; head: string }
  /**
   * A repository's files. `rest` holds the segments after `/tree/` or `/blob/`: a ref (which may
   * itself contain slashes) followed by a path; which is which is settled against the ref list.
   * Empty for `/<owner>/<repo>` (the default branch's root).
   */
  | { page: "repo"; owner: string; repo: string; view: "tree" | "blob"; rest: string[] };

export type PullTab = "conversation" | "commits" | "files";

const ID = /^[A-Za-z0-9-]{1,64}$/;
/** An issue or pull request number: positive, no leading zero, within an int. */
const NUMBER = /^[1-9][0-9]{0,8}$/;

/** Pages of one segment: `/login`, … (their names are reserved owners, so no owner page hides them). */
const SINGLE: Record<string, Route> = {
  login: { page: "login" },
  signup: { page: "signup" },
  password: { page: "password" },
};

/**
 * Pages of two fixed segments. `settings` and `orgs` are reserved owners; `admin` is not (the
 * first user is called admin), so the admin pages hide the roots of repositories admin/users,
 * admin/invites and admin/audit (their files stay at …/tree/<ref>).
 */
const FIXED: Record<string, Route> = {
  "settings/tokens": { page: "tokens" },
  "orgs/new": { page: "new-org" },
  "admin/users": { page: "admin-users" },
  "admin/invites": { page: "admin-invites" },
  "admin/audit": { page: "admin-audit" },
};

/** The route of a URL path, or undefined when the path is not a page. */
export function parseRoute(pathname: string): Route | undefined {
  let segments: string[];
  try {
    segments = pathname.split("/").slice(1).map(decodeURIComponent);
  } catch {
    return undefined; // malformed percent-encoding
  }
  // A trailing slash (`/demo/hello/`) names the same page.
  if (segments.length > 1 && segments[segments.length - 1] === "") segments.pop();
  const [first = "", second, third, ...more] = segments;
  if (segments.length === 1 && first === "") return { page: "home" };
  if (segments.length === 1) {
    if (Object.hasOwn(SINGLE, first)) return SINGLE[first];
    return isOwnerPath(first) ? { page: "owner", owner: first } : undefined;
  }
  const fixed = segments.length === 2 ? `${first}/${second}` : "";
  if (Object.hasOwn(FIXED, fixed)) return FIXED[fixed];
  if (segments.length === 2 && first === "sessions" && ID.test(second!))
    return { page: "session", id: second! };
  if (segments.length === 2 && first === "runs" && ID.test(second!)) return { page: "run", id: second! };
  if (second === undefined || !isRepoPath(first, second)) return undefined;
  if (third === undefined) return { page: "repo", owner: first, repo: second, view: "tree", rest: [] };
  if (third === "runs" && more.length === 0) return { page: "runs", owner: first, repo: second };
  if (third === "settings" && more.length === 0) return { page: "repo-settings", owner: first, repo: second };
  if (third === "issues" || third === "pulls" || third === "compare")
    return issueRoute(first, second, third, more);
  if ((third === "tree" || third === "blob") && more.length > 0 && !more.includes("")) {
    return { page: "repo", owner: first, repo: second, view: third, rest: more };
  }
  return undefined;
}

/**
 * The pages after `/<owner>/<repo>/issues`, `/pulls` and `/compare`. Branch names never appear
 * here except after `compare/`, where `<base>...<head>` may hold slashes (`feature/x`).
 */
function issueRoute(owner: string, repo: string, kind: string, more: string[]): Route | undefined {
  const [n, tab, ...extra] = more;
  if (kind === "compare") {
    if (more.length === 0) return { page: "compare", owner, repo, base: "", head: "" };
    if (more.includes("")) return undefined;
    const spec = more.join("/");
    const dots = spec.indexOf("...");
    if (dots < 0) return { page: "compare", owner, repo, base: "", head: spec };
    const base = spec.slice(0, dots);
    const head = spec.slice(dots + 3);
    return head ? { page: "compare", owner, repo, base, head } : undefined;
  }
  if (n === undefined) return { page: kind === "issues" ? "issues" : "pulls", owner, repo };
  if (kind === "issues" && n === "new" && tab === undefined) return { page: "issue-new", owner, repo };
  if (!NUMBER.test(n) || extra.length > 0) return undefined;
  if (kind === "issues")
    return tab === undefined ? { page: "issue", owner, repo, number: Number(n) } : undefined;
  if (tab !== undefined && tab !== "commits" && tab !== "files") return undefined;
  return { page: "pull", owner, repo, number: Number(n), tab: tab ?? "conversation" };
}

/** A path inside a repository, `a/b/c`, as URL segments (each encoded, slashes kept). */
const encPath = (path: string) => path.split("/").filter(Boolean).map(encodeURIComponent).join("/");
const enc = encodeURIComponent;

export const urls = {
  home: () => "/",
  login: (next?: string) => (next ? `/login?next=${enc(next)}` : "/login"),
  signup: () => "/signup",
  tokens: () => "/settings/tokens",
  newOrg: () => "/orgs/new",
  owner: (name: string) => `/${enc(name)}`,
  repoSettings: (owner: string, repo: string) => `/${enc(owner)}/${enc(repo)}/settings`,
  adminUsers: () => "/admin/users",
  adminInvites: () => "/admin/invites",
  adminAudit: () => "/admin/audit",
  session: (id: string) => `/sessions/${enc(id)}`,
  run: (id: string) => `/runs/${enc(id)}`,
  runs: (owner: string, repo: string) => `/${enc(owner)}/${enc(repo)}/runs`,
  repo: (owner: string, repo: string) => `/${enc(owner)}/${enc(repo)}`,
  issues: (owner: string, repo: string, query = "") =>
    `/${enc(owner)}/${enc(repo)}/issues${query ? `?${query}` : ""}`,
  newIssue: (owner: string, repo: string) => `/${enc(owner)}/${enc(repo)}/issues/new`,
  issue: (owner: string, repo: string, n: number) => `/${enc(owner)}/${enc(repo)}/issues/${n}`,
  pulls: (owner: string, repo: string, query = "") =>
    `/${enc(owner)}/${enc(repo)}/pulls${query ? `?${query}` : ""}`,
  pull: (owner: string, repo: string, n: number, tab: PullTab = "conversation") =>
    `/${enc(owner)}/${enc(repo)}/pulls/${n}${tab === "conversation" ? "" : `/${tab}`}`,
  compare: (owner: string, repo: string, base: string, head: string) =>
    `/${enc(owner)}/${enc(repo)}/compare/${encPath(base)}...${encPath(head)}`,
  tree: (owner: string, repo: string, ref: string, path = "") =>
    `/${enc(owner)}/${enc(repo)}/tree/${encPath(ref)}${path ? `/${encPath(path)}` : ""}`,
  blob: (owner: string, repo: string, ref: string, path: string) =>
    `/${enc(owner)}/${enc(repo)}/blob/${encPath(ref)}/${encPath(path)}`,
};

/** The API endpoints the pages read (DESIGN.md §4). Trees and blobs are addressed by commit. */
export const api = {
  config: () => "/api/config",
  repos: () => "/api/repos",
  repo: (owner: string, repo: string) => `/api/repos/${enc(owner)}/${enc(repo)}`,
  refs: (owner: string, repo: string) => `/api/repos/${enc(owner)}/${enc(repo)}/refs`,
  resolve: (owner: string, repo: string, ref: string) =>
    `/api/${enc(owner)}/${enc(repo)}/refs/${encPath(ref)}`,
  tree: (owner: string, repo: string, commit: string, path = "") =>
    `/api/${enc(owner)}/${enc(repo)}/tree/${commit}${path ? `/${encPath(path)}` : ""}`,
  blob: (owner: string, repo: string, commit: string, path: string) =>
    `/api/${enc(owner)}/${enc(repo)}/blob/${commit}/${encPath(path)}`,
  markdown: (owner: string, repo: string, commit: string, path: string) =>
    `/api/repos/${enc(owner)}/${enc(repo)}/markdown/${commit}/${encPath(path)}`,
  runs: (owner: string, repo: string) => `/api/repos/${enc(owner)}/${enc(repo)}/runs`,
  sessions: (limit: number) => `/api/sessions?limit=${limit}`,
  run: (id: string) => `/api/runs/${enc(id)}`,
  // accounts (app/wire/accounts.ts)
  providers: () => "/api/auth/providers",
  session: () => "/api/session",
  signup: () => "/api/signup",
  password: () => "/api/password",
  user: (name: string) => `/api/users/${enc(name)}`,
  self: () => "/api/user",
  tokens: () => "/api/user/tokens",
  token: (id: number) => `/api/user/tokens/${enc(String(id))}`,
  orgs: () => "/api/orgs",
  org: (org: string) => `/api/orgs/${enc(org)}`,
  orgMembers: (org: string) => `/api/orgs/${enc(org)}/members`,
  orgMember: (org: string, user: string) => `/api/orgs/${enc(org)}/members/${enc(user)}`,
  teams: (org: string) => `/api/orgs/${enc(org)}/teams`,
  teamPart: (org: string, team: string, kind: "members" | "repos", name: string) =>
    `/api/orgs/${enc(org)}/teams/${enc(team)}/${kind}/${enc(name)}`,
  collaborators: (owner: string, repo: string) => `/api/repos/${enc(owner)}/${enc(repo)}/collaborators`,
  collaborator: (owner: string, repo: string, user: string) =>
    `/api/repos/${enc(owner)}/${enc(repo)}/collaborators/${enc(user)}`,
  adminUsers: () => "/api/admin/users",
  suspend: (user: string) => `/api/admin/users/${enc(user)}/suspend`,
  invites: () => "/api/admin/invites",
  lockouts: () => "/api/admin/lockouts",
  lockout: (user: string) => `/api/admin/lockouts/${enc(user)}`,
  audit: (q: { before?: number | null; action?: string }) => {
    const p = new URLSearchParams();
    if (q.before) p.set("before", String(q.before));
    if (q.action) p.set("action", q.action);
    const qs = p.toString();
    return `/api/admin/audit${qs ? `?${qs}` : ""}`;
  },
  ssoStart: () => "/auth/oidc/start",
};
