/**
 * The runner process (`dist/runner.js`): get an assignment, run it, exit with its code.
 * Getting and running are separate so the warm pool's standby mode (register, then long-poll
 * for an assignment) can reuse `runAssignment` unchanged.
 *
 * An assignment comes from, in order: a file named as the first argument, the environment
 * variable PLUE_ASSIGNMENT, or standard input (what the local executor uses: the task token then
 * appears in no argv and no environment).
 *
 * Before any of that, `startUp`: the root-only sandbox host set-up, then, when started as root,
 * the drop to the unprivileged user the sandboxes run as (docs/runner.md, "Privileges").
 */
import fs from "node:fs";
import os from "node:os";
import { pathToFileURL } from "node:url";
import { Assignment, ExitCode } from "../app/wire/protocol";
import { scrubText, secretValues } from "../app/wire/redact";
import { parseRunnerEnv, RUNNER_ENV } from "../app/wire/runner-env";
import { createRunnerLogger, type Logger } from "./log";
import { runAssignment } from "./run";
import { ROOT_DROP_UID } from "./sandbox/bwrap";
import { prepareSandboxHost, resolveSandbox } from "./sandbox/index";
import { exitWithParent, standby } from "./standby";
import { toolDefinitions } from "./tools/index";
import type { FileOwner } from "./tools/paths";

export class AssignmentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssignmentError";
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Reads and validates one assignment; an AssignmentError says what was wrong with it. */
export async function getAssignment(
  argv: readonly string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
  stdin: () => Promise<string> = readStdin,
): Promise<Assignment> {
  const fromEnv = env[RUNNER_ENV.assignment];
  let source: string;
  let text: string;
  if (argv[0]) {
    source = argv[0];
    text = fs.readFileSync(argv[0], "utf8");
  } else if (fromEnv) {
    source = RUNNER_ENV.assignment;
    text = fromEnv;
  } else {
    source = "standard input";
    text = await stdin();
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new AssignmentError(`assignment from ${source} is not JSON: ${(err as Error).message}`);
  }
  const parsed = Assignment.safeParse(json);
  if (!parsed.success) {
    const detail = parsed.error.issues
      .map((i) => `${i.path.join(".") || "assignment"}: ${i.message}`)
      .join("; ");
    throw new AssignmentError(`invalid assignment from ${source}: ${detail}`);
  }
  return parsed.data;
}

/** Who a root runner becomes: the host user its bwrap sandboxes already run as. */
export const RUNNER_DROP: FileOwner = { uid: ROOT_DROP_UID, gid: ROOT_DROP_UID };

/**
 * What a runner does first, before it reads an assignment or makes a workspace: the set-up that
 * needs root (prepareSandboxHost: cgroups, the workspace volume), then, if it is root, becoming
 * `RUNNER_DROP` for good, so that the file tools, git and all the rest run with no more rights
 * than the commands they serve. Its own directories (the workspace base and the temp dir, which
 * is git's HOME too) are given to that user first when they are empty and it could not write
 * them; one it still cannot write after the drop stops the runner with what to change.
 */
export async function startUp(opts: {
  readonly workspaceBase?: string;
  readonly log: Pick<Logger, "info">;
}): Promise<void> {
  const isRoot = process.getuid?.() === 0;
  const dirs = [...new Set([opts.workspaceBase ?? os.tmpdir(), os.tmpdir()])];
  if (isRoot) for (const dir of dirs) handOver(dir, RUNNER_DROP, opts.log);
  await prepareSandboxHost();
  if (!isRoot) return;
  dropPrivileges(RUNNER_DROP);
  for (const dir of dirs) {
    try {
      fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
    } catch {
      throw new Error(
        `${dir} is not writable by uid ${RUNNER_DROP.uid}, the user a root runner drops to: make it ` +
          "that user's, or point PLUE_WORKSPACE / TMPDIR at a directory it can write",
      );
    }
  }
  opts.log.info({ uid: RUNNER_DROP.uid, gid: RUNNER_DROP.gid }, "dropped root privileges");
}

