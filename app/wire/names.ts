/**
 * Validation of every name that reaches a path or a git command line: owners, repositories,
 * refs, object ids and paths inside a tree. Nothing from a request is used before it passes here.
 * It lives in app/wire, with no imports, because the names are part of the URLs: the web UI
 * routes with the same rules (`isRepoPath`) the server enforces.
 */

export class NameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NameError";
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const MAX_OWNER_LENGTH = 40;
export const MAX_REPO_LENGTH = 100;

/**
 * Top-level URL segments the platform uses itself. An owner with one of these names would make
 * `/:owner/:repo` (git) or `/api/:owner/:repo/...` (files) ambiguous, so no repository lives there.
 */
export const RESERVED_OWNERS: ReadonlySet<string> = new Set(
  [
    "api",
    "internal",
    "repos",
    "sessions",
    "runs",
    "workflows",
    "webhooks",
    "health",
    "metrics",
    "users",
    "user",
    "login",
    "logout",
    "signup",
    "password",
    "orgs",
    "auth",
    "settings",
    "static",
    "assets",
    "_astro",
    "favicon.ico",
  ].map((s) => s.toLowerCase()),
);

function checkName(kind: string, value: string, max: number): string {
  if (value.length === 0 || value.length > max) throw new NameError(`${kind} must be 1-${max} characters`);
  if (!NAME.test(value)) {
    throw new NameError(
      `${kind} may contain only letters, digits, '.', '_' and '-', and must start with a letter or digit`,
    );
  }
  if (value.includes("..")) throw new NameError(`${kind} must not contain '..'`);
  if (/\.(git|lock)$/i.test(value)) throw new NameError(`${kind} must not end in .git or .lock`);
  return value;
}

export function validateOwner(owner: string): string {
  checkName("owner", owner, MAX_OWNER_LENGTH);
  if (RESERVED_OWNERS.has(owner.toLowerCase())) throw new NameError(`owner '${owner}' is reserved`);
  return owner;
}

export function validateRepoName(name: string): string {
  return checkName("repository name", name, MAX_REPO_LENGTH);
}

/** Whether `owner/repo` could name a repository at all (cheap check for routing). */
export function isRepoPath(owner: string, repo: string): boolean {
  try {
    validateOwner(owner);
    validateRepoName(repo);
    return true;
  } catch {
    return false;
  }
}

const FULL_OID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
export const ZERO_OID = "0000000000000000000000000000000000000000";

/** A full object id (SHA-1 or SHA-256), lower-cased; anything else is undefined. */
export function fullOid(value: string): string | undefined {
  const v = value.toLowerCase();
  return FULL_OID.test(v) ? v : undefined;
}

export const isZeroOid = (oid: string) => /^0+$/.test(oid);

/**
 * A ref or branch name as a caller may write it (`main`, `feature/x`, `v1.0`, `refs/heads/main`,
 * `HEAD`), following git-check-ref-format, and stricter where git's revision syntax could
 * smuggle in an expression (`@{`, `^`, `~`, `:`, `..`).
 */
export function validateRefName(ref: string): string {
  if (ref === "HEAD") return ref;
  if (ref.length === 0 || ref.length > 255) throw new NameError("ref must be 1-255 characters");
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(ref)) throw new NameError(`ref '${ref}' contains a forbidden character`);
  if (ref.includes("..") || ref.includes("@{") || ref === "@")
    throw new NameError(`ref '${ref}' is not a valid ref name`);
  if (ref.startsWith("-") || ref.startsWith("/") || ref.endsWith("/") || ref.endsWith("."))
    throw new NameError(`ref '${ref}' is not a valid ref name`);
  for (const part of ref.split("/")) {
    if (part === "" || part.startsWith(".") || part.endsWith(".lock"))
      throw new NameError(`ref '${ref}' is not a valid ref name`);
  }
  return ref;
}

export function validateBranchName(branch: string): string {
  validateRefName(branch);
  if (branch === "HEAD" || branch.startsWith("refs/"))
    throw new NameError(`'${branch}' is not a branch name`);
  return branch;
}

/**
 * A path inside a tree, from URL segments (already percent-decoded). Returns the canonical
 * `a/b/c` form ("" for the root). Every component must be a real entry name: no empty (absolute
 * paths, `//`), `.` or `..` components, no NUL or line breaks (they would also break the
 * line-framed cat-file protocol). A single trailing slash is tolerated.
 */
export function validateTreePath(segments: readonly string[] | string | undefined): string {
  if (segments === undefined) return "";
  const joined = Array.isArray(segments) ? segments.join("/") : (segments as string);
  if (joined === "") return "";
  const trimmed = joined.endsWith("/") ? joined.slice(0, -1) : joined;
  if (trimmed.length > 4096) throw new NameError("path is too long");
  for (const part of trimmed.split("/")) {
    if (part === "") throw new NameError("path must be relative and must not contain empty segments");
    if (part === "." || part === "..") throw new NameError("path must not contain '.' or '..' segments");
    if (/[\x00\n\r]/.test(part)) throw new NameError("path must not contain NUL or line breaks");
  }
  return trimmed;
}
