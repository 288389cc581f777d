/**
 * Bare repositories for the pull request plumbing tests (diff, merge, line-map): commits are
 * written with `git fast-import`, so paths may be any bytes (a name that is not UTF-8, one with a
 * line break) and each commit changes only the files it names.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { git } from "../../app/git/exec";

export type FileChange = [path: string | Buffer, content: string | Buffer | null];

export interface CommitSpec {
  /** Branch to write (created at `parent` when new). */
  branch: string;
  /** Parent commit; default: the branch's tip (none for a new branch: a root commit). */
  parent?: string | null;
  /** A second parent (a merge commit). */
  merge?: string;
  /** Changed files; null deletes. */
  files: FileChange[] | Record<string, string | Buffer | null>;
  message?: string;
  author?: { name: string; email: string };
  /** Seconds since the epoch. */
  date?: number;
}

let clock = 1_704_067_200;

export class FixtureRepo {
  private constructor(readonly dir: string) {}

  /** `prefix` names the temporary directory (tests use one with a `:` in it). */
  static async create(prefix = "plue-pulls-git-"): Promise<FixtureRepo> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    const dir = path.join(root, "repo.git");
    await git(["init", "-q", "--bare", "-b", "main", dir]);
    return new FixtureRepo(dir);
  }

  async commit(spec: CommitSpec): Promise<string> {
    const ref = `refs/heads/${spec.branch}`;
    const who = spec.author ?? { name: "Tester", email: "tester@example.com" };
    const date = spec.date ?? clock++;
    const parent = spec.parent === undefined ? await this.tip(spec.branch) : spec.parent;
    const parts: Buffer[] = [];
    const data = (b: Buffer) => parts.push(Buffer.from(`data ${b.length}\n`), b, Buffer.from("\n"));
    parts.push(Buffer.from(`commit ${ref}\nauthor ${who.name} <${who.email}> ${date} +0000\n`));
    parts.push(Buffer.from(`committer ${who.name} <${who.email}> ${date} +0000\n`));
    data(Buffer.from(spec.message ?? "change"));
    // `from` resets the branch to the parent (or, with the null id, starts a new history).
    parts.push(Buffer.from(`from ${parent ?? "0".repeat(40)}\n`));
    if (spec.merge) parts.push(Buffer.from(`merge ${spec.merge}\n`));
    const files = Array.isArray(spec.files) ? spec.files : Object.entries(spec.files);
    for (const [p, content] of files) {
      const q = quote(typeof p === "string" ? Buffer.from(p) : p);
      if (content === null) parts.push(Buffer.from("D "), q, Buffer.from("\n"));
      else {
        parts.push(Buffer.from("M 100644 inline "), q, Buffer.from("\n"));
        data(Buffer.isBuffer(content) ? content : Buffer.from(content));
      }
    }
    parts.push(Buffer.from("\ndone\n"));
    await git(["fast-import", "--quiet", "--done", "--force"], {
      gitDir: this.dir,
      input: Buffer.concat(parts),
    });
    return this.tip(spec.branch) as Promise<string>;
  }

  async tip(branch: string): Promise<string | null> {
    const out = await git(["rev-parse", "--verify", "--quiet", `refs/heads/${branch}`], {
      gitDir: this.dir,
    }).catch(() => "");
    return out.trim() || null;
  }

  run(args: string[], input?: string): Promise<string> {
    return git(args, { gitDir: this.dir, input }).then((s) => s.trim());
  }

  /** Every object id in the repository (loose and packed, reachable or not). */
  async objects(): Promise<Set<string>> {
    const out = await git(["cat-file", "--batch-all-objects", "--batch-check=%(objectname)"], {
      gitDir: this.dir,
    });
    return new Set(out.split("\n").filter(Boolean));
  }

  cleanup(): void {
    fs.rmSync(path.dirname(this.dir), { recursive: true, force: true });
  }
}

/** fast-import's C-style quoting, byte by byte (octal for anything not printable ASCII). */
function quote(p: Buffer): Buffer {
  let s = '"';
  for (const b of p) {
    if (b === 0x22 || b === 0x5c) s += `\\${String.fromCharCode(b)}`;
    else if (b === 0x0a) s += "\\n";
    else if (b < 0x20 || b >= 0x7f) s += `\\${b.toString(8).padStart(3, "0")}`;
    else s += String.fromCharCode(b);
  }
  return Buffer.from(`${s}"`, "latin1");
}

/** `n` numbered lines, each ending in a newline. */
export const lines = (n: number, prefix = "line") =>
  Array.from({ length: n }, (_, i) => `${prefix} ${i + 1}\n`).join("");
