/**
 * Reading pull requests out of git: the merge base, the commits of a range, the files of a diff
 * (paged, with patches only for the page), changed paths and the lines a diff shows. Every
 * function takes a git dir and full commit ids and knows nothing of the database or HTTP.
 *
 * Paths are read NUL-separated (`-z`) as bytes, so names with spaces, line breaks, leading dashes
 * or bytes that are not UTF-8 all work; they are handed back to git as `:(literal)` pathspecs
 * after `--` (a name that is not UTF-8 as a `:(glob)` whose undecodable bytes are `*`, and the
 * answer is matched on the raw bytes).
 */
import type { CommitView, DiffPage, FileDiffView, FileStatus } from "../wire/pulls";
import { hunkRanges, renameOf } from "./line-map";
import { commitId, pathspec, runGit, streamGit } from "./run";

/** A file's patch is left out past either limit (GitHub's are similar). */
export const PATCH_MAX_BYTES = 512 * 1024;
export const PATCH_MAX_LINES = 10_000;
/** Blobs larger than this are never read for a diff: git counts them as binary, we say "too large". */
export const DIFF_BLOB_MAX_BYTES = 16 * 1024 * 1024;
const DIFF_CONFIG = ["-c", `core.bigFileThreshold=${DIFF_BLOB_MAX_BYTES}`];
/** `-l500`: inexact rename detection is quadratic, so past 500 candidates only exact renames count. */
const DIFF_FLAGS = ["-r", "-z", "--no-abbrev", "--no-ext-diff", "--no-textconv", "-M", "-l500"];

/** The best common ancestor of two commits, or null when their histories are unrelated. */
export async function mergeBase(gitDir: string, a: string, b: string): Promise<string | null> {
  const r = await runGit(["merge-base", "--end-of-options", commitId(a), commitId(b)], {
    gitDir,
    ok: [0, 1],
  });
  return r.code === 0 ? r.stdout.toString("utf8").trim() : null;
}

// ---- commits -----------------------------------------------------------------------------------

