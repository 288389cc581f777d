/**
 * `plue user …`: the admin's account chores, through the running server's API (app/cli/api.ts
 * finds it: PLUE_URL, and PLUE_TOKEN or the data dir's admin-token):
 *   plue user add <name> [--admin] [--email e] [--full-name n]   prints the one-time password link
 *   plue user list
 *   plue user suspend <name>  |  plue user unsuspend <name>
 *   plue user invite                                             prints a single-use sign-up link
 *   plue user token <name> --scopes repo:read,... [--expires 30d] [--name n]   prints the token once
 * Exit codes: 0 done, 1 the server refused (its message is printed), 2 bad usage or no token.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { ApiError } from "../client/api-error";
import type { AdminUserView, CreatedInvite, CreatedToken, CreatedUser } from "../wire/accounts";
import { ApiClient, apiTarget, type Io, NO_TOKEN, processIo } from "./api";

const USAGE = `usage:
  plue user add <name> [--admin] [--email <address>] [--full-name <name>]
  plue user list
  plue user suspend <name>
  plue user unsuspend <name>
  plue user invite
  plue user token <name> --scopes <scope,...> [--expires <30d|12h|ISO time>] [--name <token name>]
`;

class UsageError extends Error {}

export function main(argv: string[]): Promise<number> {
  return user(argv, processIo);
}

/** The command with its output and environment passed in (tests capture them). */
export async function user(argv: string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { base, token } = apiTarget(env);
  try {
    const [command, ...rest] = argv;
    const handler = command ? COMMANDS[command] : undefined;
    if (!handler) throw new UsageError(command ? `unknown command "${command}"` : "which command?");
    if (!token) {
      io.err(`plue user: ${NO_TOKEN}\n`);
      return 2;
    }
    await handler(new ApiClient(base, token), rest, io);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      io.err(`plue user: ${(err as Error).message}\n${USAGE}`);
      return 2;
    }
    if (err instanceof ApiError) {
      io.err(`plue user: ${err.status}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

type Handler = (api: ApiClient, argv: string[], io: Io) => Promise<void>;

const path = (name: string) => `/api/admin/users/${encodeURIComponent(name)}`;

/** The one positional name, and the options. */
function args(
  argv: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  names = 1,
): { values: Record<string, string | boolean | undefined>; name: string } {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  if (positionals.length !== names) {
    throw new UsageError(names === 0 ? "this command takes no name" : "expected one username");
  }
  return { values: values as Record<string, string | boolean | undefined>, name: positionals[0]! };
}

const COMMANDS: Record<string, Handler> = {
  async add(api, argv, io) {
    const { values, name } = args(argv, {
      admin: { type: "boolean" },
      email: { type: "string" },
      "full-name": { type: "string" },
    });
    const created = await api.json<CreatedUser>("POST", "/api/admin/users", {
      username: name,
      admin: values.admin === true,
      ...(typeof values.email === "string" ? { email: values.email } : {}),
      ...(typeof values["full-name"] === "string" ? { full_name: values["full-name"] } : {}),
    });
    io.out(`created ${created.user.admin ? "admin" : "user"} ${created.user.username}\n`);
    if (created.password_url) io.out(`set a password (one use, 24 hours): ${created.password_url}\n`);
  },

  async list(api, argv, io) {
    args(argv, {}, 0);
    const users = await api.json<AdminUserView[]>("GET", "/api/admin/users");
    const rows = users.map((u) => [
      u.username,
      u.admin ? "admin" : "user",
      u.suspended ? "suspended" : "active",
      u.has_password ? "password" : "no password",
      u.email ?? "",
    ]);
    const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length), 0));
    for (const r of rows)
      io.out(
        `${r
          .map((c, i) => (i < 4 ? c.padEnd(widths[i]!) : c))
          .join("  ")
          .trimEnd()}\n`,
      );
  },

  async suspend(api, argv, io) {
    const { name } = args(argv, {});
    const u = await api.json<AdminUserView>("POST", `${path(name)}/suspend`);
    io.out(`suspended ${u.username}: their tokens and sessions no longer work\n`);
  },

  async unsuspend(api, argv, io) {
    const { name } = args(argv, {});
    const u = await api.json<AdminUserView>("DELETE", `${path(name)}/suspend`);
    io.out(`unsuspended ${u.username}\n`);
  },

  async invite(api, argv, io) {
    args(argv, {}, 0);
    const invite = await api.json<CreatedInvite>("POST", "/api/admin/invites");
    io.out(`invite (one use, until ${invite.expires_at}): ${invite.url}\n`);
  },

  async token(api, argv, io) {
    const { values, name } = args(argv, {
      scopes: { type: "string" },
      expires: { type: "string" },
      name: { type: "string" },
    });
    if (typeof values.scopes !== "string") throw new UsageError("--scopes is required (e.g. repo:read)");
    const created = await api.json<CreatedToken>("POST", `${path(name)}/tokens`, {
      name: typeof values.name === "string" ? values.name : `cli token for ${name}`,
      scopes: values.scopes.split(",").map((s) => s.trim()),
      ...(typeof values.expires === "string" ? { expires_at: expiry(values.expires) } : {}),
    });
    io.err(
      `token ${created.id} for ${name} (${created.scopes?.join(", ")}), expires ${created.expires_at ?? "never"}; shown once:\n`,
    );
    io.out(`${created.token}\n`);
  },
};

/** `30d`, `12h` or an ISO time → an ISO time. */
export function expiry(value: string, now = Date.now()): string {
  const m = /^(\d{1,5})([dh])$/.exec(value);
  if (m) return new Date(now + Number(m[1]) * (m[2] === "d" ? 86_400_000 : 3_600_000)).toISOString();
  if (/^\d{4}-\d\d-\d\dT/.test(value) && !Number.isNaN(Date.parse(value))) return value;
  throw new UsageError(`--expires ${value}: write 30d, 12h or an ISO time`);
}
