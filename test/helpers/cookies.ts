/** A minimal cookie jar for driving browser flows with fetch (sign-in, single sign-on). */
import { parse as parseCookie } from "cookie";

export interface SetCookie {
  name: string;
  value: string;
  /** Attributes in lower case (`httponly`, `samesite`, `path`, `secure`, `max-age`, …). */
  attributes: Record<string, string | true>;
}

export function setCookies(res: Response): SetCookie[] {
  return res.headers.getSetCookie().map((line) => {
    const [pair = "", ...attrs] = line.split(";").map((s) => s.trim());
    const eq = pair.indexOf("=");
    const attributes: Record<string, string | true> = {};
    for (const a of attrs) {
      const i = a.indexOf("=");
      if (i < 0) attributes[a.toLowerCase()] = true;
      else attributes[a.slice(0, i).toLowerCase()] = a.slice(i + 1);
    }
    return { name: pair.slice(0, eq), value: decodeURIComponent(pair.slice(eq + 1)), attributes };
  });
}

/** Cookies by name; a Set-Cookie with an empty value or Max-Age=0 removes one. */
export class CookieJar {
  readonly cookies = new Map<string, string>();

  take(res: Response): this {
    for (const c of setCookies(res)) {
      if (c.value === "" || c.attributes["max-age"] === "0") this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
    return this;
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("; ");
  }

  static from(header: string): CookieJar {
    const jar = new CookieJar();
    for (const [k, v] of Object.entries(parseCookie(header))) if (v !== undefined) jar.cookies.set(k, v);
    return jar;
  }
}
