/**
 * Passwords, hashed with Argon2id (@node-rs/argon2, prebuilt; its defaults are OWASP's: 19 MiB,
 * t=2, p=1). `verifyPassword` of an account without a password (or of no account) still hashes,
 * against a dummy, so "no such user" and "wrong password" take the same time.
 */
import { badRequest } from "../errors";

/** The native binding loads on the first password, not at start. */
const argon2 = () => import("@node-rs/argon2");

export const MIN_PASSWORD = 10;
export const MAX_PASSWORD = 256;

/** Hashed once, lazily: what a missing hash is checked against. */
let dummy: Promise<string> | undefined;

/** A clear 400 for a password that can't be one. */
export function validatePassword(password: unknown): string {
  if (typeof password !== "string") throw badRequest("password must be a string");
  if (password.length < MIN_PASSWORD)
    throw badRequest(`password must be at least ${MIN_PASSWORD} characters`);
  if (password.length > MAX_PASSWORD) throw badRequest(`password must be at most ${MAX_PASSWORD} characters`);
  return password;
}

export const hashPassword = async (password: string): Promise<string> => (await argon2()).hash(password);

/** Whether `password` matches `stored` (an Argon2 PHC string); null `stored` never matches. */
export async function verifyPassword(stored: string | null | undefined, password: string): Promise<boolean> {
  const { verify } = await argon2();
  if (!stored) {
    dummy ??= hashPassword("plue: no such password");
    await verify(await dummy, password).catch(() => false);
    return false;
  }
  return verify(stored, password).catch(() => false);
}
