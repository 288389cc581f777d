/** Branch names from requests (head, base): git's rules and no revision syntax, else 422. */
import { unprocessable } from "../errors";
import { NameError, validateBranchName } from "../wire/names";

/** `name` as a branch name, or 422 `invalid_branch` naming the field (`-x`, `a..b`, `refs/…`, spaces). */
export function branchName(name: string, field: string): string {
  try {
    return validateBranchName(name);
  } catch (err) {
    if (err instanceof NameError) throw unprocessable(`${field}: ${err.message}`, "invalid_branch");
    throw err;
  }
}
