/**
 * Signing in and getting an account: `/login` (username and password; single sign-on when the
 * server has an IdP; an API token as the fallback), `/signup?invite=…` and `/password?token=…`
 * (set a password with a one-time link). A password sign-in answers with a cookie session; the
 * link secrets are taken out of the address bar at once, so they stay out of history.
 */
import { ApiError, apiError } from "../../../app/client/api-error";
import type { BrowserSessionView, SignInOptions } from "../../../app/wire/accounts";
import { auth, rememberSession } from "../api";
import { h, main, notice, replace, setTitle } from "../dom";
import { errorText, field, onSubmit, queryParam, statusLine } from "../forms";
import { api, urls } from "../routes";

/** Only same-origin paths: `?next=` must not send anyone elsewhere. */
export function safeNext(next: string | null): string {
  return next?.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

/** POSTs JSON without any stored credential (there is no session yet); the API's error on failure. */
async function postAnonymous<T>(path: string, body: unknown): Promise<T | undefined> {
  let res: Response;
  try {
    res = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    throw new ApiError(0, "network", "The server could not be reached. Check your connection and retry.");
  }
  const text = await res.text();
  if (!res.ok) throw apiError(res.status, text, `POST ${path} failed with ${res.status}`);
  return text ? (JSON.parse(text) as T) : undefined;
}

/** How this server signs people in; a server without the endpoint has passwords only. */
async function signInOptions(): Promise<SignInOptions> {
  try {
    const res = await fetch(api.providers(), { credentials: "omit" });
    if (res.ok) return (await res.json()) as SignInOptions;
  } catch {
    // fall through
  }
  return { password: true, signup: "closed" };
}

/** Signed in with a cookie from now on: a token kept from before would override it, so it goes. */
function sessionStarted(s: BrowserSessionView | undefined, next: string): void {
  auth.clear();
  rememberSession(s?.user ? s : null);
  location.assign(next);
}

function passwordForm(next: string): HTMLFormElement {
  const status = statusLine();
  const form = h(
    "form",
    { class: "stack" },
    ...field("username", "Username", { required: true, autocomplete: "username", autocapitalize: "none" }),
    ...field("password", "Password", { type: "password", required: true, autocomplete: "current-password" }),
    h("button", { type: "submit" }, "Sign in"),
    status,
  );
  onSubmit(form, status, async (data) => {
    const s = await postAnonymous<BrowserSessionView>(api.session(), {
      username: String(data.get("username")).trim(),
      password: String(data.get("password")),
    });
    sessionStarted(s, next);
  });
  return form;
}

/** The fallback: paste an API token; it is checked, then kept in this browser's localStorage. */
function tokenForm(next: string): HTMLElement {
  const status = statusLine();
  const form = h(
    "form",
    { class: "stack" },
    ...field("token", "API token", { type: "password", required: true, "aria-describedby": "token-hint" }),
    h(
      "p",
      { class: "hint muted", id: "token-hint" },
      "The token is kept in this browser only (localStorage) and sent to this server as a Bearer header. `npm start` prints an admin token and writes it to .plue/admin-token.",
    ),
    h("button", { type: "submit", class: "button-secondary" }, "Sign in with token"),
    status,
  );
  onSubmit(form, status, async (data) => {
    const token = String(data.get("token")).trim();
    const res = await fetch(api.config(), { headers: { authorization: `Bearer ${token}` } }).catch(
      () => undefined,
    );
    if (!res?.ok) {
      throw new Error(
        res?.status === 401
          ? "That token is not valid (or was revoked)."
          : "The server could not be reached.",
      );
    }
    auth.set(token);
    location.assign(next);
  });
  return h("details", { class: "token-signin" }, h("summary", null, "Use an API token instead"), form);
}

/** `/login`. */
export async function renderLogin(): Promise<void> {
  setTitle("Sign in");
  const next = safeNext(queryParam("next") || null);
  const options = await signInOptions();
  const sso = options.sso && safeUrl(options.sso.url);
  const failed = queryParam("error");
  const card = h(
    "div",
    { class: "page-narrow card" },
    h("h1", null, "Sign in"),
    failed ? notice("error", `Single sign-on failed: ${failed}`) : null,
    options.password ? passwordForm(next) : null,
    sso
      ? h(
          "p",
          { class: "sso" },
          h("a", { class: "button button-secondary", href: sso }, "Sign in with SSO"),
          " ",
          h("span", { class: "muted" }, options.sso!.issuer),
        )
      : null,
    tokenForm(next),
    options.signup === "open"
      ? h("p", { class: "muted" }, "No account? ", h("a", { href: urls.signup() }, "Create one"), ".")
      : null,
  );
  replace(main(), card);
  card.querySelector("input")?.focus();
}

/** The SSO start URL from the server: a path here, or an http(s) URL (never `javascript:`). */
function safeUrl(url: string): string | undefined {
  if (url.startsWith("/") && !url.startsWith("//")) return url;
  try {
    const u = new URL(url);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads a one-time secret from `?<name>=` (or `#<name>=`, which never reaches a server log) and
 * removes it from the address bar, so it stays out of history and screenshots.
 */
function takeSecret(name: string): string {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get(name) ?? "";
  const value = queryParam(name) || fromHash;
  if (value) {
    const url = new URL(location.href);
    url.searchParams.delete(name);
    history.replaceState(null, "", url.pathname + url.search);
  }
  return value;
}

/** Two password fields that must match. */
function newPasswordFields(): Node[] {
  return [
    ...field("new-password", "Password", {
      type: "password",
      required: true,
      autocomplete: "new-password",
      "aria-describedby": "password-hint",
    }),
    h(
      "p",
      { class: "hint muted", id: "password-hint" },
      "At least 10 characters. A long passphrase is best.",
    ),
    ...field("confirm-password", "Password again", {
      type: "password",
      required: true,
      autocomplete: "new-password",
    }),
  ];
}

function checkedPassword(data: FormData): string {
  const password = String(data.get("new-password"));
  if (password !== String(data.get("confirm-password"))) throw new Error("The two passwords differ.");
  return password;
}

/** `/signup?invite=…`: create an account (with an invite, or without when signup is open). */
export async function renderSignup(): Promise<void> {
  setTitle("Create an account");
  const invite = takeSecret("invite");
  const options = await signInOptions();
  const card = h("div", { class: "page-narrow card" }, h("h1", null, "Create an account"));
  replace(main(), card);
  if (!invite && options.signup !== "open") {
    card.append(
      notice(
        "info",
        options.signup === "closed"
          ? "Accounts on this server are created by an administrator."
          : "You need an invite link from an administrator to create an account here.",
      ),
    );
    return;
  }
  const status = statusLine();
  const form = h(
    "form",
    { class: "stack" },
    ...field("username", "Username", { required: true, autocomplete: "username", autocapitalize: "none" }),
    ...newPasswordFields(),
    h("button", { type: "submit" }, "Create account"),
    status,
  );
  const sso = options.sso && safeUrl(options.sso.url);
  if (sso) {
    const url = new URL(sso, location.origin);
    if (invite) url.searchParams.set("invite", invite);
    form.append(
      h(
        "p",
        { class: "sso" },
        h("a", { class: "button button-secondary", href: url.href }, "Sign up with SSO"),
      ),
    );
  }
  onSubmit(form, status, async (data) => {
    const password = checkedPassword(data);
    const s = await postAnonymous<BrowserSessionView>(api.signup(), {
      username: String(data.get("username")).trim(),
      password,
      ...(invite ? { invite } : {}),
    });
    if (s?.user) return sessionStarted(s, "/");
    replace(
      card,
      h("h1", null, "Account created"),
      notice("info", h("a", { href: urls.login() }, "Sign in"), " with your new password."),
    );
  });
  card.append(form);
}

/** `/password?token=…`: set a password with the link an administrator (or `plue dev`) gave. */
export async function renderPassword(): Promise<void> {
  setTitle("Set your password");
  const token = takeSecret("token");
  const card = h("div", { class: "page-narrow card" }, h("h1", null, "Set your password"));
  replace(main(), card);
  if (!token) {
    card.append(notice("warning", "This page needs the link you were given: it carries a one-time code."));
    return;
  }
  const status = statusLine();
  const form = h(
    "form",
    { class: "stack" },
    ...newPasswordFields(),
    h("button", { type: "submit" }, "Set password"),
    status,
  );
  onSubmit(form, status, async (data) => {
    let s: BrowserSessionView | undefined;
    try {
      s = await postAnonymous<BrowserSessionView>(api.password(), { token, password: checkedPassword(data) });
    } catch (err) {
      // A used or expired link (410): only a new one helps.
      if (err instanceof ApiError && err.status === 410 && !/admin/.test(err.message)) {
        throw new Error(`${errorText(err)}: ask an administrator for a new link.`);
      }
      throw err;
    }
    // The server signs the person in with the new password (unless the account is suspended).
    if (s?.user) return sessionStarted(s, "/");
    replace(
      card,
      h("h1", null, "Password set"),
      notice("info", "Your password is set. ", h("a", { href: urls.login() }, "Sign in"), " with it."),
    );
  });
  card.append(form);
}
