/**
 * Server-side merges in the bare repository, with plumbing only (no work tree): mergeability from
 * `git merge-tree --write-tree`, new commits from `git commit-tree`, and ONE guarded
 * `git update-ref <ref> <new> <expectedOld>` so a push or another merge that moved the branch in
 * the meantime wins and this merge fails with RefMovedError, leaving the ref as it was.
 *
 * New objects are written into a quarantine directory inside objects/ (like receive-pack's) and
 * moved in just before the ref update; a merge that fails leaves nothing behind.
 */
import { constants as fsConstants } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { validateRefName } from "../wire/names";
import type { MergeMethod } from "../wire/pulls";
import { GitCommandError } from "./exec";
import { commitId, runGit } from "./run";

export class MergeConflictError extends Error {
  constructor(
    readonly conflicts: string[],
    message = `merge conflict in ${conflicts.length} file(s): ${conflicts.slice(0, 5).join(", ")}`,
  ) {
    super(message);
    this.name = "MergeConflictError";
  }
}
/** The two histories share no commit: git refuses to merge them. */
export class UnrelatedHistoriesError extends MergeConflictError {
  constructor() {
    super([], "the branches have no common history");
    this.name = "UnrelatedHistoriesError";
  }
}
export class RefMovedError extends Error {
  constructor(
    readonly ref: string,
    readonly expected: string,
  ) {
    super(`${ref} is no longer at ${expected.slice(0, 12)}: it moved while merging`);
    this.name = "RefMovedError";
  }
}
export class NotFastForwardError extends Error {
  constructor() {
    super("the base branch is not an ancestor of the head: cannot fast-forward");
    this.name = "NotFastForwardError";
  }
}
export class NotRebasableError extends Error {
  constructor(readonly commit: string) {
    super(`commit ${commit.slice(0, 12)} is a merge commit: a branch with merges cannot be rebased`);
    this.name = "NotRebasableError";
  }
}
/** The head is already in the base: there is nothing to merge. */
export class NothingToMergeError extends Error {
  constructor() {
    super("the head is already contained in the base branch: nothing to merge");
    this.name = "NothingToMergeError";
  }
}
/** A ref that is not a branch, or an identity or option git would refuse. */
export class InvalidMergeInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidMergeInputError";
  }
}

export interface Mergeability {
  clean: boolean;
  /** The merged tree when clean (its objects are not kept). */
  tree: string | null;
  conflicts: string[];
  /** The histories share no commit (clean is false, conflicts empty). */
  unrelated?: boolean;
}

/** Whether `head` merges cleanly into `base`, and which files conflict if not. Writes nothing. */
export async function mergeability(gitDir: string, base: string, head: string): Promise<Mergeability> {
  const [b, h] = [commitId(base), commitId(head)];
  const check = async (q: Quarantine): Promise<Mergeability> => {
    try {
      return { clean: true, tree: await mergeTree(q, b, h), conflicts: [] };
    } catch (e) {
      if (e instanceof UnrelatedHistoriesError)
        return { clean: false, tree: null, conflicts: [], unrelated: true };
      if (e instanceof MergeConflictError) return { clean: false, tree: null, conflicts: e.conflicts };
      throw e;
    }
  };
  // The objects are thrown away, so they may as well never touch the disk (10x faster when the
  // disk is busy); if memory-backed scratch space fails (full), the repository's own is used.
  const scratch = await scratchRoot();
  if (scratch) {
    const r = await withQuarantine(gitDir, check, scratch).catch(() => undefined);
    if (r) return r;
  }
  return withQuarantine(gitDir, check);
}

/** `/dev/shm` when it is there and writable (a tmpfs on Linux), checked once. */
let scratchDir: Promise<string | undefined> | undefined;
function scratchRoot(): Promise<string | undefined> {
  scratchDir ??= fs.access("/dev/shm", fsConstants.W_OK).then(
    () => "/dev/shm",
    () => undefined,
  );
  return scratchDir;
}

