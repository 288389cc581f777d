/**
 * The messages of the commits a branch push brought, oldest first, for their `#N` references:
 * `before..after` (at most 500), or for a new branch the last 50 commits of `after` (which
 * commits are new to the repository is not worth computing: references are recorded once per
 * commit anyway). A deleted branch brings none.
 */
import { git } from "../git/exec";
import type { Logger } from "../log";

const MAX_COMMITS = 500;
const NEW_BRANCH_COMMITS = 50;
const OID = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
const ZERO = /^0+$/;

export interface PushedCommit {
  sha: string;
  message: string;
}

export async function pushedMessages(
  gitDir: string,
  before: string,
  after: string,
  log: Logger,
): Promise<PushedCommit[]> {
  if (!OID.test(after) || ZERO.test(after) || !OID.test(before)) return [];
  const range = ZERO.test(before)
    ? [`--max-count=${NEW_BRANCH_COMMITS}`, "--end-of-options", after]
    : [`--max-count=${MAX_COMMITS}`, "--end-of-options", `${before}..${after}`];
  let out: string;
  try {
    out = await git(["log", "--format=%H%x00%B%x00", ...range], { gitDir });
  } catch (err) {
    // A force-push whose old head is gone, a ref moved again since: nothing to reference now.
    log.warn({ err, before, after }, "reading pushed commits failed");
    return [];
  }
  const parts = out.split("\0");
  const commits: PushedCommit[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const sha = parts[i]!.trim();
    if (OID.test(sha)) commits.push({ sha, message: parts[i + 1]! });
  }
  return commits.reverse();
}
