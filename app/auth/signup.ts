/**
 * People creating their own account (PLUE_SIGNUP: closed, invite or open), with a password or
 * through single sign-on, and setting a password from a one-time link. Each runs in one
 * transaction with the invite it takes and its audit entries: a refused invite creates nobody.
 */
import type { Db, Queryable } from "../db";
import { AppError, badRequest, conflict, forbidden } from "../errors";
import type { SignupMode } from "../wire/accounts";
import { validateOwner } from "../wire/names";
import { findAccount, validateUsername } from "./accounts";
import { audit } from "./audit";
import { takeInvite } from "./invites";
import { hashPassword, validatePassword } from "./passwords";
import type { User } from "./tokens";

/** The refusal when `mode` does not let this person sign up (null: they may). */
export function signupRefusal(mode: SignupMode, invite: string | undefined): AppError | null {
  if (mode === "closed")
    return forbidden("sign-up is closed here: ask an admin for an account", "signup_closed");
  if (mode === "invite" && !invite) return forbidden("sign-up here needs an invite link", "invite_required");
  return null;
}

interface NewPerson {
  username: string;
  passwordHash?: string | null;
  email?: string | null;
  fullName?: string;
  oidc?: { issuer: string; sub: string };
}

async function insertPerson(tx: Queryable, p: NewPerson): Promise<User> {
  try {
    const r = await tx.query<User>(
      `INSERT INTO users (username, is_admin, password_hash, email, full_name, oidc_issuer, oidc_sub)
       VALUES ($1, false, $2, $3, $4, $5, $6) RETURNING id::int AS id, username, is_admin`,
      [
        p.username,
        p.passwordHash ?? null,
        p.email ?? null,
        p.fullName ?? "",
        p.oidc?.issuer ?? null,
        p.oidc?.sub ?? null,
      ],
    );
    return r.rows[0]!;
  } catch (err) {
    if ((err as { code?: string }).code === "23505")
      throw conflict(`the username '${p.username}' is taken`, "username_taken");
    throw err;
  }
}

/**
 * Creates a person (and takes the invite, when the mode needs or the person brings one) in one
 * transaction, audited as user.created (and invite.used).
 */
export async function signUp(
  db: Db,
  mode: SignupMode,
  person: NewPerson & { invite?: string },
  ip: string | undefined,
): Promise<User> {
  const refusal = signupRefusal(mode, person.invite);
  if (refusal) throw refusal;
  return db.transaction(async (tx) => {
    const user = await insertPerson(tx, person);
    const actor = { id: user.id, username: user.username };
    if (person.invite && mode !== "open") {
      const invite = await takeInvite(tx, person.invite, "signup", user.id);
      await audit(tx, {
        actor,
        action: "invite.used",
        target: user.username,
        ip,
        details: { invite: invite.id },
      });
    }
    const via = person.oidc ? "sso" : "password";
    await audit(tx, {
      actor,
      action: "user.created",
      target: user.username,
      ip,
      details: { via, signup: mode },
    });
    return user;
  });
}

export async function signUpWithPassword(
  db: Db,
  mode: SignupMode,
  body: { username?: unknown; password?: unknown; invite?: unknown },
  ip: string | undefined,
): Promise<User> {
  const invite = typeof body.invite === "string" && body.invite !== "" ? body.invite : undefined;
  const refusal = signupRefusal(mode, invite);
  if (refusal) throw refusal;
  const username = validateUsername(body.username);
  const passwordHash = await hashPassword(validatePassword(body.password));
  return signUp(db, mode, { username, passwordHash, invite }, ip);
}

/** Sets the password of the link's user (audited user.password_set); returns that user. */
export async function setPasswordWithLink(
  db: Db,
  token: unknown,
  password: unknown,
  ip: string | undefined,
): Promise<User & { suspended: boolean }> {
  if (typeof token !== "string" || token === "") throw badRequest("token must be the link's token");
  const passwordHash = await hashPassword(validatePassword(password));
  return db.transaction(async (tx) => {
    const invite = await takeInvite(tx, token, "password");
    const r = await tx.query<User & { suspended: boolean }>(
      `UPDATE users SET password_hash = $2 WHERE id = $1 AND kind = 'user'
       RETURNING id::int AS id, username, is_admin, suspended_at IS NOT NULL AS suspended`,
      [invite.userId, passwordHash],
    );
    const user = r.rows[0];
    if (!user) throw new AppError(410, "invite_invalid", "this password link is not valid");
    const actor = { id: user.id, username: user.username };
    await audit(tx, {
      actor,
      action: "invite.used",
      target: user.username,
      ip,
      details: { invite: invite.id },
    });
    await audit(tx, {
      actor,
      action: "user.password_set",
      target: user.username,
      ip,
      details: { via: "link" },
    });
    return user;
  });
}

/**
 * A free username from what a provider says (preferred_username, else the email's local part):
 * cleaned to the name rules, then `-2`, `-3`, … until no account (or reserved name) has it.
 */
export async function freeUsername(db: Queryable, wanted: string): Promise<string> {
  let base = wanted
    .replace(/@.*$/, "")
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/\.{2,}/g, ".")
    .replace(/^[^A-Za-z0-9]+/, "")
    .replace(/\.(git|lock)$/i, "")
    .slice(0, 32);
  if (base === "") base = "user";
  for (let n = 1; n < 1000; n++) {
    const name = n === 1 ? base : `${base}-${n}`;
    try {
      validateOwner(name);
    } catch {
      continue;
    }
    if (!(await findAccount(db, name))) return name;
  }
  throw conflict("no free username could be derived", "username_taken");
}
