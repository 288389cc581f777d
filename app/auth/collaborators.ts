/**
 * A repository's collaborators: people given one role on it (docs/accounts.md, "Repository
 * permissions"). Each change is audited with it and, once committed, drops the person's cached
 * roles on every replica (`user:<id>`).
 */
import type { Db } from "../db";
import { notFound, unprocessable } from "../errors";
import type { CollaboratorView, Role } from "../wire/accounts";
import { findAccount } from "./accounts";
import { audit } from "./audit";
import type { AuthChanges } from "./changes";
import type { Actor } from "./orgs";

interface RepoNamed {
  id: number;
  owner: string;
  name: string;
  ownerId: number | null;
}

export class Collaborators {
  constructor(
    private readonly db: Db,
    private readonly auth: AuthChanges,
  ) {}

  async list(repo: RepoNamed): Promise<CollaboratorView[]> {
    const r = await this.db.query<CollaboratorView>(
      `SELECT u.username, c.permission FROM collaborators c JOIN users u ON u.id = c.user_id
        WHERE c.repo_id = $1 ORDER BY lower(u.username)`,
      [repo.id],
    );
    return r.rows;
  }

  /** Gives `username` the role `permission`: 404 for no such user, 422 for an organization or the owner. */
  async set(actor: Actor, repo: RepoNamed, username: string, permission: Role): Promise<CollaboratorView> {
    const person = await findAccount(this.db, username);
    if (!person) throw notFound(`no user ${username}`);
    if (person.kind === "org") {
      throw unprocessable(
        `${person.username} is an organization: give a team of it access instead`,
        "not_a_user",
      );
    }
    if (person.id === repo.ownerId) {
      throw unprocessable(`${person.username} owns ${repo.owner}/${repo.name}`, "owner");
    }
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO collaborators (repo_id, user_id, permission) VALUES ($1, $2, $3)
         ON CONFLICT (repo_id, user_id) DO UPDATE SET permission = EXCLUDED.permission`,
        [repo.id, person.id, permission],
      );
      await audit(tx, {
        actor: actor.user,
        action: "collaborator.set",
        target: `${repo.owner}/${repo.name}`,
        ip: actor.ip,
        details: { collaborator: person.username, permission },
      });
    });
    await this.auth.changed(`user:${person.id}`);
    return { username: person.username, permission };
  }

  /** 404 when `username` is not a collaborator. */
  async remove(actor: Actor, repo: RepoNamed, username: string): Promise<void> {
    const person = await findAccount(this.db, username);
    if (!person) throw notFound(`no user ${username}`);
    await this.db.transaction(async (tx) => {
      const r = await tx.query("DELETE FROM collaborators WHERE repo_id = $1 AND user_id = $2", [
        repo.id,
        person.id,
      ]);
      if (r.rowCount === 0)
        throw notFound(`${person.username} is not a collaborator on ${repo.owner}/${repo.name}`);
      await audit(tx, {
        actor: actor.user,
        action: "collaborator.removed",
        target: `${repo.owner}/${repo.name}`,
        ip: actor.ip,
        details: { collaborator: person.username },
      });
    });
    await this.auth.changed(`user:${person.id}`);
  }
}
