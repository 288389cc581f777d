/**
 * Issue and pull request numbers: one sequence per repository shared by both (as on GitHub and
 * Gitea), kept in `repositories.last_issue_number`. Taking a number locks the repository's row
 * until the transaction ends, so two issues opened at once get consecutive numbers, and a
 * transaction that rolls back gives its number back.
 */
import type { Queryable } from "../db";

/** The next number of the repository; call inside the transaction that inserts the issue. */
export async function nextIssueNumber(tx: Queryable, repoId: number): Promise<number> {
  const r = await tx.query<{ n: number }>(
    "UPDATE repositories SET last_issue_number = last_issue_number + 1 WHERE id = $1 RETURNING last_issue_number AS n",
    [repoId],
  );
  const n = r.rows[0]?.n;
  if (n === undefined) throw new Error(`no repository ${repoId}`);
  return n;
}
