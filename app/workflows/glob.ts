/**
 * Branch, tag and path filters. Patterns follow the usual glob rules: `*` matches any run of characters
 * except `/`, `**` any run including `/` (`docs/**` is everything under docs, and `**` followed by `/`
 * also matches no directory at all), `?` one character except `/`, `[abc]`/`[a-z]`/`[!a]` a class, and `\`
 * escapes. A whole name must match.
 * In a list, a pattern starting with `!` excludes, and the last pattern that matches decides.
 */

const compiled = new Map<string, RegExp>();
const MAX_COMPILED = 1000;

export function globToRegExp(glob: string): RegExp {
  const cached = compiled.get(glob);
  if (cached) return cached;
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        const slash = glob[i + 2] === "/";
        re += slash ? "(?:.*/)?" : ".*";
        i += slash ? 2 : 1;
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "\\" && i + 1 < glob.length) re += escapeChar(glob[++i]!);
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end === -1) re += "\\[";
      else {
        let body = glob.slice(i + 1, end);
        const negated = body.startsWith("!") || body.startsWith("^");
        if (negated) body = body.slice(1);
        re += `[${negated ? "^" : ""}${body.replace(/[\\\]^]/g, "\\$&")}]`;
        i = end;
      }
    } else re += escapeChar(c);
  }
  const result = new RegExp(`^${re}$`, "s");
  if (compiled.size >= MAX_COMPILED) compiled.clear();
  compiled.set(glob, result);
  return result;
}

function escapeChar(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** Whether `value` passes a pattern list (`["main", "release/*", "!release/old"]`). */
export function matchPatterns(patterns: readonly string[], value: string): boolean {
  // A list of only exclusions means "everything but these".
  let result = patterns.every((p) => p.startsWith("!"));
  for (const p of patterns) {
    const negated = p.startsWith("!");
    if (globToRegExp(negated ? p.slice(1) : p).test(value)) result = !negated;
  }
  return result;
}

/** Whether any of `paths` passes the pattern list. */
export function matchAnyPath(patterns: readonly string[], paths: readonly string[]): boolean {
  return paths.some((p) => matchPatterns(patterns, p));
}
