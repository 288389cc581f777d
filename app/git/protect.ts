/**
 * Branch protection on the git receive path (docs/pulls.md, "Protected branches"). Every decision
 * that needs only the ref commands of a push is made here, in the app, before `git http-backend`
 * starts: deleting a protected branch, and pushing to one whose rule names who may push directly.
 * The one question that needs the pushed objects, whether an update is a fast-forward, cannot be
 * answered before receive-pack has read the pack, so it is left to a small pre-receive hook
 * (HOOK below, installed once per data directory and enabled only for the push's http-backend
 * child through `core.hooksPath`). The hook reads the decisions from the environment, one line
 * per ref:
 *
 *     deny<TAB>refs/heads/main<TAB>main is protected: pushes must go through a pull request
 *     no-force<TAB>refs/heads/main<TAB>main is protected: force-pushes are not allowed
 *
 * Its stderr reaches the client through the side band, so git prints `remote: <message>`; a
 * declining pre-receive hook rejects the whole push and leaves every ref as it was. Ref names
 * hold no tab or newline (git check-ref-format), and messages are ours.
 *
 * Server-side merges update refs with update-ref, not receive-pack: they are not subject to the
 * push allowlist (the merge checks the branch rule itself). Task tokens cannot push at all.
 */
import fs from "node:fs";
import path from "node:path";
import type { Queryable } from "../db";
import { isZeroOid } from "../wire/names";
import type { RefUpdate } from "./pktline";
import type { Repository } from "./repos";

/** What the receive path reads of a branch rule (BranchProtectionView has it). */
export interface PushRule {
  pattern: string;
  block_force_push: boolean;
  block_deletion: boolean;
  push_allowlist: string[] | null;
}

export interface PushRules {
  ruleFor(repo: Repository, branch: string): Promise<PushRule | undefined>;
  hasRules(repo: Repository): Promise<boolean>;
}

export type RefDecision =
  | { ref: string; action: "allow" }
  | { ref: string; action: "deny" | "no-force"; message: string };

/** What the http-backend child gets: its extra `-c` settings and environment. */
export interface HookSetup {
  config: Array<[string, string]>;
  env: Record<string, string>;
}

export const HOOK = `#!/bin/sh
# Plue branch protection (app/git/protect.ts): the app decided every ref of this push and put the
# decisions in PLUE_PROTECT; this only checks that updates marked no-force are fast-forwards.
set -f
tab=$(printf '\\t')
nl='
'
status=0
while read -r old new ref; do
  action=
  message=
  IFS=$nl
  for line in $PLUE_PROTECT; do
    rest=\${line#*"$tab"}
    if [ "\${rest%%"$tab"*}" = "$ref" ]; then
      action=\${line%%"$tab"*}
      message=\${rest#*"$tab"}
      break
    fi
  done
  unset IFS
  if [ -z "$action" ] && [ -n "$PLUE_PROTECT_UNLISTED" ]; then
    case $ref in
      refs/heads/*)
        action=deny
        message=$PLUE_PROTECT_UNLISTED ;;
    esac
  fi
  case $action in
    deny)
      printf '%s\\n' "$message" >&2
      status=1 ;;
    no-force)
      if ! git merge-base --is-ancestor "$old" "$new" 2>/dev/null; then
        printf '%s\\n' "$message" >&2
        status=1
      fi ;;
  esac
done
exit $status
`;

/** Writes the hook into `<dir>/pre-receive` (once, or again if its text changed); returns `dir`. */
export function installHook(dir: string): string {
  const file = path.join(dir, "pre-receive");
  const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
  if (current !== HOOK) {
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, HOOK, { mode: 0o755 });
    fs.renameSync(tmp, file);
  }
  return dir;
}