/** `merge-tree --write-tree`: the merged tree, or MergeConflictError with the conflicted files. */
async function mergeTree(q: Quarantine, a: string, b: string): Promise<string> {
  const r = await runGit(["merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", a, b], {
    gitDir: q.gitDir,
    env: q.env,
    ok: [0, 1, 128],
  });
  if (r.code === 128) {
    if (/unrelated histories/.test(r.stderr)) throw new UnrelatedHistoriesError();
    throw new Error(`git merge-tree failed: ${r.stderr.trim().split("\n").slice(-2).join(" / ")}`);
  }
  // -z: "<tree>\0<conflicted>\0<conflicted>\0…" (--no-messages drops the section after them).
  const [tree = "", ...names] = r.stdout.toString("utf8").split("\0");
  if (r.code === 0) return tree.trim();
  throw new MergeConflictError([...new Set(names.filter(Boolean))]);
}

export interface Identity {
  name: string;
  email: string;
  /** ISO 8601 or a Date; default now. */
  date?: string | Date;
}

export type { MergeMethod };

export interface MergeOptions {
  method: MergeMethod;
  /** `refs/heads/<base>`. */
  ref: string;
  /** The base commit the caller decided on; the ref must still be there. */
  expectedOld: string;
  head: string;
  author: Identity;
  committer: Identity;
  /** Merge and squash commits' first line and body (rebase keeps each commit's message). */
  title: string;
  message?: string;
  /** Called once the new commits exist, just before the ref update (tests move the ref here). */
  beforeUpdate?: (sha: string) => Promise<void>;
}

/** Merges `head` into `ref` by `method`: the new commits, then one guarded ref update. */
export async function mergeCommits(
  gitDir: string,
  opts: MergeOptions,
): Promise<{ sha: string; before: string }> {
  const ref = branchRef(opts.ref);
  const before = commitId(opts.expectedOld);
  const head = commitId(opts.head);
  const current = await runGit(["rev-parse", "--verify", "--quiet", `${ref}^{commit}`], {
    gitDir,
    ok: [0, 1],
  });
  if (current.stdout.toString("utf8").trim() !== before) throw new RefMovedError(ref, before);
  if (await isAncestor(gitDir, head, before)) throw new NothingToMergeError();
  return withQuarantine(gitDir, async (q) => {
    const sha = await newTip(q, opts, before, head);
    await migrateObjects(q);
    await opts.beforeUpdate?.(sha);
    await updateRef(gitDir, ref, sha, before);
    return { sha, before };
  });
}

async function newTip(q: Quarantine, opts: MergeOptions, base: string, head: string): Promise<string> {
  switch (opts.method) {
    case "fast-forward":
      if (!(await isAncestor(q.gitDir, base, head))) throw new NotFastForwardError();
      return head;
    case "merge":
    case "squash": {
      const tree = await mergeTree(q, base, head);
      const parents = opts.method === "merge" ? [base, head] : [base];
      return commitTree(q, tree, parents, messageOf(opts), opts.author, opts.committer);
    }
    case "rebase":
      return rebase(q, base, head, opts.committer);
    default:
      throw new InvalidMergeInputError(`unknown merge method ${JSON.stringify(opts.method)}`);
  }
}

/**
 * Replays each commit of `base..head` onto `base`, keeping its author and message. git 2.39's
 * merge-tree has no `--merge-base`, so a cherry-pick of C (parent P) onto O is the merge of C with
 * a stand-in commit (O's tree, parent P): their merge base is exactly P.
 */
async function rebase(q: Quarantine, base: string, head: string, committer: Identity): Promise<string> {
  const commits = await commitsToReplay(q, base, head);
  let onto = base;
  let ontoTree = await treeOf(q, base);
  for (const c of commits) {
    let tree = c.tree;
    if (c.parent !== onto) {
      const standIn = await commitTree(q, ontoTree, [c.parent], "stand-in\n", committer, committer);
      tree = await mergeTree(q, standIn, c.sha);
    }
    onto = await commitTree(q, tree, [onto], c.message, c.author, committer);
    ontoTree = tree;
  }
  return onto;
}

