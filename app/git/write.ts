/**
 * Writing a commit without a work tree, through one `git fast-import` process: used to seed the
 * demo repository and by tests and benchmarks to build fixtures. Identity and date are fixed
 * by default, so the same files give the same commit id everywhere.
 */
import { git } from "./exec";

export interface CommitOptions {
  /** Branch to create or advance, e.g. `main`. */
  branch: string;
  message: string;
  /** Files by path (the whole tree of the commit); a string is written as UTF-8. */
  files: Record<string, string | Buffer>;
  /** Optional file modes by path (`100755` for executables, `120000` for a symlink's target). */
  modes?: Record<string, "100644" | "100755" | "120000">;
  author?: { name: string; email: string };
  /** Seconds since the epoch. */
  date?: number;
}

/** Commits `files` as the whole tree of a new commit on `branch` (on top of it if it exists). */
export async function writeCommit(gitDir: string, options: CommitOptions): Promise<string> {
  const who = options.author ?? { name: "Plue", email: "plue@localhost" };
  const date = options.date ?? 1_704_067_200; // 2024-01-01T00:00:00Z
  const ident = `${who.name} <${who.email}> ${date} +0000`;
  const ref = `refs/heads/${options.branch}`;
  const parts: Buffer[] = [];
  const data = (b: Buffer) => parts.push(Buffer.from(`data ${b.length}\n`), b, Buffer.from("\n"));
  const parent = await git(["rev-parse", "--verify", "--quiet", `${ref}^{commit}`], { gitDir }).catch(
    () => "",
  );
  parts.push(Buffer.from(`commit ${ref}\nmark :1\nauthor ${ident}\ncommitter ${ident}\n`));
  data(Buffer.from(options.message));
  if (parent.trim()) parts.push(Buffer.from(`from ${parent.trim()}\n`));
  parts.push(Buffer.from("deleteall\n"));
  for (const [path, content] of Object.entries(options.files)) {
    const mode = options.modes?.[path] ?? "100644";
    parts.push(Buffer.from(`M ${mode} inline ${quotePath(path)}\n`));
    data(Buffer.isBuffer(content) ? content : Buffer.from(content));
  }
  parts.push(Buffer.from("\n"));
  await git(["fast-import", "--quiet", "--done"], {
    gitDir,
    input: Buffer.concat([...parts, Buffer.from("done\n")]),
  });
  return (await git(["rev-parse", "--verify", `${ref}^{commit}`], { gitDir })).trim();
}

/** fast-import takes a path verbatim unless it starts with `"` or holds a line break. */
function quotePath(path: string): string {
  if (/[\n"\\]/.test(path) || path.startsWith('"')) return JSON.stringify(path);
  return path;
}
