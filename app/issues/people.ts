/** Users named in issue requests (assignees, filters), looked up by username regardless of case. */
import type { Queryable } from "../db";
import { AppError } from "../errors";

export interface Person {
  id: number;
  username: string;
  is_admin: boolean;
}

/** The users (not organizations) named, in order, without repeats; 422 naming the first unknown one. */
export async function resolvePeople(db: Queryable, usernames: readonly string[]): Promise<Person[]> {
  if (usernames.length === 0) return [];
  const r = await db.query<Person>(
    `SELECT id::int AS id, username, is_admin FROM users
      WHERE lower(username) = ANY($1::text[]) AND kind = 'user' AND suspended_at IS NULL`,
    [usernames.map((u) => u.toLowerCase())],
  );
  const byName = new Map(r.rows.map((u) => [u.username.toLowerCase(), u]));
  const out: Person[] = [];
  for (const name of usernames) {
    const person = byName.get(name.toLowerCase());
    if (!person) {
      throw new AppError(422, "unknown_assignee", `no user named ${JSON.stringify(name)}`, {
        assignee: name,
      });
    }
    if (!out.includes(person)) out.push(person);
  }
  return out;
}