const REPLAY_FIELDS = ["%H", "%P", "%T", "%an", "%ae", "%ad", "%B"];

/** `base..head` oldest first with what a replay needs, in one `git log`; a merge is NotRebasableError. */
async function commitsToReplay(q: Quarantine, base: string, head: string) {
  const format = `--format=tformat:${REPLAY_FIELDS.join("%x00")}%x00`;
  const args = [
    "log",
    "--reverse",
    "--topo-order",
    "--date=raw",
    format,
    "--end-of-options",
    head,
    `^${base}`,
  ];
  const f = (await runGit(args, q)).stdout.toString("utf8").split("\0");
  const out = [];
  for (let i = 0; i + REPLAY_FIELDS.length <= f.length; i += REPLAY_FIELDS.length) {
    const [sha = "", parents = "", tree = "", name = "", email = "", date = "", message = ""] = f
      .slice(i, i + REPLAY_FIELDS.length)
      .map((s, k) => (k === 0 ? s.trim() : s)); // tformat's newline opens the next record
    const parent = parents.split(" ").filter(Boolean);
    if (parent.length !== 1) throw new NotRebasableError(sha);
    out.push({
      sha,
      parent: parent[0] as string,
      tree,
      message,
      author: { name, email, date: `raw:${date}` },
    });
  }
  return out;
}

async function treeOf(q: Quarantine, commit: string): Promise<string> {
  return (await runGit(["rev-parse", "--verify", `${commit}^{tree}`], q)).stdout.toString("utf8").trim();
}

/** `commit-tree` with identities in the environment and the message on stdin: nothing in argv is user text. */
async function commitTree(
  q: Quarantine,
  tree: string,
  parents: string[],
  message: string,
  author: Identity,
  committer: Identity,
): Promise<string> {
  const env = { ...q.env, ...identityEnv("AUTHOR", author), ...identityEnv("COMMITTER", committer) };
  const args = ["commit-tree", ...parents.flatMap((p) => ["-p", p]), tree];
  const r = await runGit(args, { gitDir: q.gitDir, env, input: message });
  return r.stdout.toString("utf8").trim();
}

/** GIT_<WHO>_NAME/EMAIL/DATE, with what git would choke on (NUL, line breaks, `<>`) taken out. */
export function identityEnv(who: "AUTHOR" | "COMMITTER", id: Identity): Record<string, string> {
  const clean = (s: unknown) =>
    String(s ?? "")
      .replace(/[\0-\x1f\x7f<>]/g, "")
      .trim();
  const name = clean(id.name) || clean(id.email) || "Plue";
  const env: Record<string, string> = { [`GIT_${who}_NAME`]: name, [`GIT_${who}_EMAIL`]: clean(id.email) };
  env[`GIT_${who}_DATE`] = gitDate(id.date);
  return env;
}

function gitDate(date: string | Date | undefined): string {
  if (typeof date === "string" && date.startsWith("raw:")) {
    const raw = date.slice(4);
    if (/^\d+ [+-]\d{4}$/.test(raw)) return `@${raw}`;
  }
  const d = date === undefined ? new Date() : new Date(date);
  if (Number.isNaN(d.getTime())) throw new InvalidMergeInputError(`not a date: ${String(date).slice(0, 40)}`);
  return `@${Math.floor(d.getTime() / 1000)} +0000`;
}

function messageOf(opts: MergeOptions): string {
  const strip = (s: string | undefined) => (s ?? "").replace(/\0/g, "").replace(/\r\n?/g, "\n").trim();
  const title = strip(opts.title).split("\n").join(" ") || "Merge";
  const body = strip(opts.message);
  return body ? `${title}\n\n${body}\n` : `${title}\n`;
}

