/**
 * Branch, tag and path filters. Patterns follow the usual glob rules: `*` matches any run of characters
 * except `/`, `**` any run including `/` (`docs/**` is everything under docs, and `**` followed by `/`
 * also matches no directory at all), `?` one character except `/`, `[abc]`/`[a-z]`/`[!a]` a class, and `\`
 * escapes. A whole name must match. In a list, a pattern starting with `!` excludes, and the last pattern
 * that matches decides.
 *
 * Patterns come from repositories and run on the server, so matching simulates the pattern's automaton
 * (time linear in name length × pattern length) instead of using backtracking regular expressions,
 * which a pattern like `**a**a**a**b` would make exponential.
 */

type Token =
  | { t: "char"; c: string }
  | { t: "one" } // ?
  | { t: "class"; ranges: [string, string][]; negated: boolean }
  | { t: "star" } // *: any run without /
  | { t: "globstar" } // **: any run
  | { t: "dirs" }; // **/: nothing, or any run ending in /

const compiled = new Map<string, Token[]>();
const MAX_COMPILED = 1000;

function compile(glob: string): Token[] {
  const cached = compiled.get(glob);
  if (cached) return cached;
  const tokens: Token[] = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        const slash = glob[i + 2] === "/";
        tokens.push(slash ? { t: "dirs" } : { t: "globstar" });
        i += slash ? 2 : 1;
      } else tokens.push({ t: "star" });
    } else if (c === "?") tokens.push({ t: "one" });
    else if (c === "\\" && i + 1 < glob.length) tokens.push({ t: "char", c: glob[++i]! });
    else if (c === "[" && glob.indexOf("]", i + 2) !== -1) {
      const end = glob.indexOf("]", i + 2);
      let body = glob.slice(i + 1, end);
      const negated = body.startsWith("!") || body.startsWith("^");
      if (negated) body = body.slice(1);
      const ranges: [string, string][] = [];
      for (let j = 0; j < body.length; j++) {
        if (body[j + 1] === "-" && j + 2 < body.length) {
          ranges.push([body[j]!, body[j + 2]!]);
          j += 2;
        } else ranges.push([body[j]!, body[j]!]);
      }
      tokens.push({ t: "class", ranges, negated });
      i = end;
    } else tokens.push({ t: "char", c });
  }
  if (compiled.size >= MAX_COMPILED) compiled.clear();
  compiled.set(glob, tokens);
  return tokens;
}

/** Adds state `i` and every state reachable from it without consuming a character. */
function close(tokens: Token[], states: Uint8Array, i: number): void {
  for (; i <= tokens.length; i++) {
    states[i] = 1;
    const t = tokens[i]?.t;
    if (t !== "star" && t !== "globstar" && t !== "dirs") return;
  }
}

function consumes(tok: Token, c: string): boolean {
  switch (tok.t) {
    case "char":
      return tok.c === c;
    case "one":
      return c !== "/";
    case "class":
      return c !== "/" && tok.ranges.some(([lo, hi]) => c >= lo && c <= hi) !== tok.negated;
    default:
      return false;
  }
}

/** Whether the whole of `value` matches `glob`. */
export function matchGlob(glob: string, value: string): boolean {
  const tokens = compile(glob);
  let current = new Uint8Array(tokens.length + 1);
  let next = new Uint8Array(tokens.length + 1);
  close(tokens, current, 0);
  for (const c of value) {
    next.fill(0);
    let alive = false;
    for (let i = 0; i < tokens.length; i++) {
      if (!current[i]) continue;
      const tok = tokens[i]!;
      if ((tok.t === "star" && c !== "/") || tok.t === "globstar") close(tokens, next, i);
      else if (tok.t === "dirs") {
        // Inside `**/` until a `/` is consumed: only then may the pattern go on.
        next[i] = 1;
        if (c === "/") close(tokens, next, i + 1);
      } else if (consumes(tok, c)) close(tokens, next, i + 1);
      else continue;
      alive = true;
    }
    if (!alive) return false;
    [current, next] = [next, current];
  }
  return current[tokens.length] === 1;
}

/** Whether `value` passes a pattern list (`["main", "release/*", "!release/old"]`). */
export function matchPatterns(patterns: readonly string[], value: string): boolean {
  // A list of only exclusions means "everything but these".
  let result = patterns.every((p) => p.startsWith("!"));
  for (const p of patterns) {
    const negated = p.startsWith("!");
    if (matchGlob(negated ? p.slice(1) : p, value)) result = !negated;
  }
  return result;
}

/** Paths looked at for `paths=` filters; a larger change set passes them (as if unknown). */
export const MAX_FILTERED_PATHS = 1000;

/** Whether any of `paths` passes the pattern list. */
export function matchAnyPath(patterns: readonly string[], paths: readonly string[]): boolean {
  if (paths.length > MAX_FILTERED_PATHS) return true;
  return paths.some((p) => matchPatterns(patterns, p));
}
