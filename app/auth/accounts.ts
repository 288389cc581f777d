/**
 * People (docs/accounts.md, "Users and invites"): what the admin does to accounts (create, list,
 * suspend, invite) and what a user does to their own tokens. Every change is audited in the
 * transaction that makes it; a change that must reach cached lookups on every replica (suspension,
 * revocation) calls `AuthChanges.changed` once it has committed.
 */
import type { Db, Queryable } from "../db";
import { AppError, badRequest, conflict, notFound, unprocessable } from "../errors";
import type {
  AdminUserView,
  CreatedInvite,
  CreatedToken,
  CreatedUser,
  CreateTokenRequest,
  CreateUserRequest,
  InviteView,
  SelfView,
  UserView,
} from "../wire/accounts";
import { NameError, validateOwner } from "../wire/names";
import { audit } from "./audit";
import type { AuthChanges } from "./changes";
import { createInvite } from "./invites";
import { hashPassword, validatePassword } from "./passwords";
import { hasScope, isScope, missingScope, type Scope } from "./scopes";
import { lockedUntilByName } from "./signin-limits";
import { issueToken, revokeToken, type User } from "./tokens";

/** Who acts, for the audit log. */
export interface Actor {
  id: number;
  username: string;
  ip?: string;
}

export const MAX_FULL_NAME = 100;
export const MAX_EMAIL = 254;
export const MAX_TOKEN_NAME = 100;

/** A user or an organization (one namespace of owner names), as the accounts code reads it. */
export interface Account {
  id: number;
  username: string;
  full_name: string;
  kind: "user" | "org";
  is_admin: boolean;
  created_at: Date;
  email: string | null;
  suspended: boolean;
  has_password: boolean;
}

const USER_COLUMNS = `id::int AS id, username, full_name, kind, is_admin, created_at, email,
  suspended_at IS NOT NULL AS suspended, password_hash IS NOT NULL AS has_password`;

type UserRow = Account;

/** The public view of an account: a person's or an organization's profile. */
export const accountView = (
  r: Pick<Account, "id" | "username" | "full_name" | "kind" | "is_admin" | "created_at">,
): UserView => ({
  id: r.id,
  username: r.username,
  full_name: r.full_name,
  kind: r.kind,
  admin: r.is_admin,
  created_at: new Date(r.created_at).toISOString(),
});

const adminView = (r: UserRow): AdminUserView => ({
  ...accountView(r),
  email: r.email,
  suspended: r.suspended,
  has_password: r.has_password,
  locked_until: null, // listAccounts fills it from the sign-in limiter
});

/** A user or organization by name, case-insensitively. */
export async function findAccount(db: Queryable, name: string): Promise<Account | undefined> {
  if (name.length === 0 || name.length > 100) return undefined;
  const r = await db.query<Account>(`SELECT ${USER_COLUMNS} FROM users WHERE lower(username) = lower($1)`, [
    name,
  ]);
  return r.rows[0];
}

/** A person (not an organization) by name, or the 404. */
export async function findPerson(db: Queryable, name: string): Promise<Account> {
  const row = await findAccount(db, name);
  if (row?.kind !== "user") throw notFound(`no user ${name}`);
  return row;
}

/** A username by the owner rules (app/wire/names.ts), or the 400 that says which rule it breaks. */
export function validateUsername(username: unknown): string {
  if (typeof username !== "string") throw badRequest("username must be a string");
  try {
    return validateOwner(username);
  } catch (err) {
    if (err instanceof NameError) throw badRequest(err.message.replace(/^owner/, "username"), "invalid_name");
    throw err;
  }
}

function checkEmail(email: string | undefined): string | null {
  if (email === undefined || email === "") return null;
  if (email.length > MAX_EMAIL || !/^[^\s@]+@[^\s@]+$/.test(email))
    throw badRequest("email is not an address");
  return email;
}

const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === "23505";

