/**
 * `plue workflow check <file>… [--event push|pull_request|issue|manual|chat|mention | --event-file e.json]`
 *
 * Evaluates workflow files the way the server does and prints the plans as JSON, or the errors as
 * `path:line:col: message` (exit code 1). Prompts are read from the `prompts` folder next to the file's
 * `workflows` folder (`.plue/prompts/`). Without an event, each workflow is checked against a sample
 * event for every one of its triggers.
 */
import fs from "node:fs";
import { parseArgs } from "node:util";
import {
  evaluateWorkflow,
  formatError,
  type Plan,
  promptPath,
  sampleEventOfKind,
  type WorkflowEventInput,
  WorkflowEventSchema,
} from "../workflows/index";

const KINDS = ["push", "pull_request", "issue", "manual", "chat", "mention"] as const;
const USAGE = `usage: plue workflow check <file>... [--event ${KINDS.join("|")}] [--event-file event.json]\n`;

export type Io = { out: (s: string) => void; err: (s: string) => void };

export async function main(argv: string[]): Promise<number> {
  return run(argv, { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) });
}

/** The command with its output streams passed in (tests capture them). */
export function run(argv: string[], io: Io): number {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    io.err(`plue workflow: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (parsed.positionals[0] !== "check" || parsed.positionals.length < 2) {
    io.err(USAGE);
    return 2;
  }
  let event: WorkflowEventInput | undefined;
  try {
    event = readEvent(parsed.values.event, parsed.values["event-file"]);
  } catch (err) {
    io.err(`plue workflow: ${(err as Error).message}\n`);
    return 2;
  }
  const plans: Plan[] = [];
  let failed = false;
  for (const file of parsed.positionals.slice(1)) {
    let source: string;
    try {
      source = fs.readFileSync(file, "utf8");
    } catch (err) {
      io.err(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
      failed = true;
      continue;
    }
    const result = evaluateWorkflow({
      path: file,
      source,
      readPrompt: (name) => readIfExists(promptPath(file, name)),
      event,
    });
    if (!result.ok) {
      for (const e of result.errors) io.err(`${formatError(e)}\n`);
      failed = true;
      continue;
    }
    if (event && result.workflows.length === 0)
      io.err(`${file}: no workflow is triggered by this ${event.kind} event\n`);
    plans.push(...result.workflows);
  }
  if (!failed) io.out(`${JSON.stringify(plans, null, 2)}\n`);
  return failed ? 1 : 0;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: { event: { type: "string" }, "event-file": { type: "string" } },
    strict: true,
  });
}

function readEvent(kind: string | undefined, file: string | undefined): WorkflowEventInput | undefined {
  if (kind !== undefined && file !== undefined) throw new Error("give --event or --event-file, not both");
  if (kind !== undefined) {
    if (!(KINDS as readonly string[]).includes(kind))
      throw new Error(`unknown event kind "${kind}" (${KINDS.join(", ")})`);
    return sampleEventOfKind(kind as (typeof KINDS)[number]);
  }
  if (file === undefined) return undefined;
  const json: unknown = JSON.parse(fs.readFileSync(file, "utf8"));
  const parsed = WorkflowEventSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(
      `${file}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "event"}: ${i.message}`).join("; ")}`,
    );
  }
  return parsed.data;
}

function readIfExists(path: string): string | undefined {
  try {
    return fs.readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
