/** Browser sign-in for HTTP tests: people with passwords, and a fetch-driven browser with a cookie jar. */
import { hashPassword } from "../../app/auth/passwords";
import { CookieJar } from "./cookies";
import type { TestPlatform } from "./platform";

export const PASSWORD = "correct horse battery";

export async function addUser(p: TestPlatform, username: string, password: string | null = PASSWORD) {
  const hash = password === null ? null : await hashPassword(password);
  const r = await p.ctx.db.query<{ id: number }>(
    "INSERT INTO users (username, password_hash) VALUES ($1, $2) RETURNING id::int AS id",
    [username, hash],
  );
  return r.rows[0]!.id;
}

/** A browser: a cookie jar and the CSRF token the last session answer gave. */
export class Browser {
  jar = new CookieJar();
  csrf = "";
  constructor(private readonly p: TestPlatform) {}

  async fetch(path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.jar.cookies.size > 0 && !headers.has("cookie")) headers.set("cookie", this.jar.header());
    if (init.json !== undefined) headers.set("content-type", "application/json");
    const res = await fetch(`${this.p.url}${path}`, {
      ...init,
      headers,
      body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
      redirect: "manual",
    });
    this.jar.take(res);
    return res;
  }

  async signIn(username: string, password = PASSWORD): Promise<Response> {
    const res = await this.fetch("/api/session", { method: "POST", json: { username, password } });
    if (res.status === 200) this.csrf = ((await res.clone().json()) as { csrf_token: string }).csrf_token;
    return res;
  }

  /** A state-changing request as the UI makes it: with the CSRF token. */
  send(path: string, method: string, json?: unknown, headers: Record<string, string> = {}) {
    return this.fetch(path, { method, json, headers: { "x-csrf-token": this.csrf, ...headers } });
  }
}

export const errorCode = async (res: Response) =>
  ((await res.json()) as { error: { code: string } }).error.code;
export const auditOf = async (p: TestPlatform, action: string) =>
  (
    await p.ctx.db.query<{ actor: string | null; target: string | null; details: unknown }>(
      "SELECT actor, target, details FROM audit_log WHERE action = $1 ORDER BY id",
      [action],
    )
  ).rows;