const FIELDS = ["%H", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%B"];

/** The commits in `base..head`, oldest first: the first `limit` of them, and how many there are. */
export async function listCommits(
  gitDir: string,
  base: string,
  head: string,
  { limit = 250 }: { limit?: number } = {},
): Promise<{ commits: CommitView[]; total: number }> {
  const range = [`^${commitId(base)}`, commitId(head)];
  const ids = (await runGit(["rev-list", "--reverse", "--end-of-options", ...range], { gitDir })).stdout
    .toString("utf8")
    .split("\n")
    .filter(Boolean);
  const wanted = ids.slice(0, Math.max(0, limit));
  if (wanted.length === 0) return { commits: [], total: ids.length };
  const out = await runGit(
    ["log", "--no-walk=unsorted", `--format=tformat:${FIELDS.join("%x00")}%x00`, "--stdin"],
    {
      gitDir,
      input: `${wanted.join("\n")}\n`,
    },
  );
  return { commits: parseCommits(out.stdout.toString("utf8")), total: ids.length };
}

function parseCommits(text: string): CommitView[] {
  const parts = text.split("\0");
  const commits: CommitView[] = [];
  for (let i = 0; i + FIELDS.length <= parts.length; i += FIELDS.length) {
    const [sha, parents, an, ae, ad, cn, ce, cd, body] = parts
      .slice(i, i + FIELDS.length)
      .map((s) => s ?? "") as [string, string, string, string, string, string, string, string, string];
    const id = sha.trim(); // tformat puts a newline between commits
    if (!id) break;
    const message = body.replace(/\n+$/, "");
    commits.push({
      sha: id,
      message,
      title: message.split("\n", 1)[0] ?? "",
      author: { name: an, email: ae, date: isoDate(ad) },
      committer: { name: cn, email: ce, date: isoDate(cd) },
      parents: parents ? parents.split(" ") : [],
    });
  }
  return commits;
}

/** GitHub's form (`2024-01-01T00:00:00Z`); a date git could not parse stays as git wrote it. */
function isoDate(d: string): string {
  const t = new Date(d);
  return Number.isNaN(t.getTime()) ? d : t.toISOString().replace(".000Z", "Z");
}

// ---- the files of a diff -----------------------------------------------------------------------

/** One entry of `--raw -z` (with its `--numstat` counts: -1 for binary), paths kept as bytes. */
interface RawEntry {
  status: FileStatus;
  add: number;
  del: number;
  oldSha: string | null;
  newSha: string | null;
  path: Buffer;
  oldPath?: Buffer;
}

const utf8 = new TextDecoder("utf-8");
const keyOf = (e: { path: Buffer; oldPath?: Buffer }) =>
  `${e.oldPath?.toString("latin1") ?? ""}\0${e.path.toString("latin1")}`;
const isNull = (oid: string) => /^0+$/.test(oid);

/** Parses `--raw -z` (and, when `numstat`, the `--numstat -z` records that follow it). */
function parseRaw(out: Buffer, numstat: boolean): RawEntry[] {
  const entries: RawEntry[] = [];
  let pos = 0;
  const field = (): Buffer => {
    const end = out.indexOf(0, pos);
    const stop = end < 0 ? out.length : end;
    const b = out.subarray(pos, stop);
    pos = stop + 1;
    return b;
  };
  while (pos < out.length && out[pos] === 0x3a /* ':' */) {
    const [, , oldSha = "", newSha = "", code = ""] = field().toString("latin1").split(" ");
    const letter = code.charAt(0);
    const oldPath = letter === "R" || letter === "C" ? field() : undefined;
    const status: FileStatus =
      letter === "A"
        ? "added"
        : letter === "D"
          ? "removed"
          : letter === "R"
            ? "renamed"
            : letter === "C"
              ? "copied"
              : "modified";
    const sha = (oid: string) => (isNull(oid) ? null : oid);
    entries.push({
      status,
      add: 0,
      del: 0,
      oldSha: sha(oldSha),
      newSha: sha(newSha),
      path: field(),
      oldPath,
    });
  }
  if (numstat) {
    for (const e of entries) {
      const [add = "-", del = "-", name] = field().toString("latin1").split("\t");
      if (e.oldPath && name === "") {
        // a rename: `a\td\t\0old\0new\0`
        field();
        field();
      }
      e.add = add === "-" ? -1 : Number(add);
      e.del = del === "-" ? -1 : Number(del);
    }
  }
  return entries;
}

export interface DiffFilesResult {
  files: FileDiffView[];
  /** Files in the whole diff. */
  total: number;
  additions: number;
  deletions: number;
}

/**
 * The files changed from `from` (the merge base) to `to` (the head), in git's order, one page of
 * them with their patches. The totals come from one `--raw --numstat` run over every file; the
 * patches from one `-p` run limited to the page's paths (both sides of a rename).
 */
export async function diffFiles(
  gitDir: string,
  from: string,
  to: string,
  { page = 1, perPage = 100 }: { page?: number; perPage?: number } = {},
): Promise<DiffFilesResult> {
  const range = [commitId(from), commitId(to)];
  const all = await runGit([...DIFF_CONFIG, "diff-tree", ...DIFF_FLAGS, "--raw", "--numstat", ...range], {
    gitDir,
  });
  const entries = parseRaw(all.stdout, true);
  let additions = 0;
  let deletions = 0;
  for (const e of entries) {
    additions += Math.max(e.add, 0);
    deletions += Math.max(e.del, 0);
  }
  const start = (Math.max(1, page) - 1) * perPage;
  const slice = entries.slice(start, start + perPage);
  const files = slice.map(fileView);
  await addPatches(gitDir, range, slice, files);
  return { files, total: entries.length, additions, deletions };
}

/** One page of the diff from `from` to `to` in the API's shape (a pull request's files, a compare). */
export async function diffPage(
  gitDir: string,
  from: string,
  to: string,
  q: { page: number; per_page: number },
): Promise<DiffPage> {
  const diff = await diffFiles(gitDir, from, to, { page: q.page, perPage: q.per_page });
  return {
    items: diff.files,
    total: diff.total,
    page: q.page,
    per_page: q.per_page,
    next_page: q.page * q.per_page < diff.total ? q.page + 1 : null,
    additions: diff.additions,
    deletions: diff.deletions,
    base_sha: from,
    head_sha: to,
  };
}

function fileView(e: RawEntry): FileDiffView {
  const [a, d] = [e.add, e.del];
  const view: FileDiffView = {
    filename: utf8.decode(e.path),
    status: e.status,
    additions: Math.max(a, 0),
    deletions: Math.max(d, 0),
    changes: Math.max(a, 0) + Math.max(d, 0),
    binary: a < 0,
    old_sha: e.oldSha,
    new_sha: e.newSha,
  };
  if (e.oldPath) view.previous_filename = utf8.decode(e.oldPath);
  return view;
}

/** Fills in `patch` (or `summary`) for the page's files. */
async function addPatches(
  gitDir: string,
  range: string[],
  slice: RawEntry[],
  files: FileDiffView[],
): Promise<void> {
  const wanted = new Map<string, FileDiffView>();
  const specs: string[] = [];
  const binaries: [RawEntry, FileDiffView][] = [];
  for (const [i, e] of slice.entries()) {
    const view = files[i] as FileDiffView;
    if (e.add < 0) {
      binaries.push([e, view]); // binary, or past DIFF_BLOB_MAX_BYTES: sized below
      continue;
    }
    if (e.add + e.del > PATCH_MAX_LINES) {
      view.summary = `too large to show: ${(e.add + e.del).toLocaleString("en-US")} lines`;
      continue;
    }
    wanted.set(keyOf(e), view);
    specs.push(pathspec(e.path));
    if (e.oldPath) specs.push(pathspec(e.oldPath));
  }
  await summariseBinaries(gitDir, binaries);
  if (specs.length === 0) return;
  const patches = await pagePatches(gitDir, range, specs);
  for (const [key, view] of wanted) {
    const p = patches.get(key);
    if (p === undefined) view.summary = "diff unavailable";
    else if (p.tooLarge) view.summary = `too large to show: ${formatBytes(p.bytes)}`;
    else if (p.text !== "") view.patch = p.text;
  }
}

/** Binary files say so; a text file git would not read (past the blob limit) says how big it is. */
async function summariseBinaries(gitDir: string, binaries: [RawEntry, FileDiffView][]): Promise<void> {
  if (binaries.length === 0) return;
  const oids = binaries.flatMap(([e]) => [e.oldSha, e.newSha].filter((o): o is string => o !== null));
  const sizes = new Map<string, number>();
  const out = await runGit(["cat-file", "--batch-check=%(objectname) %(objectsize)"], {
    gitDir,
    input: `${oids.join("\n")}\n`,
  });
  for (const line of out.stdout.toString("latin1").split("\n")) {
    const [oid = "", size = ""] = line.split(" ");
    if (/^\d+$/.test(size)) sizes.set(oid, Number(size));
  }
  for (const [e, view] of binaries) {
    const size = Math.max(sizes.get(e.oldSha ?? "") ?? 0, sizes.get(e.newSha ?? "") ?? 0);
    if (size > DIFF_BLOB_MAX_BYTES) {
      view.binary = false;
      view.summary = `too large to show: ${formatBytes(size)}`;
    } else view.summary = "binary file";
  }
}

interface Patch {
  text: string;
  bytes: number;
  tooLarge: boolean;
}

/**
 * One `diff-tree --raw -p` run over the page's pathspecs, streamed: each file's patch is cut at
 * PATCH_MAX_BYTES while it arrives, so a huge page never sits in memory. Patches come in the
 * order of the raw entries before them, which gives each its file.
 */
async function pagePatches(gitDir: string, range: string[], specs: string[]): Promise<Map<string, Patch>> {
  const chunks: Buffer[] = [];
  let rawDone = false;
  let entries: RawEntry[] = [];
  const patches: Patch[] = [];
  let current: { parts: string[]; bytes: number; lines: number; seenHunk: boolean } | undefined;
  let pending = "";
  const finish = () => {
    if (!current) return;
    const tooLarge = current.bytes > PATCH_MAX_BYTES || current.lines > PATCH_MAX_LINES;
    patches.push({
      text: tooLarge ? "" : current.parts.join("").replace(/\n$/, ""),
      bytes: current.bytes,
      tooLarge,
    });
    current = undefined;
  };
  const onLine = (line: string) => {
    if (line.startsWith("diff --git ")) {
      finish();
      current = { parts: [], bytes: 0, lines: 0, seenHunk: false };
      return;
    }
    if (!current) return;
    if (!current.seenHunk && !line.startsWith("@@")) return; // headers before the first hunk
    current.seenHunk = true;
    current.bytes += Buffer.byteLength(line) + 1;
    current.lines++;
    if (current.bytes <= PATCH_MAX_BYTES && current.lines <= PATCH_MAX_LINES) current.parts.push(`${line}\n`);
  };
  const decoder = new TextDecoder("utf-8");
  // A line longer than the patch limit is counted, not kept (it can only make its patch too large).
  let inLongLine = false;
  const onText = (text: string) => {
    if (inLongLine && current) {
      const nl = text.indexOf("\n");
      current.bytes += nl < 0 ? text.length : nl + 1;
      if (nl < 0) return;
      current.lines++;
      inLongLine = false;
      text = text.slice(nl + 1);
    }
    const lines = (pending + text).split("\n");
    pending = lines.pop() ?? "";
    for (const l of lines) onLine(l);
    if (pending.length > PATCH_MAX_BYTES && current?.seenHunk) {
      current.bytes += pending.length;
      pending = "";
      inLongLine = true;
    }
  };
  await streamGit(
    [...DIFF_CONFIG, "diff-tree", ...DIFF_FLAGS, "--raw", "-p", ...range, "--", ...specs],
    { gitDir },
    (chunk) => {
      if (!rawDone) {
        chunks.push(chunk);
        const buf = Buffer.concat(chunks);
        const end = buf.indexOf("\0\0"); // the raw part ends with an empty record
        const sep = end >= 0 ? end : buf.length > 0 && buf[0] !== 0x3a ? -2 : -1;
        if (sep === -1) return;
        rawDone = true;
        entries = parseRaw(sep === -2 ? Buffer.alloc(0) : buf.subarray(0, sep + 1), false);
        chunk = sep === -2 ? buf : buf.subarray(sep + 2);
      }
      onText(decoder.decode(chunk, { stream: true }));
    },
  );
  if (!rawDone) entries = parseRaw(Buffer.concat(chunks), false); // nothing but raw records
  if (pending) onLine(pending);
  finish();
  const byKey = new Map<string, Patch>();
  entries.forEach((e, i) => {
    const p = patches[i];
    if (p) byKey.set(keyOf(e), p);
  });
  return byKey;
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

// ---- paths and lines ---------------------------------------------------------------------------

/** Every path the diff touches (both sides of a rename), or undefined when there are more than `max`. */
export async function changedPaths(
  gitDir: string,
  from: string,
  to: string,
  max = 1000,
): Promise<string[] | undefined> {
  const out = await runGit(
    ["diff-tree", "-r", "-z", "--no-renames", "--name-only", commitId(from), commitId(to)],
    {
      gitDir,
    },
  );
  const paths = out.stdout.length ? utf8.decode(out.stdout).split("\0").filter(Boolean) : [];
  return paths.length > max ? undefined : paths;
}

/**
 * The line numbers of `path` that the diff's hunks show (3 lines of context, as in the files
 * view), on the base side (`left`) and the head side (`right`). A file that alone looks added or
 * deleted is looked up as a rename (either name works) and compared with its other name, as the
 * files view does; `previousPath` names the old name outright.
 */
export async function diffLines(
  gitDir: string,
  from: string,
  to: string,
  path: string,
  { previousPath }: { previousPath?: string } = {},
): Promise<{ left: Set<number>; right: Set<number> }> {
  const range = [commitId(from), commitId(to)];
  const paths = previousPath && previousPath !== path ? [path, previousPath] : [path];
  let patch = await hunksOf(gitDir, range, paths);
  if (paths.length === 1 && /^(new|deleted) file mode /m.test(patch)) {
    const rename = await renameOf(gitDir, range, path);
    if (rename) patch = await hunksOf(gitDir, range, [rename.from, rename.to]);
  }
  const left = new Set<number>();
  const right = new Set<number>();
  for (const h of hunkRanges(patch)) {
    for (let n = h.oldStart; n < h.oldStart + h.oldCount; n++) left.add(n);
    for (let n = h.newStart; n < h.newStart + h.newCount; n++) right.add(n);
  }
  return { left, right };
}

async function hunksOf(gitDir: string, range: string[], paths: string[]): Promise<string> {
  const args = [
    ...DIFF_CONFIG,
    "diff-tree",
    "-r",
    "-M",
    "-l500",
    "--no-ext-diff",
    "--no-textconv",
    "-U3",
    "-p",
  ];
  const out = await runGit([...args, ...range, "--", ...paths.map(pathspec)], { gitDir });
  return out.stdout.toString("utf8");
}
