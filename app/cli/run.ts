/**
 * `plue run <owner/repo> <workflow> [--input name=value]… [--ref <branch|tag|commit>] [--follow]`
 *
 * Dispatches a workflow by hand (its `manual(...)` trigger) through the API and prints the run's
 * id and URL; with `--follow` it streams the run's log with each step's start and end and exits
 * with the run's outcome (0 success, 1 failure/cancelled/error). The server is `PLUE_URL`
 * (default http://127.0.0.1:4000); the token is `PLUE_TOKEN`, or the admin token that `plue dev`
 * wrote to `<data dir>/admin-token`.
 */
import { parseArgs } from "node:util";
import { EventSource } from "eventsource";
import { ApiError } from "../client/api-error";
import type { EventSourceConstructor } from "../client/event-stream";
import { streamRun } from "../client/runs";
import { formatRunEvent } from "../runs/log";
import { type CreatedRun, LIVE_RUN_STATUSES, type RunView } from "../wire/api";
import { apiTarget, ApiClient as Client, type Io, NO_TOKEN } from "./api";

export type { Io };

const USAGE =
  "usage: plue run <owner/repo> <workflow> [--input name=value]... [--ref <branch|tag|commit>] [--follow]\n";

export async function main(argv: string[]): Promise<number> {
  return run(argv, { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) });
}

/** The command with its output and environment passed in (tests capture them). */
export async function run(argv: string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (err) {
    io.err(`plue run: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { base, token } = apiTarget(env);
  if (!token) {
    io.err(`plue run: ${NO_TOKEN}\n`);
    return 2;
  }
  const client = new Client(base, token);
  let created: CreatedRun;
  try {
    created = await client.json(
      "POST",
      `/api/repos/${args.repo}/workflows/${encodeURIComponent(args.workflow)}/dispatch`,
      {
        ...(args.ref ? { ref: args.ref } : {}),
        inputs: args.inputs,
      },
    );
  } catch (err) {
    const why = err instanceof ApiError ? `${err.status}: ${err.message}` : (err as Error).message;
    io.err(`plue run: ${why}\n`);
    return 2;
  }
  io.out(`run ${created.id} of ${args.workflow} in ${args.repo}: ${base}/runs/${created.id}\n`);
  if (!args.follow) return 0;
  await follow(client, created.id, io);
  const final = await waitForEnd(client, created.id);
  io.out(`run ${final.status}${final.error ? `: ${final.error}` : ""}\n`);
  return final.status === "success" ? 0 : 1;
}

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      input: { type: "string", short: "i", multiple: true },
      ref: { type: "string" },
      follow: { type: "boolean", short: "f" },
    },
  });
  const [repo, workflow, ...extra] = positionals;
  if (!repo || !workflow || extra.length) throw new Error("expected a repository and a workflow name");
  if (!/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(repo))
    throw new Error(`${repo}: write the repository as owner/name`);
  const inputs: Record<string, string> = {};
  for (const pair of values.input ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new Error(`--input ${pair}: write name=value`);
    inputs[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { repo, workflow, inputs, ref: values.ref, follow: values.follow ?? false };
}

/**
 * Prints the run's events until its terminal event or the end of its stream (which resumes after
 * drops with every event once). How the run ended is then read from the run itself.
 */
async function follow(client: Client, runId: string, io: Io): Promise<void> {
  const ES = EventSource as unknown as EventSourceConstructor;
  const stream = streamRun({ baseUrl: client.base, token: client.token, EventSource: ES }, runId);
  stream.on("event", (e) => {
    const text = formatRunEvent(e.type, e.data);
    if (e.type === "log" && (e.data as { stream?: string }).stream === "stderr") io.err(text);
    else if (e.type !== "done" && e.type !== "error") io.out(text);
  });
  await stream.done().catch(() => {}); // an `error` event or a refused stream: the run says how it ended
}

async function waitForEnd(client: Client, runId: string): Promise<RunView> {
  for (;;) {
    const run = await client.json<RunView>("GET", `/api/runs/${runId}`);
    if (!LIVE_RUN_STATUSES.includes(run.status)) return run;
    await new Promise((r) => setTimeout(r, 200));
  }
}
