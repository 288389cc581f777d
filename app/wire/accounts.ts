/**
 * The accounts API's contract (docs/accounts.md): people, organizations, tokens, collaborators,
 * browser sign-in and the audit log, as the server answers them and the web UI and CLI read them.
 * Types and the constants both sides need; nothing here imports the rest of the codebase.
 *
 * Words are GitHub's and Forgejo's: repository roles `read`/`write`/`admin`, organization roles
 * `owner`/`member`, token scopes `repo:read`/`repo:write`/`repo:admin`/`user`/`admin`.
 */

// ---- scopes, roles, actions ----------------------------------------------------------------

/** What a personal access token may do. `repo:admin` ⊃ `repo:write` ⊃ `repo:read`. */
export const SCOPES = ["repo:read", "repo:write", "repo:admin", "user", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

/** A role on a repository, held by its owner (admin), a collaborator or a team. Ordered. */
export const ROLES = ["read", "write", "admin"] as const;
export type Role = (typeof ROLES)[number];

/**
 * What a caller wants to do to a repository; each needs the role of the same name (and the token
 * scope `repo:<action>`):
 * - read: see it at all, clone, read files, list runs, open or read an agent session about it;
 * - write: push, dispatch, cancel or rerun a run, start runners, post to a session;
 * - admin: change settings (visibility, default branch, description), collaborators, delete.
 */
export type Action = Role;

export const ORG_ROLES = ["owner", "member"] as const;
export type OrgRole = (typeof ORG_ROLES)[number];

/** PLUE_SIGNUP: who may create an account by themselves. */
export const SIGNUP_MODES = ["closed", "invite", "open"] as const;
export type SignupMode = (typeof SIGNUP_MODES)[number];

// ---- people and organizations --------------------------------------------------------------

/** `GET /api/users/:name`; an organization has kind `org`. */
export interface UserView {
  id: number;
  username: string;
  full_name: string;
  kind: "user" | "org";
  admin: boolean;
  created_at: string;
}

/** `GET /api/user`: the caller, and how this request was authenticated. */
export interface SelfView extends UserView {
  email: string | null;
  /** The scopes of the token in use; null: every scope (a browser session, the first admin token). */
  scopes: Scope[] | null;
  via: "token" | "session";
}

/** An item of `GET /api/admin/users`: what an admin sees. */
export interface AdminUserView extends UserView {
  email: string | null;
  suspended: boolean;
  has_password: boolean;
  /** Failed sign-ins have locked this account until this time (null: not locked). */
  locked_until: string | null;
}

/** `POST /api/admin/users`. */
export interface CreateUserRequest {
  username: string;
  full_name?: string;
  email?: string;
  admin?: boolean;
  /** Set a password now; without one, the answer carries a one-time password-setting link. */
  password?: string;
}

export interface CreatedUser {
  user: AdminUserView;
  /** The one-time link to set a password (absent when a password was given). */
  password_url?: string;
}

/** `POST /api/admin/invites`: a single-use sign-up link. */
export interface InviteView {
  id: number;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}
export interface CreatedInvite extends InviteView {
  /** Shown once. */
  url: string;
}

// ---- tokens --------------------------------------------------------------------------------

/** `POST /api/user/tokens`. */
export interface CreateTokenRequest {
  name: string;
  scopes: Scope[];
  /** ISO time; absent: never expires. */
  expires_at?: string;
}

/** An item of `GET /api/user/tokens`. The secret is never listed. */
export interface TokenView {
  id: number;
  name: string;
  scopes: Scope[] | null;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
}

/** The answer of `POST /api/user/tokens`: the only time the token exists in clear text. */
export interface CreatedToken extends TokenView {
  token: string;
}

// ---- organizations and repository access ---------------------------------------------------

/** `POST /api/orgs`. */
export interface CreateOrgRequest {
  name: string;
  full_name?: string;
}

/** An item of `GET /api/orgs/:org/members`; `PUT /api/orgs/:org/members/:user {role}`. */
export interface OrgMemberView {
  username: string;
  role: OrgRole;
}

/** An item of `GET /api/orgs/:org/teams`. */
export interface TeamView {
  id: number;
  name: string;
  permission: Role;
  members: string[];
  repos: string[];
}

/** An item of `GET /api/repos/:owner/:repo/collaborators`; `PUT …/collaborators/:user {permission}`. */
export interface CollaboratorView {
  username: string;
  permission: Role;
}

/** `PATCH /api/repos/:owner/:repo`: any subset. */
export interface RepoSettingsRequest {
  visibility?: "public" | "private";
  default_branch?: string;
  description?: string;
}

// ---- browser sign-in -----------------------------------------------------------------------

/** `POST /api/session`: password sign-in (a cookie session; see docs/accounts.md). */
export interface SignInRequest {
  username: string;
  password: string;
}

/** `GET /api/session` and the answer of `POST /api/session`. */
export interface BrowserSessionView {
  user: SelfView;
  /** Send as `X-CSRF-Token` with every state-changing request made with the cookie. */
  csrf_token: string;
}

/** `GET /api/auth/providers`: how a person can sign in here. */
export interface SignInOptions {
  password: boolean;
  /** Present when PLUE_OIDC_ISSUER is set: start single sign-on at this URL. */
  sso?: { url: string; issuer: string };
  signup: SignupMode;
}

/** `POST /api/signup`: with an invite (PLUE_SIGNUP=invite) or without (open). Also sets a password for a password link. */
export interface SignUpRequest {
  username?: string;
  password: string;
  invite?: string;
}

/** `GET /api/admin/lockouts` answers `{lockouts: LockoutView[]}`: accounts failed sign-ins have locked. */
export interface LockoutView {
  username: string;
  failures: number;
  /** When the lock ends (ISO); `DELETE /api/admin/lockouts/:user` ends it now. */
  until: string;
}

// ---- audit log -----------------------------------------------------------------------------

export const AUDIT_ACTIONS = [
  "user.created",
  "user.suspended",
  "user.unsuspended",
  "user.unlocked",
  "user.password_set",
  "invite.created",
  "invite.used",
  "signin.succeeded",
  "signin.failed",
  "signin.locked",
  "signout",
  "token.created",
  "token.revoked",
  "org.created",
  "org.member_set",
  "org.member_removed",
  "team.changed",
  "collaborator.set",
  "collaborator.removed",
  "repo.created",
  "repo.deleted",
  "repo.visibility_changed",
  "repo.settings_changed",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** An item of `GET /api/admin/audit`. */
export interface AuditEntryView {
  id: number;
  at: string;
  /** The username as it was when it acted; null for an anonymous attempt. */
  actor: string | null;
  action: AuditAction;
  target: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}

/** `GET /api/admin/audit?before=<id>&action=<action>`: newest first. */
export interface AuditPage {
  entries: AuditEntryView[];
  /** Pass as `before` for the next page; null at the end. */
  next: number | null;
}
