/**
 * `#N` references in commit messages, issue and pull request bodies and comments (docs/pulls.md,
 * "Issues"). GitHub's closing keywords — close, closes, closed, fix, fixes, fixed, resolve,
 * resolves, resolved, case-insensitive, optionally followed by a colon — directly before `#N`
 * make a closing reference; every other `#N` is a mention. Code spans and fenced code blocks are
 * left out, as GitHub does: `fixes #1` quoted in backticks closes nothing.
 */

export interface References {
  /** Issue numbers a closing keyword names, in order of first appearance, without repeats. */
  closes: number[];
  /** The other `#N`s (not in `closes`), in order, without repeats. */
  mentions: number[];
}

/** The largest issue number (the column is a Postgres integer). */
const MAX_NUMBER = 2 ** 31 - 1;
/** Most references one text yields: a pasted list of a thousand `#N`s costs a thousand lookups. */
const MAX_REFERENCES = 50;

// `#N` not glued to a word, an entity (`&#39;`), a path or URL (`a/b#3`, `x.md#12`), or another `#`.
const HASH = String.raw`(?<![\w&/#.-])#(\d{1,10})(?![\w-])`;
const CLOSING = new RegExp(
  String.raw`(?<![\w-])(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?):?[ \t]+${HASH}`,
  "gi",
);
const ANY = new RegExp(HASH, "g");

/** The closing references and the mentions of `text` (code spans and fences ignored). */
export function parseReferences(text: string): References {
  const prose = withoutCode(text);
  const closes = numbers(prose.matchAll(CLOSING));
  const closing = new Set(closes);
  const mentions = numbers(prose.matchAll(ANY)).filter((n) => !closing.has(n));
  return { closes, mentions: mentions.slice(0, Math.max(0, MAX_REFERENCES - closes.length)) };
}

function numbers(matches: Iterable<RegExpMatchArray>): number[] {
  const out: number[] = [];
  for (const m of matches) {
    const n = Number(m[1]);
    if (n >= 1 && n <= MAX_NUMBER && !out.includes(n)) out.push(n);
    if (out.length >= MAX_REFERENCES) break;
  }
  return out;
}

/**
 * The text with fenced code blocks (``` or ~~~, to the closing fence or the end) and inline code
 * spans (backtick runs of equal length) blanked out, so offsets and line breaks stay.
 */
export function withoutCode(text: string): string {
  const lines = text.split("\n");
  let fence: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const open = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (fence) {
      if (open && open[1]![0] === fence[0] && open[1]!.length >= fence.length && line.trim() === open[1])
        fence = undefined;
      lines[i] = "";
    } else if (open) {
      fence = open[1];
      lines[i] = "";
    }
  }
  return lines.join("\n").replace(/(`+)(?!`)[\s\S]*?(?<!`)\1(?!`)/g, (m) => " ".repeat(m.length));
}
