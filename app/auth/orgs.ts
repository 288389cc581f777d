/**
 * Organizations and teams (docs/accounts.md, "Organizations and teams"). An organization is a row
 * of `users` with kind 'org', so its name shares the users' namespace (case-insensitively); it
 * owns repositories like a user does and never signs in. Its owners administer it and every
 * repository it owns; its members read its repositories and may create new ones; a team gives its
 * members one permission on some of the organization's repositories.
 *
 * Every change is audited in its own transaction and, once committed, announced to every
 * replica's permission cache (`user:<id>` for a member, `repo:<id>` for a team's repository).
 */
import type { Db, Queryable } from "../db";
import { conflict, forbidden, notFound, unprocessable } from "../errors";
import type { OrgMemberView, OrgRole, Role, TeamView, UserView } from "../wire/accounts";
import { validateOwner } from "../wire/names";
import { type Account, accountView, findAccount, findPerson } from "./accounts";
import { audit } from "./audit";
import type { AuthChanges } from "./changes";
import type { User } from "./tokens";

/** A user or an organization, as looked up by name. */
/** Who acts, and from where (for the audit log). */
export interface Actor {
  user: User;
  ip?: string;
}

const TEAM_NAME = /^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$/;

export class Orgs {
  constructor(
    private readonly db: Db,
    private readonly auth: AuthChanges,
  ) {}

  /** `POST /api/orgs`: the creator becomes its first owner. 409 when the name is taken (by anyone). */
  async create(actor: Actor, input: { name: string; full_name?: string }): Promise<UserView> {
    validateOwner(input.name);
    const org = await this.db.transaction(async (tx) => {
      const r = await tx.query<{ id: number }>(
        `INSERT INTO users (username, kind, full_name) VALUES ($1, 'org', $2)
         ON CONFLICT DO NOTHING RETURNING id::int AS id`,
        [input.name, input.full_name ?? ""],
      );
      if (!r.rows[0]) throw conflict(`the name ${input.name} is taken`, "name_taken");
      await tx.query("INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'owner')", [
        r.rows[0].id,
        actor.user.id,
      ]);
      await audit(tx, { actor: actor.user, action: "org.created", target: input.name, ip: actor.ip });
      return (await findAccount(tx, input.name))!;
    });
    await this.auth.changed(`user:${actor.user.id}`);
    return accountView(org);
  }

  /** The organizations `user` belongs to, by name. */
  async of(user: User): Promise<UserView[]> {
    const r = await this.db.query<Parameters<typeof accountView>[0]>(
      `SELECT u.id::int AS id, u.username, u.kind, u.full_name, u.is_admin, u.created_at
         FROM org_members m JOIN users u ON u.id = m.org_id
        WHERE m.user_id = $1 ORDER BY lower(u.username)`,
      [user.id],
    );
    return r.rows.map(accountView);
  }

  /** The organization called `name`; 404 otherwise (a user of that name is not one). */
  async get(name: string): Promise<Account> {
    const a = await findAccount(this.db, name);
    if (a?.kind !== "org") throw notFound(`no organization ${name}`);
    return a;
  }

  async role(org: Account, userId: number): Promise<OrgRole | undefined> {
    const r = await this.db.query<{ role: OrgRole }>(
      "SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2",
      [org.id, userId],
    );
    return r.rows[0]?.role;
  }

  /** 403 unless `user` owns the organization (or is a site admin). */
  async requireOwner(user: User, org: Account): Promise<void> {
    if (user.is_admin || (await this.role(org, user.id)) === "owner") return;
    throw forbidden(`only an owner of ${org.username} can do this`);
  }

  /** 403 unless `user` belongs to the organization (or is a site admin). */
  async requireMember(user: User, org: Account): Promise<void> {
    if (user.is_admin || (await this.role(org, user.id))) return;
    throw forbidden(`only members of ${org.username} can do this`);
  }

  async members(org: Account): Promise<OrgMemberView[]> {
    const r = await this.db.query<OrgMemberView>(
      `SELECT u.username, m.role FROM org_members m JOIN users u ON u.id = m.user_id
        WHERE m.org_id = $1 ORDER BY lower(u.username)`,
      [org.id],
    );
    return r.rows;
  }

  /** Adds a member or changes their role; 409 when it would leave no owner. */
  async setMember(actor: Actor, org: Account, username: string, role: OrgRole): Promise<OrgMemberView> {
    const person = await findPerson(this.db, username);
    await this.db.transaction(async (tx) => {
      if (role !== "owner") await this.keepAnOwner(tx, org, person.id);
      await tx.query(
        `INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = EXCLUDED.role`,
        [org.id, person.id, role],
      );
      await audit(tx, {
        actor: actor.user,
        action: "org.member_set",
        target: org.username,
        ip: actor.ip,
        details: { member: person.username, role },
      });
    });
    await this.auth.changed(`user:${person.id}`);
    return { username: person.username, role };
  }

  /** Removes a member (and them from the organization's teams); 409 for the last owner. */
  async removeMember(actor: Actor, org: Account, username: string): Promise<void> {
    const person = await findPerson(this.db, username);
    await this.db.transaction(async (tx) => {
      await this.keepAnOwner(tx, org, person.id);
      const r = await tx.query("DELETE FROM org_members WHERE org_id = $1 AND user_id = $2", [
        org.id,
        person.id,
      ]);
      if (r.rowCount === 0) throw notFound(`${person.username} is not a member of ${org.username}`);
      await tx.query(
        "DELETE FROM team_members WHERE user_id = $1 AND team_id IN (SELECT id FROM teams WHERE org_id = $2)",
        [person.id, org.id],
      );
      await audit(tx, {
        actor: actor.user,
        action: "org.member_removed",
        target: org.username,
        ip: actor.ip,
        details: { member: person.username },
      });
    });
    await this.auth.changed(`user:${person.id}`);
  }

