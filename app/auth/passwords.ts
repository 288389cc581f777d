/**
 * Passwords, hashed with Argon2id (@node-rs/argon2, prebuilt; its defaults are OWASP's: 19 MiB,
 * t=2, p=1). `verifyPassword` of an account without a password (or of no account) still hashes,
 * against a dummy, so "no such user" and "wrong password" take the same time.
 */
import { hash, verify } from "@node-rs/argon2";
import { badRequest } from "../errors";

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

export const hashPassword = (password: string): Promise<string> => hash(password);

/** Whether `password` matches `stored` (an Argon2 PHC string); null `stored` never matches. */
export async function verifyPassword(stored: string | null | undefined, password: string): Promise<boolean> {
  if (!stored) {
    dummy ??= hash("plue: no such password");
    await verify(await dummy, password).catch(() => false);
    return false;
  }
  return verify(stored, password).catch(() => false);
}
