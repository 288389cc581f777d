/**
 * People for tests, made through the API as an admin would: a user (with a password if given) and a
 * token of the given scopes. Other areas' tests use it for "a user with a repo:read token".
 */
import type { AdminUserView, CreatedToken, CreatedUser, Scope } from "../../app/wire/accounts";

export interface Server {
  url: string;
  /** An admin token holding `admin` (startTestPlatform's first-start token holds every scope). */
  token: string;
}

export interface TestAccount {
  user: AdminUserView;
  token: string;
  tokenId: number;
  /** Set when the account was made without a password. */
  passwordUrl?: string;
  /** Calls the API with this account's token; answers the status and the parsed body. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
}

/** Calls the API with `token` (or none). */
export async function call(
  base: string,
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const res = await fetch(base + path, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function ok<T>(r: Promise<{ status: number; body: any }>, what: string): Promise<T> {
  const { status, body } = await r;
  if (status >= 300) throw new Error(`${what}: ${status} ${JSON.stringify(body)}`);
  return body as T;
}

let counter = 0;

/** A unique, valid username for this test run. */
export const uniqueName = (prefix = "user") => `${prefix}${process.pid}x${++counter}`;

/**
 * Creates a user (POST /api/admin/users) and a token for them (POST /api/admin/users/:name/tokens).
 * Scopes default to every one the user may hold.
 */
export async function createAccount(
  server: Server,
  {
    username = uniqueName(),
    admin = false,
    password,
    email,
    scopes,
    expiresAt,
  }: {
    username?: string;
    admin?: boolean;
    password?: string;
    email?: string;
    scopes?: Scope[];
    expiresAt?: string;
  } = {},
): Promise<TestAccount> {
  const created = await ok<CreatedUser>(
    call(server.url, server.token, "POST", "/api/admin/users", { username, admin, password, email }),
    `create user ${username}`,
  );
  const all: Scope[] = admin ? ["repo:admin", "user", "admin"] : ["repo:admin", "user"];
  const token = await createTokenFor(server, username, scopes ?? all, expiresAt);
  return {
    user: created.user,
    token: token.token,
    tokenId: token.id,
    passwordUrl: created.password_url,
    api: (method, path, body) => call(server.url, token.token, method, path, body),
  };
}

/** Another token for an existing user, made by the admin. */
export function createTokenFor(
  server: Server,
  username: string,
  scopes: Scope[],
  expiresAt?: string,
  name = `test token ${++counter}`,
): Promise<CreatedToken> {
  return ok<CreatedToken>(
    call(server.url, server.token, "POST", `/api/admin/users/${username}/tokens`, {
      name,
      scopes,
      ...(expiresAt ? { expires_at: expiresAt } : {}),
    }),
    `create token for ${username}`,
  );
}
