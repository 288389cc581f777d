/**
 * Keeping credentials out of logs and error messages. Two nets, because neither is enough alone:
 *   - by name: a value under a key (a header, a log field, an environment variable, a query
 *     parameter) whose name says it holds a credential is replaced whole;
 *   - by shape: credentials embedded in text (a URL's password, `Bearer …`, Plue's `plue_…` tokens,
 *     Anthropic keys) and the exact values of this process's own secrets are cut out of every string.
 * pino's `redact` option takes fixed paths, not patterns, so the loggers (app/log.ts, runner/log.ts)
 * run `redactLine` over each finished log line instead (see app/log.ts). Pure and in the wire
 * module because the app and its runners apply the same rules: one copy of each.
 */

export const REDACTED = "[redacted]";

/** Header, field and parameter names that carry credentials (`x-plue-task-token`, `set-cookie`, …). */
const SECRET_NAME =
  /authorization|cookie|token|secret|passw(or)?d|passphrase|pwd|api[-_]?key|private[-_]?key|access[-_]?key|credential|signature/i;
/** Short query-parameter names that are credentials by convention (`?sig=`, `?code=` of OAuth, `?invite=`). */
const SECRET_PARAM = /^(sig|code|key|auth|pass|invite)$/i;
/** Environment variables whose values are secret (config errors never print them). */
const SECRET_ENV = /TOKEN|SECRET|KEY|PASSWORD|PASSWD|CREDENTIAL|PRIVATE/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

export function isSecretEnvName(name: string): boolean {
  return SECRET_ENV.test(name);
}

/** scheme://user:password@ (the password), or scheme://token@ (a bare credential as user). */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@:"']*)(:[^\s/?#@"']*)?@/gi;
/** `Bearer <credential>` and friends inside text; 8+ characters so `Basic realm=` stays readable. */
const AUTH_SCHEME = /\b(Bearer|Basic|Token|Digest)(\s+)[A-Za-z0-9._~+/=-]{8,}/gi;
/**
 * Plue API, task and runner tokens (`plue_`, `plue_task_`, `plue_runner_` + 32 random bytes), browser
 * session secrets (`plses_`), and invite and password links' secrets (`plinv_`, in
 * `/signup?invite=…`, whose name says nothing).
 */
const PLUE_TOKEN = /\b(?:plue|plses|plinv)_[A-Za-z0-9_-]{16,}/g;
/** Anthropic API keys. */
const ANTHROPIC_KEY = /\bsk-ant-[A-Za-z0-9_-]{16,}/g;
/** `?name=value` / `&name=value` in a URL or query string. */
const QUERY_PARAM = /([?&;])([^=&;\s#"'<>]+)=([^&;\s#"'<>]*)/g;

/** The string with every embedded credential replaced by REDACTED. */
export function scrubText(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out
    .replace(URL_USERINFO, (_m, scheme: string, user: string, pass?: string) =>
      pass === undefined ? `${scheme}${REDACTED}@` : `${scheme}${user}:${REDACTED}@`,
    )
    .replace(AUTH_SCHEME, (_m, scheme: string, space: string) => `${scheme}${space}${REDACTED}`)
    .replace(PLUE_TOKEN, REDACTED)
    .replace(ANTHROPIC_KEY, REDACTED)
    .replace(QUERY_PARAM, (m, sep: string, name: string) =>
      isSecretName(name) || SECRET_PARAM.test(name) ? `${sep}${name}=${REDACTED}` : m,
    );
}

/** Deepest nesting walked; anything below is dropped rather than logged unread. */
const MAX_DEPTH = 16;

/**
 * A copy of a JSON-like value with credentials removed: a non-empty string, object or array under
 * a secret name becomes REDACTED (numbers and booleans stay, so `input_tokens: 12` is kept), and
 * every other string is scrubbed.
 */
export function redact(value: unknown, secrets: readonly string[] = [], depth = 0): unknown {
  if (typeof value === "string") return scrubText(value, secrets);
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_DEPTH) return REDACTED;
  if (Array.isArray(value)) return value.map((v) => redact(v, secrets, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = isSecretName(key) && isCredentialLike(v) ? REDACTED : redact(v, secrets, depth + 1);
  }
  return out;
}

function isCredentialLike(v: unknown): boolean {
  if (typeof v === "string") return v !== "";
  return v !== null && typeof v === "object";
}

/**
 * The values of this process's secrets, from its environment: variables named like secrets, and
 * the password of any URL variable (DATABASE_URL). Short values are skipped: cutting `1` or `true`
 * out of every log line would garble it and protect nothing.
 */
export function secretValues(env: NodeJS.ProcessEnv = process.env): string[] {
  const found = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (!value) continue;
    if (isSecretEnvName(name) && value.length >= 8) found.add(value);
    const password = urlPassword(value);
    if (password && password.length >= 4) {
      found.add(password);
      found.add(encodeURIComponent(password));
    }
  }
  // Longest first, so a secret that contains another is cut whole.
  return [...found].sort((a, b) => b.length - a.length);
}

function urlPassword(value: string): string | undefined {
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(value)) return undefined;
  try {
    const u = new URL(value);
    return u.password ? decodeURIComponent(u.password) : undefined;
  } catch {
    return undefined;
  }
}

/** A URL fit to print: its password masked; undefined when it does not parse (print nothing then). */
export function maskUrl(value: string): string | undefined {
  // `user:pass@host` parses too (scheme "user:"): only `scheme://` URLs are printed.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return undefined;
  try {
    const u = new URL(value);
    // An `@` left anywhere else may be part of a credential the parser did not see as one.
    const rest = u.href.slice(u.protocol.length + 2).replace(/^[^/@]*@/, "");
    // scrubText masks the password (or a bare user credential) and, since libpq also takes
    // `?password=`, query parameters named like secrets.
    return rest.includes("@") ? undefined : scrubText(u.href);
  } catch {
    return undefined;
  }
}

/** One log line (JSON and a newline) with its credentials removed. */
export function redactLine(line: string, secrets: readonly string[] = []): string {
  try {
    return `${JSON.stringify(redact(JSON.parse(line), secrets))}\n`;
  } catch {
    // Not JSON (pino writes nothing else): scrub it as text rather than drop it.
    return scrubText(line, secrets);
  }
}

/**
 * One bad environment variable, named. Values are shown only when they cannot be secret: never for
 * a variable named like a secret (*TOKEN*, *SECRET*, *KEY*, *PASSWORD*, …), and a URL only with
 * its password masked (DATABASE_URL), or not at all if it does not parse.
 */
function describeEnvProblem(name: string, value: string | undefined, message: string): string {
  if (value === undefined) return `${name}: ${message}`;
  const hide = (text: string) => (value.length >= 4 ? text.split(value).join(REDACTED) : text);
  if (isSecretEnvName(name)) return `${name} (value not shown): ${hide(message)}`;
  if (name.endsWith("_URL")) {
    const shown = maskUrl(value);
    return shown === undefined
      ? `${name} (value not shown: not a URL): ${hide(message)}`
      : `${name}=${JSON.stringify(shown)}: ${hide(message)}`;
  }
  return `${name}=${JSON.stringify(value)}: ${message}`;
}

/** A schema's complaints about an environment (zod issues), one line per variable, fit to print. */
export function envProblems(
  issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[],
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  return issues.map((i) => {
    const name = i.path.join(".");
    return describeEnvProblem(name, env[name], i.message);
  });
}
