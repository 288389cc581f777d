/**
 * What a personal access token may do, in Forgejo's words. A token carries a set of scopes; a
 * request beyond them is refused with 403 naming the missing scope. A caller without a scope list
 * (the first-start admin token, older tokens) holds every scope.
 *
 * `repo:admin` ⊃ `repo:write` ⊃ `repo:read`: a broader scope grants the narrower ones.
 */
import { AppError } from "../errors";
import { SCOPES, type Scope } from "../wire/accounts";

export { SCOPES, type Scope };

const IMPLIED: Record<Scope, readonly Scope[]> = {
  "repo:read": ["repo:read"],
  "repo:write": ["repo:write", "repo:read"],
  "repo:admin": ["repo:admin", "repo:write", "repo:read"],
  user: ["user"],
  admin: ["admin"],
};

export const isScope = (s: string): s is Scope => (SCOPES as readonly string[]).includes(s);

/** Whether a caller whose token holds `held` (undefined: every scope) may act with `needed`. */
export function hasScope(held: readonly Scope[] | undefined, needed: Scope): boolean {
  return held === undefined || held.some((s) => IMPLIED[s].includes(needed));
}

/** The refusal of a request beyond its token's scopes. */
export const missingScope = (needed: Scope) =>
  new AppError(403, "missing_scope", `this token lacks the scope ${needed}; create a token with ${needed}`, {
    missing_scope: needed,
  });