/** `POST /api/admin/users`. Without a password, the answer carries a one-time password link. */
export async function createAccount(
  db: Db,
  actor: Actor,
  req: CreateUserRequest,
  publicUrl: string,
): Promise<CreatedUser> {
  const username = validateUsername(req.username);
  const fullName = req.full_name ?? "";
  if (fullName.length > MAX_FULL_NAME)
    throw badRequest(`full_name must be at most ${MAX_FULL_NAME} characters`);
  const email = checkEmail(req.email);
  const hash = req.password === undefined ? null : await hashPassword(validatePassword(req.password));
  try {
    return await db.transaction(async (tx) => {
      if (await findAccount(tx, username)) throw nameTaken(username);
      const r = await tx.query<UserRow>(
        `INSERT INTO users (username, full_name, email, is_admin, password_hash) VALUES ($1, $2, $3, $4, $5)
         RETURNING ${USER_COLUMNS}`,
        [username, fullName, email, req.admin ?? false, hash],
      );
      const row = r.rows[0]!;
      const created: CreatedUser = { user: adminView(row) };
      if (hash === null) {
        const { secret } = await createInvite(tx, { userId: row.id, createdBy: actor.id });
        created.password_url = `${publicUrl}/password?token=${encodeURIComponent(secret)}`;
      }
      await audit(tx, {
        actor,
        action: "user.created",
        target: row.username,
        ip: actor.ip,
        details: { admin: row.is_admin, setup: hash === null ? "link" : "password" },
      });
      return created;
    });
  } catch (err) {
    // Two creations racing for one name: the index decides, the loser gets the same 409.
    if (isUniqueViolation(err)) throw nameTaken(username);
    throw err;
  }
}

const nameTaken = (name: string) =>
  conflict(`the name ${name} is taken (by a user or an organization)`, "name_taken");

/** `GET /api/admin/users`: people, not organizations, by name. */
export async function listAccounts(db: Queryable): Promise<AdminUserView[]> {
  const r = await db.query<UserRow>(
    `SELECT ${USER_COLUMNS} FROM users WHERE kind = 'user' ORDER BY lower(username)`,
  );
  const locks = await lockedUntilByName(db);
  return r.rows.map((row) => ({ ...adminView(row), locked_until: locks.get(row.username) ?? null }));
}

/**
 * Suspends (or restores) a person. Suspension ends their browser sessions; their tokens stop at
 * once on every replica (`user:<id>` is dropped from the caches). Doing it twice changes nothing
 * and records nothing.
 */
export async function setSuspended(
  db: Db,
  changes: AuthChanges,
  actor: Actor,
  name: string,
  suspended: boolean,
): Promise<AdminUserView> {
  const { row, changed } = await db.transaction(async (tx) => {
    const target = await findPerson(tx, name);
    if (suspended && target.id === actor.id) {
      throw unprocessable("you cannot suspend yourself", "cannot_suspend_self");
    }
    if (target.suspended === suspended) return { row: target, changed: false };
    const r = await tx.query<UserRow>(
      `UPDATE users SET suspended_at = ${suspended ? "now()" : "NULL"} WHERE id = $1 RETURNING ${USER_COLUMNS}`,
      [target.id],
    );
    if (suspended) await tx.query("DELETE FROM browser_sessions WHERE user_id = $1", [target.id]);
    await audit(tx, {
      actor,
      action: suspended ? "user.suspended" : "user.unsuspended",
      target: target.username,
      ip: actor.ip,
    });
    return { row: r.rows[0]!, changed: true };
  });
  if (changed) await changes.changed(`user:${row.id}`);
  return adminView(row);
}

interface InviteRow {
  id: number;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
}

const inviteView = (r: InviteRow): InviteView => ({
  id: r.id,
  created_at: new Date(r.created_at).toISOString(),
  expires_at: new Date(r.expires_at).toISOString(),
  used_at: r.used_at ? new Date(r.used_at).toISOString() : null,
});

/** `POST /api/admin/invites`: a single-use sign-up link (the sign-in area serves /signup). */
export async function createSignupInvite(db: Db, actor: Actor, publicUrl: string): Promise<CreatedInvite> {
  return db.transaction(async (tx) => {
    const { invite, secret } = await createInvite(tx, { createdBy: actor.id });
    await audit(tx, { actor, action: "invite.created", target: `invite ${invite.id}`, ip: actor.ip });
    return {
      id: invite.id,
      created_at: invite.createdAt,
      expires_at: invite.expiresAt,
      used_at: null,
      url: `${publicUrl}/signup?invite=${encodeURIComponent(secret)}`,
    };
  });
}

/** `GET /api/admin/invites`: sign-up invites (not password links), newest first. */
export async function listInvites(db: Queryable): Promise<InviteView[]> {
  const r = await db.query<InviteRow>(
    `SELECT id::int AS id, created_at, expires_at, used_at FROM invites WHERE user_id IS NULL ORDER BY id DESC LIMIT 1000`,
  );
  return r.rows.map(inviteView);
}