/** Gives an empty root-owned directory of the runner's to `to`, when `to` could not write it. */
function handOver(dir: string, to: FileOwner, log: Pick<Logger, "info">): void {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (!st?.isDirectory()) return;
  const bits = st.uid === to.uid ? st.mode >> 6 : st.gid === to.gid ? st.mode >> 3 : st.mode;
  if ((bits & 0o3) === 0o3) return; // writable and searchable already (/tmp, say)
  if (st.uid !== 0 || fs.readdirSync(dir).length > 0) return; // not ours to give: the check after the drop says so
  fs.chownSync(dir, to.uid, to.gid);
  log.info({ dir, uid: to.uid }, "gave the runner's directory to the user it drops to");
}

/**
 * Becomes `to` for good: supplementary groups, then the group, then the user (real, effective
 * and saved ids alike, so there is no way back), checked afterwards. Throws rather than go on
 * with any privilege left.
 */
export function dropPrivileges(to: FileOwner): void {
  process.setgroups!([]);
  process.setgid!(to.gid);
  process.setuid!(to.uid);
  const ids = [process.getuid!(), process.geteuid!(), process.getgid!(), process.getegid!()];
  const groups = process.getgroups!().filter((g) => g !== to.gid);
  let regained = false;
  try {
    process.setuid!(0);
    regained = true;
  } catch {
    // EPERM: as it should be
  }
  if (regained || groups.length > 0 || ids.join() !== [to.uid, to.uid, to.gid, to.gid].join())
    throw new Error(
      `could not drop root privileges (uid/euid/gid/egid ${ids.join("/")}, groups ${groups.join(",") || "none"})`,
    );
}

export async function main(): Promise<number> {
  const config = parseRunnerEnv(process.env);
  const log = createRunnerLogger(config.LOG_LEVEL);
  await startUp({ workspaceBase: config.PLUE_WORKSPACE, log });
  // A runner started ahead of need (the local executor's spare) checks its sandbox and builds its
  // tool schemas while it waits for the assignment, so a run starts with that done.
  const sandbox = resolveSandbox(config.PLUE_SANDBOX);
  sandbox.catch(() => {}); // reported by the run
  toolDefinitions();
  const controller = new AbortController();
  const stopOnSignals = () => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      process.once(sig, () => controller.abort(new Error(`received ${sig}`)));
    }
  };
  const run = async (assignment: Assignment, signal: AbortSignal) => {
    const workloadLog = log.child({ workload: assignment.workload.id });
    workloadLog.info({ type: assignment.workload.type }, "runner started");
    const code = await runAssignment(assignment, {
      log: workloadLog,
      signal,
      sandbox,
      // In a runner pod: the workspace volume, not the small /tmp one.
      workspaceBaseDir: config.PLUE_WORKSPACE,
    });
    workloadLog.info({ code }, "runner finished");
    return code;
  };
  // A local runner exits when the app that started it is gone (PLUE_LIFELINE; runner/standby.ts).
  if (config.PLUE_LIFELINE) exitWithParent(config.PLUE_LIFELINE);
  if (config.MODE === "standby") {
    // Warm pool or cold start: register, long-poll for the assignment (runner/standby.ts).
    stopOnSignals();
    return standby({ env: process.env, log, signal: controller.signal, run });
  }
  let assignment: Assignment;
  try {
    assignment = await getAssignment();
  } catch (err) {
    log.error({ err: (err as Error).message }, "no valid assignment");
    return ExitCode.badAssignment;
  }
  stopOnSignals();
  return run(assignment, controller.signal);
}

if (process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      // Not through the logger, so scrubbed here: a crash may quote a URL or header with a token.
      process.stderr.write(
        `runner crashed: ${scrubText(String((err as Error)?.stack ?? err), secretValues())}\n`,
      );
      process.exit(ExitCode.failed);
    },
  );
}
