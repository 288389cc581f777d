/**
 * What the account pages share: labelled fields, a form that shows the API's error next to its
 * button, a secret shown once, and the "sign in first" and "admins only" answers.
 */
import { ApiError } from "../../app/client/api-error";
import { serverConfig } from "./api";
import { h, main, notice, replace, setTitle } from "./dom";
import { urls } from "./routes";

type FieldAttrs = Record<string, string | number | boolean | undefined>;

/** A label and its input, tied by id: `[label, input]`. */
export function field(
  id: string,
  label: string,
  attrs: FieldAttrs = {},
): [HTMLLabelElement, HTMLInputElement] {
  return [
    h("label", { for: id }, label),
    h("input", { id, name: id, autocomplete: "off", spellcheck: "false", ...attrs }),
  ];
}

/** A `<select>` with its label. */
export function select(
  id: string,
  label: string,
  options: readonly string[],
  selected?: string,
): [HTMLLabelElement, HTMLSelectElement] {
  return [
    h("label", { for: id }, label),
    h(
      "select",
      { id, name: id },
      ...options.map((o) => h("option", { value: o, selected: o === selected }, o)),
    ),
  ];
}

/** Where a form's error goes: announced to screen readers, empty (and hidden) otherwise. */
export const statusLine = () => h("p", { class: "inline-error", role: "alert" });

/** What went wrong, in the API's words (its error envelope's message). */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  return (err as Error).message || String(err);
}

/**
 * Handles a form's submit: the default (a page load) prevented, its buttons disabled while `fn`
 * runs, and `fn`'s error shown in `status`.
 */
export function onSubmit(
  form: HTMLFormElement,
  status: HTMLElement,
  fn: (data: FormData) => Promise<void>,
): void {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    status.textContent = "";
    const buttons = [...form.querySelectorAll("button")];
    for (const b of buttons) b.disabled = true;
    try {
      await fn(new FormData(form));
    } catch (err) {
      status.textContent = errorText(err);
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  });
}

/** A button that runs `fn`, with its error shown in `status`. */
export function actionButton(
  label: string,
  status: HTMLElement,
  fn: () => Promise<void>,
  attrs: FieldAttrs = {},
): HTMLButtonElement {
  const b = h("button", { type: "button", ...attrs }, label);
  b.addEventListener("click", async () => {
    b.disabled = true;
    status.textContent = "";
    try {
      await fn();
    } catch (err) {
      status.textContent = errorText(err);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

/**
 * A secret the server shows once (a new token, a password or invite link): selected on focus,
 * a Copy button, and the warning that it cannot be shown again.
 */
export function shownOnce(label: string, value: string, hint: string): HTMLElement {
  const id = `secret-${Math.random().toString(36).slice(2, 8)}`;
  const input = h("input", { id, readonly: true, value, size: 60, class: "secret", spellcheck: "false" });
  input.addEventListener("focus", () => input.select());
  const copied = h("span", { class: "muted", role: "status" });
  const copy = h("button", { type: "button", class: "button-secondary" }, "Copy");
  copy.addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(value);
      copied.textContent = "Copied.";
    } catch {
      copied.textContent = "Press Ctrl+C (⌘C) to copy the selected text.";
    }
  });
  return h(
    "div",
    { class: "notice notice-info shown-once", role: "status" },
    h("label", { for: id }, label),
    h("div", { class: "secret-row" }, input, copy, copied),
    h("p", { class: "muted" }, hint),
  );
}

/** The page for someone who must sign in first. */
function signInFirst(what: string): void {
  setTitle("Sign in");
  replace(
    main(),
    h(
      "div",
      { class: "page-narrow" },
      h("h1", null, what),
      notice(
        "info",
        h("a", { href: urls.login(location.pathname + location.search) }, "Sign in"),
        ` to see ${what.toLowerCase()}.`,
      ),
    ),
  );
}

/** The signed-in user, or undefined after showing a sign-in link. */
export async function requireUser(what: string): Promise<{ username: string; admin: boolean } | undefined> {
  const { user } = await serverConfig();
  if (!user) signInFirst(what);
  return user ?? undefined;
}

/** The signed-in admin, or undefined after saying the page is for admins. */
export async function requireAdmin(what: string): Promise<{ username: string; admin: boolean } | undefined> {
  const user = await requireUser(what);
  if (user && !user.admin) {
    setTitle(what);
    replace(
      main(),
      h(
        "div",
        { class: "page-narrow" },
        h("h1", null, what),
        notice("warning", "This page is for administrators."),
      ),
    );
    return undefined;
  }
  return user;
}

/** A page's frame: a title, and sections below it. */
export function page(title: string, ...sections: (Node | null)[]): void {
  setTitle(title);
  replace(main(), h("div", { class: "page-wide" }, h("h1", null, title), ...sections));
}

/** `?name=` of the current URL, or "" . */
export const queryParam = (name: string) => new URLSearchParams(location.search).get(name) ?? "";