/** Whether `username` is named by an allowlist: by name, or through an `org/team` it is in. */
async function allowed(db: Queryable, list: readonly string[], pusher: Pusher | undefined): Promise<boolean> {
  if (!pusher) return false;
  const name = pusher.username.toLowerCase();
  if (list.some((e) => !e.includes("/") && e.toLowerCase() === name)) return true;
  const teams = list.filter((e) => e.includes("/")).map((e) => e.toLowerCase());
  if (teams.length === 0) return false;
  const r = await db.query(
    `SELECT 1 FROM team_members tm
       JOIN teams t ON t.id = tm.team_id
       JOIN users o ON o.id = t.org_id
      WHERE tm.user_id = $1 AND lower(o.username) || '/' || lower(t.name) = ANY($2::text[])
      LIMIT 1`,
    [pusher.id, teams],
  );
  return r.rowCount > 0;
}

export interface Pusher {
  id: number;
  username: string;
}

/** The decision for one ref command under its branch's rule. */
async function decideRef(
  db: Queryable,
  rule: PushRule | undefined,
  update: RefUpdate,
  pusher: Pusher | undefined,
): Promise<RefDecision> {
  const { ref } = update;
  if (!rule) return { ref, action: "allow" };
  const branch = ref.slice("refs/heads/".length);
  const deny = (why: string): RefDecision => ({
    ref,
    action: "deny",
    message: `${branch} is protected: ${why}`,
  });
  const deletion = isZeroOid(update.after);
  if (deletion && rule.block_deletion) return deny("it cannot be deleted");
  if (rule.push_allowlist !== null && !(await allowed(db, rule.push_allowlist, pusher))) {
    return deny(
      rule.push_allowlist.length === 0
        ? "pushes must go through a pull request"
        : `pushes must go through a pull request (only ${rule.push_allowlist.join(", ")} may push directly)`,
    );
  }
  if (deletion || isZeroOid(update.before) || !rule.block_force_push) return { ref, action: "allow" };
  return { ref, action: "no-force", message: `${branch} is protected: force-pushes are not allowed` };
}

/**
 * The decisions for a push's ref commands. `complete` is false when the command list was longer
 * than what is read before http-backend starts: then a repository with rules refuses the branches
 * it did not see (PLUE_PROTECT_UNLISTED; tags are never protected, so `push --tags` passes).
 */
export async function decidePush(
  db: Queryable,
  rules: PushRules,
  repo: Repository,
  pusher: Pusher | undefined,
  updates: readonly RefUpdate[],
  complete: boolean,
): Promise<{ decisions: RefDecision[]; unlisted?: string }> {
  if (!(await rules.hasRules(repo))) return { decisions: [] };
  const decisions: RefDecision[] = [];
  for (const u of updates) {
    const rule = u.ref.startsWith("refs/heads/") ? await rules.ruleFor(repo, u.ref.slice(11)) : undefined;
    decisions.push(await decideRef(db, rule, u, pusher));
  }
  if (complete) return { decisions };
  return {
    decisions,
    unlisted:
      "this push updates too many refs at once for the protected branches to be checked: push fewer at a time",
  };
}

/** A message as one hook line, short enough that a push of many refs fits the environment. */
const oneLine = (m: string) => {
  const flat = m.replace(/[\r\n\t]+/g, " ");
  return flat.length > 300 ? `${flat.slice(0, 297)}...` : flat;
};

/** The http-backend child's setup for `decisions`; undefined when every ref is allowed outright. */
export function hookSetup(
  hooksDir: string,
  outcome: { decisions: readonly RefDecision[]; unlisted?: string },
): HookSetup | undefined {
  // Allowed refs need a line only when unlisted refs are refused.
  const lines = outcome.decisions
    .filter((d) => d.action !== "allow" || outcome.unlisted)
    .map((d) => `${d.action}\t${d.ref}\t${"message" in d ? oneLine(d.message) : ""}`);
  if (lines.length === 0 && !outcome.unlisted) return undefined;
  return {
    config: [["core.hooksPath", installHook(hooksDir)]],
    env: { PLUE_PROTECT: lines.join("\n"), PLUE_PROTECT_UNLISTED: outcome.unlisted ?? "" },
  };
}