/** `refs/heads/<valid branch>` or InvalidMergeInputError. */
function branchRef(ref: string): string {
  if (typeof ref !== "string" || !ref.startsWith("refs/heads/") || ref.length <= "refs/heads/".length)
    throw new InvalidMergeInputError("the ref must be refs/heads/<branch>");
  try {
    validateRefName(ref);
  } catch (e) {
    throw new InvalidMergeInputError((e as Error).message);
  }
  return ref;
}

async function isAncestor(gitDir: string | Quarantine, a: string, b: string): Promise<boolean> {
  const opts = typeof gitDir === "string" ? { gitDir } : gitDir;
  const r = await runGit(["merge-base", "--is-ancestor", a, b], { ...opts, ok: [0, 1] });
  return r.code === 0;
}

/**
 * The one atomic, guarded ref update (git locks the ref and compares it with `old`). A ref that
 * moved, or is locked by a push or merge in flight (git already retried for 100 ms), is
 * RefMovedError: the other side wins.
 */
async function updateRef(gitDir: string, ref: string, sha: string, old: string): Promise<void> {
  const args = ["update-ref", "--no-deref", ref, sha, old];
  const r = await runGit(args, { gitDir, ok: [0, 1, 128] });
  if (r.code === 0) return;
  const now = await runGit(["rev-parse", "--verify", "--quiet", ref], { gitDir, ok: [0, 1] });
  if (now.stdout.toString("utf8").trim() !== old || /\.lock'?: File exists/.test(r.stderr))
    throw new RefMovedError(ref, old);
  throw new GitCommandError(args, r.code, r.stderr);
}

/** Deletes a branch if it is still at `expectedOld`; false when it moved or is gone. */
export async function deleteBranch(gitDir: string, ref: string, expectedOld: string): Promise<boolean> {
  const r = await runGit(["update-ref", "--no-deref", "-d", branchRef(ref), commitId(expectedOld)], {
    gitDir,
    ok: [0, 1, 128],
  });
  return r.code === 0;
}

// ---- the quarantine --------------------------------------------------------------------------

interface Quarantine {
  gitDir: string;
  env: Record<string, string>;
  dir: string;
  objects: string;
}

/** Runs `fn` with git writing new objects into a fresh directory (under objects/), removed after. */
async function withQuarantine<T>(
  gitDir: string,
  fn: (q: Quarantine) => Promise<T>,
  /** Elsewhere than objects/ (objects written there can only be thrown away: no rename across file systems). */
  root?: string,
): Promise<T> {
  const objects = path.resolve(gitDir, "objects");
  const dir = await fs.mkdtemp(path.join(root ?? objects, "tmp_objdir-plue-"));
  // The alternates list is colon-separated; a path with `:` or `"` is given C-quoted.
  const alternate = /[:"\\\n]/.test(objects) ? JSON.stringify(objects) : objects;
  const env = { GIT_OBJECT_DIRECTORY: dir, GIT_ALTERNATE_OBJECT_DIRECTORIES: alternate };
  try {
    return await fn({ gitDir, env, dir, objects });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Moves the quarantine's objects into the repository (rename: same file system). Loose objects
 * first, then packs with each index last, so no reader ever sees an index without its pack.
 */
async function migrateObjects(q: Quarantine): Promise<void> {
  for (const entry of await fs.readdir(q.dir)) {
    if (!/^[0-9a-f]{2}$/.test(entry)) continue;
    const target = path.join(q.objects, entry);
    await fs.mkdir(target, { recursive: true });
    for (const file of await fs.readdir(path.join(q.dir, entry)))
      await fs.rename(path.join(q.dir, entry, file), path.join(target, file));
  }
  const packs = await fs.readdir(path.join(q.dir, "pack")).catch(() => [] as string[]);
  if (packs.length === 0) return;
  await fs.mkdir(path.join(q.objects, "pack"), { recursive: true });
  const order = (f: string) => (f.endsWith(".idx") ? 1 : 0);
  for (const file of packs.sort((a, b) => order(a) - order(b)))
    await fs.rename(path.join(q.dir, "pack", file), path.join(q.objects, "pack", file));
}
