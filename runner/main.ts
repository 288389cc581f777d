/**
 * The runner process (`dist/runner.js`): get an assignment, run it, exit with its code.
 * Getting and running are separate so the warm pool's standby mode (register, then long-poll
 * for an assignment) can reuse `runAssignment` unchanged.
 *
 * An assignment comes from, in order: a file named as the first argument, the environment
 * variable PLUE_ASSIGNMENT, or standard input (what the local executor uses: the task token then
 * appears in no argv and no environment).
 */
import fs from "node:fs";
import { pathToFileURL } from "node:url";
import pino from "pino";
import { loadConfig } from "../app/config";
import { createLogger } from "../app/log";
import { scrubText, secretValues } from "../app/redact";
import { Assignment, ExitCode } from "../app/wire/protocol";
import { runAssignment } from "./run";
import { resolveSandbox } from "./sandbox/index";
import { exitWithParent, LIFELINE_ENV, standby } from "./standby";
import { toolDefinitions } from "./tools/index";

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
  let source: string;
  let text: string;
  if (argv[0]) {
    source = argv[0];
    text = fs.readFileSync(argv[0], "utf8");
  } else if (env.PLUE_ASSIGNMENT) {
    source = "PLUE_ASSIGNMENT";
    text = env.PLUE_ASSIGNMENT;
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

export async function main(): Promise<number> {
  // The app's logger, credentials redacted (app/log.ts): a runner holds a task token, and in
  // standby also the pool secret and its runner token.
  const log = createLogger(process.env.LOG_LEVEL ?? "info", {
    destination: pino.destination(2),
    service: "runner",
  });
  // A runner started ahead of need (the local executor's spare) checks its sandbox and builds its
  // tool schemas while it waits for the assignment, so a run starts with that done.
  const config = loadConfig(process.env);
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
  if (process.env.MODE === "standby") {
    // Warm pool or cold start: register, long-poll for the assignment (runner/standby.ts).
    if (process.env[LIFELINE_ENV] === "stdin") exitWithParent();
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