/** `GET /api/users/:name`: a person's or an organization's public profile. */
export async function profile(db: Queryable, name: string): Promise<UserView> {
  const row = await findAccount(db, name);
  if (!row) throw notFound(`no user or organization ${name}`);
  return accountView(row);
}

/** `GET /api/user`: the caller, with how this request was authenticated. */
export async function selfView(db: Queryable, user: User): Promise<SelfView> {
  const r = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [user.id]);
  const row = r.rows[0];
  if (!row) throw notFound("your account no longer exists");
  return {
    ...accountView(row),
    email: row.email,
    scopes: user.scopes ? [...user.scopes] : null,
    via: user.via ?? (user.tokenId === undefined ? "session" : "token"),
  };
}

/**
 * The scopes a new token of `owner` may hold, asked for by `caller`: known scopes only (422),
 * `admin` only for a site admin (422), and none beyond the caller's own token (403: a token
 * cannot mint a broader one). Returns them deduplicated, in SCOPES order.
 */
export function checkTokenScopes(
  requested: readonly string[],
  owner: { is_admin: boolean },
  caller: User,
): Scope[] {
  if (requested.length === 0) throw unprocessable("a token needs at least one scope", "invalid_scope");
  for (const s of requested) {
    if (!isScope(s)) throw unprocessable(`unknown scope ${JSON.stringify(s).slice(0, 60)}`, "invalid_scope");
    if (s === "admin" && !owner.is_admin) {
      throw unprocessable("only a site admin's token may hold the admin scope", "scope_not_allowed");
    }
    if (!hasScope(caller.scopes, s)) throw missingScope(s);
  }
  return [...new Set(requested as Scope[])];
}

function checkExpiry(expiresAt: string | undefined): Date | null {
  if (expiresAt === undefined) return null;
  const at = new Date(expiresAt);
  if (!/^\d{4}-\d\d-\d\dT/.test(expiresAt) || Number.isNaN(at.getTime())) {
    throw badRequest("expires_at must be an ISO 8601 time");
  }
  if (at.getTime() <= Date.now()) throw unprocessable("expires_at must be in the future", "invalid_expiry");
  return at;
}

/**
 * A token for `owner` (the caller itself, or, by an admin, a named user: a bot's or a CI
 * account's token). Checked before anything is stored; audited with the token's id, never its secret.
 */
export async function createTokenFor(
  db: Db,
  actor: Actor,
  caller: User,
  ownerName: string,
  req: Omit<CreateTokenRequest, "scopes"> & { scopes: readonly string[] },
): Promise<CreatedToken> {
  const name = req.name.trim();
  if (name.length === 0 || name.length > MAX_TOKEN_NAME) {
    throw badRequest(`name must be 1-${MAX_TOKEN_NAME} characters`);
  }
  const expiresAt = checkExpiry(req.expires_at);
  return db.transaction(async (tx) => {
    const owner = await findPerson(tx, ownerName);
    if (owner.suspended) throw unprocessable(`${owner.username} is suspended`, "user_suspended");
    const scopes = checkTokenScopes(req.scopes, owner, caller);
    const { token, view } = await issueToken(tx, owner.id, name, { scopes, expiresAt });
    await audit(tx, {
      actor,
      action: "token.created",
      target: `token ${view.id}`,
      ip: actor.ip,
      details: { owner: owner.username, name, scopes, expires_at: view.expires_at },
    });
    return { ...view, token };
  });
}

/** Revokes one of the caller's own tokens (404 for another's, or one already revoked). */
export async function revokeOwnToken(
  db: Db,
  changes: AuthChanges,
  actor: Actor,
  tokenId: number,
): Promise<void> {
  const revoked = await db.transaction(async (tx) => {
    const view = await revokeToken(tx, actor.id, tokenId);
    if (!view) return undefined;
    await audit(tx, {
      actor,
      action: "token.revoked",
      target: `token ${view.id}`,
      ip: actor.ip,
      details: { owner: actor.username, name: view.name },
    });
    return view;
  });
  if (!revoked) throw new AppError(404, "not_found", `you have no token ${tokenId}`);
  await changes.changed(`token:${tokenId}`);
}