  /** 409 if `userId` is the organization's only owner (rows locked: two removals cannot race). */
  private async keepAnOwner(tx: Queryable, org: Account, userId: number): Promise<void> {
    const r = await tx.query<{ user_id: number }>(
      "SELECT user_id::int AS user_id FROM org_members WHERE org_id = $1 AND role = 'owner' FOR UPDATE",
      [org.id],
    );
    if (r.rows.length === 1 && r.rows[0]!.user_id === userId) {
      throw conflict(`${org.username} must keep at least one owner`, "last_owner");
    }
  }

  // ---- teams ----

  async teams(org: Account): Promise<TeamView[]> {
    const r = await this.db.query<TeamView>(
      `SELECT t.id::int AS id, t.name, t.permission,
              COALESCE((SELECT array_agg(u.username ORDER BY lower(u.username)) FROM team_members tm
                          JOIN users u ON u.id = tm.user_id WHERE tm.team_id = t.id), '{}') AS members,
              COALESCE((SELECT array_agg(r.name ORDER BY lower(r.name)) FROM team_repos tr
                          JOIN repositories r ON r.id = tr.repo_id WHERE tr.team_id = t.id), '{}') AS repos
         FROM teams t WHERE t.org_id = $1 ORDER BY lower(t.name)`,
      [org.id],
    );
    return r.rows;
  }

  async createTeam(actor: Actor, org: Account, input: { name: string; permission: Role }): Promise<TeamView> {
    if (!TEAM_NAME.test(input.name)) {
      throw unprocessable("a team name is 1-64 letters, digits, spaces, '.', '_' or '-'", "invalid_name");
    }
    const id = await this.db.transaction(async (tx) => {
      const r = await tx.query<{ id: number }>(
        `INSERT INTO teams (org_id, name, permission) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING RETURNING id::int AS id`,
        [org.id, input.name, input.permission],
      );
      if (!r.rows[0]) throw conflict(`${org.username} already has a team ${input.name}`, "team_exists");
      await this.audited(tx, actor, org, { team: input.name, created: input.permission });
      return r.rows[0].id;
    });
    return (await this.teams(org)).find((t) => t.id === id)!;
  }

  async team(org: Account, name: string): Promise<{ id: number; name: string }> {
    const r = await this.db.query<{ id: number; name: string }>(
      "SELECT id::int AS id, name FROM teams WHERE org_id = $1 AND lower(name) = lower($2)",
      [org.id, name],
    );
    if (!r.rows[0]) throw notFound(`${org.username} has no team ${name}`);
    return r.rows[0];
  }

  /** Changes a team's permission (`permission`) or deletes it (null); its repositories' roles drop everywhere. */
  async changeTeam(actor: Actor, org: Account, teamName: string, permission: Role | null): Promise<void> {
    const team = await this.team(org, teamName);
    const repos = await this.db.transaction(async (tx) => {
      const r = await tx.query<{ repo_id: number }>(
        "SELECT repo_id::int AS repo_id FROM team_repos WHERE team_id = $1",
        [team.id],
      );
      if (permission === null) await tx.query("DELETE FROM teams WHERE id = $1", [team.id]);
      else await tx.query("UPDATE teams SET permission = $2 WHERE id = $1", [team.id, permission]);
      await this.audited(tx, actor, org, {
        team: team.name,
        ...(permission ? { permission } : { deleted: true }),
      });
      return r.rows.map((row) => row.repo_id);
    });
    for (const id of repos) await this.auth.changed(`repo:${id}`);
  }

  /** Adds (`add`) or removes a team member; the person must belong to the organization. */
  async teamMember(actor: Actor, org: Account, teamName: string, username: string, add: boolean) {
    const team = await this.team(org, teamName);
    const person = await findPerson(this.db, username);
    if (add && !(await this.role(org, person.id))) {
      throw unprocessable(`${person.username} is not a member of ${org.username}`, "not_a_member");
    }
    await this.db.transaction(async (tx) => {
      await tx.query(
        add
          ? "INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
          : "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2",
        [team.id, person.id],
      );
      await this.audited(tx, actor, org, { team: team.name, [add ? "added" : "removed"]: person.username });
    });
    await this.auth.changed(`user:${person.id}`);
  }

  /** Gives (`add`) or takes a team's access to one of the organization's repositories. */
  async teamRepo(actor: Actor, org: Account, teamName: string, repoName: string, add: boolean) {
    const team = await this.team(org, teamName);
    const r = await this.db.query<{ id: number; name: string }>(
      "SELECT id::int AS id, name FROM repositories WHERE owner_id = $1 AND lower(name) = lower($2)",
      [org.id, repoName],
    );
    const repo = r.rows[0];
    if (!repo) throw notFound(`repository ${org.username}/${repoName} not found`);
    await this.db.transaction(async (tx) => {
      await tx.query(
        add
          ? "INSERT INTO team_repos (team_id, repo_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
          : "DELETE FROM team_repos WHERE team_id = $1 AND repo_id = $2",
        [team.id, repo.id],
      );
      await this.audited(tx, actor, org, {
        team: team.name,
        [add ? "repo_added" : "repo_removed"]: repo.name,
      });
    });
    await this.auth.changed(`repo:${repo.id}`);
  }

  private audited(tx: Queryable, actor: Actor, org: Account, details: Record<string, unknown>) {
    return audit(tx, {
      actor: actor.user,
      action: "team.changed",
      target: org.username,
      ip: actor.ip,
      details,
    });
  }
}
