/**
 * Standby mode (`MODE=standby`, DESIGN.md §4): how warm-pool runners and cold-started runners get
 * their workload. Runner pods accept no inbound connections, so the runner pulls:
 *
 *   register (pool secret) → long-poll for an assignment (each poll a heartbeat) → run it, with a
 *   heartbeat every half poll period (its answer can ask it to stop) → leave the pool → exit.
 *
 * Single-use: one workload, then the process exits and the pool starts a fresh runner. A runner
 * started for one workload (`PLUE_TASK_ID`, a cold start) is handed that workload at registration,
 * or told it is taken and exits. While the app cannot be reached the runner retries with backoff.
 */
import fs from "node:fs";
import os from "node:os";
import {
  Assignment,
  ExitCode,
  PoolRejection,
  type RegisterRequest,
  RegisterResponse,
  RunnerHeartbeat,
} from "../app/wire/protocol";
import { RUNNER_ENV } from "../app/wire/runner-env";
import { isAlive } from "./sandbox/process";

type Log = {
  info(o: object, m?: string): void;
  warn(o: object, m?: string): void;
  error(o: object, m?: string): void;
};

export interface StandbyOptions {
  /** Reads PLUE_APP_URL, PLUE_POOL_SECRET, PLUE_POD_NAME, PLUE_POD_IP, PLUE_TASK_ID. */
  readonly env: NodeJS.ProcessEnv;
  readonly log: Log;
  /** Runs the assignment to its end; aborting `signal` stops it. Resolves with the exit code. */
  run(assignment: Assignment, signal: AbortSignal): Promise<number>;
  /** Aborted on SIGTERM: an idle runner leaves the pool, a working one stops its workload. */
  readonly signal?: AbortSignal;
  readonly fetch?: typeof fetch;
  /** Backoff between attempts while the app is unreachable. @default {initialMs: 200, maxMs: 5000} */
  readonly retry?: { readonly initialMs: number; readonly maxMs: number };
}

/** The app refused a pool request; `code` says why (PoolRejection). */
export class PoolRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "PoolRefusal";
  }
}

/** Refusals that end a runner normally: nothing is wrong with it, it is just not needed. */
const NOT_NEEDED = new Set(["task_taken", "runner_terminated", "pod_used"]);

export async function standby(opts: StandbyOptions): Promise<number> {
  const { env, log } = opts;
  const signal = opts.signal ?? new AbortController().signal;
  const appUrl = env[RUNNER_ENV.appUrl];
  const secret = env[RUNNER_ENV.poolSecret];
  if (!appUrl || !secret) {
    log.error(
      { missing: [!appUrl && RUNNER_ENV.appUrl, !secret && RUNNER_ENV.poolSecret].filter(Boolean) },
      "standby mode needs the app URL and the pool secret",
    );
    return ExitCode.badAssignment;
  }
  const client = new PoolClient(appUrl.replace(/\/+$/, ""), opts);
  const request: RegisterRequest = {
    pod_name: env[RUNNER_ENV.podName] || os.hostname(),
    pod_ip: env[RUNNER_ENV.podIp] || undefined,
    task_id: env[RUNNER_ENV.taskId] || undefined,
  };
  let reg: RegisterResponse | undefined;
  let assignment: Assignment | undefined;
  try {
    reg = await client.register(secret, request, signal);
    if (!reg) return ExitCode.ok; // stopped before it registered
    log.info(
      { runner: reg.runner_id, pod: request.pod_name, task: request.task_id },
      "registered with the pool",
    );
    assignment = await client.waitForAssignment(reg, signal);
  } catch (err) {
    if (reg) await client.leave(reg);
    return refused(err, log);
  }
  if (!assignment) {
    await client.leave(reg);
    return ExitCode.ok;
  }
  const code = await runWithHeartbeat(client, reg, assignment, opts.run, signal, log);
  await client.leave(reg);
  return code;
}

async function runWithHeartbeat(
  client: PoolClient,
  reg: RegisterResponse,
  assignment: Assignment,
  run: StandbyOptions["run"],
  signal: AbortSignal,
  log: Log,
): Promise<number> {
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  const beat = setInterval(
    () => {
      client.heartbeat(reg).then(
        (h) => {
          if (!h?.abort || stop.signal.aborted) return;
          log.warn({ status: h.status }, "the app asked this runner to stop");
          stop.abort(new Error(`the app asked this runner to stop (${h.status})`));
        },
        (err) => {
          // Refused: the app gave up on this runner (another may have its workload now).
          if (err instanceof PoolRefusal) stop.abort(err);
        },
      );
    },
    (reg.poll_seconds * 1000) / 2,
  );
  beat.unref();
  try {
    return await run(assignment, stop.signal);
  } finally {
    clearInterval(beat);
    signal.removeEventListener("abort", onAbort);
  }
}

function refused(err: unknown, log: Log): number {
  if (err instanceof PoolRefusal) {
    const normal = NOT_NEEDED.has(err.code);
    (normal ? log.info : log.error).call(
      log,
      { status: err.status, code: err.code, err: err.message },
      "the pool refused this runner",
    );
    return normal ? ExitCode.ok : ExitCode.badAssignment;
  }
  log.error({ err: (err as Error).message }, "standby failed");
  return ExitCode.failed;
}

/** The runner's side of the pool endpoints, retrying while the app is unreachable. */
export class PoolClient {
  private readonly fetch: typeof fetch;
  private readonly retry: { initialMs: number; maxMs: number };

  constructor(
    private readonly appUrl: string,
    private readonly opts: Pick<StandbyOptions, "fetch" | "retry" | "log">,
  ) {
    this.fetch = opts.fetch ?? globalThis.fetch;
    this.retry = opts.retry ?? { initialMs: 200, maxMs: 5000 };
  }

  /** Undefined when `signal` aborted first. */
  async register(
    secret: string,
    body: RegisterRequest,
    signal: AbortSignal,
  ): Promise<RegisterResponse | undefined> {
    const res = await this.persist("POST", "/internal/runners/register", secret, body, 15_000, signal);
    if (!res) return undefined;
    return RegisterResponse.parse(await res.json());
  }

  /** The assignment, or undefined when `signal` aborted first. Throws PoolRefusal. */
  async waitForAssignment(reg: RegisterResponse, signal: AbortSignal): Promise<Assignment | undefined> {
    const path = `/internal/runners/${reg.runner_id}/assignment?wait=${reg.poll_seconds}`;
    for (;;) {
      const res = await this.persist(
        "GET",
        path,
        reg.token,
        undefined,
        (reg.poll_seconds + 15) * 1000,
        signal,
      );
      if (!res) return undefined;
      if (res.status === 204) continue;
      const parsed = Assignment.safeParse(await res.json());
      if (!parsed.success) {
        throw new PoolRefusal(
          res.status,
          "invalid_assignment",
          `the app sent an invalid assignment: ${parsed.error.message}`,
        );
      }
      return parsed.data;
    }
  }

  async heartbeat(reg: RegisterResponse): Promise<RunnerHeartbeat | undefined> {
    const res = await this.once(
      "POST",
      `/internal/runners/${reg.runner_id}/heartbeat`,
      reg.token,
      undefined,
      10_000,
    );
    return RunnerHeartbeat.parse(await res.json());
  }

  /** Best effort: the reaper notices a runner that could not say goodbye. */
  async leave(reg: RegisterResponse): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.once("DELETE", `/internal/runners/${reg.runner_id}`, reg.token, undefined, 5_000);
        return;
      } catch (err) {
        if (err instanceof PoolRefusal) return;
      }
    }
  }

  /** One request; throws PoolRefusal on a 4xx answer and plain errors on network trouble or 5xx. */
  private async once(
    method: string,
    path: string,
    token: string,
    body: unknown,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Response> {
    const res = await this.fetch(this.appUrl + path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: signal
        ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)])
        : AbortSignal.timeout(timeoutMs),
    });
    if (res.status < 400) return res;
    const text = await res.text();
    const rejection = PoolRejection.safeParse(safeJson(text));
    if (res.status >= 500 || res.status === 429) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
    if (rejection.success)
      throw new PoolRefusal(res.status, rejection.data.error.code, rejection.data.error.message);
    throw new PoolRefusal(res.status, "unexpected", `HTTP ${res.status}: ${text.slice(0, 200)}`);
  }

  /** Retries network errors and 5xx with backoff until it gets an answer, or `signal` aborts (undefined). */
  private async persist(
    method: string,
    path: string,
    token: string,
    body: unknown,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<Response | undefined> {
    let delay = this.retry.initialMs;
    for (;;) {
      if (signal.aborted) return undefined;
      try {
        return await this.once(method, path, token, body, timeoutMs, signal);
      } catch (err) {
        if (err instanceof PoolRefusal) throw err;
        if (signal.aborted) return undefined;
        this.opts.log.warn(
          { err: (err as Error).message, path: path.split("?")[0] },
          "the app is unreachable; retrying",
        );
      }
      await sleep(delay * (0.5 + Math.random() / 2), signal);
      delay = Math.min(delay * 2, this.retry.maxMs);
    }
  }
}

/**
 * Exits when a local runner's parent (the app) is gone, as PLUE_LIFELINE says how to tell. A
 * runner left behind would otherwise work on unsupervised (its app's successor fails its workload
 * anyway). One stuck in a synchronous call never sees this: the next server kills it.
 */
export function exitWithParent(lifeline: string): void {
  const code = ExitCode.failed;
  if (lifeline === "stdin") {
    process.stdin.on("end", () => process.exit(code));
    process.stdin.on("error", () => process.exit(code));
    process.stdin.resume();
  } else if (lifeline.startsWith("ppid:")) {
    const parent = Number(lifeline.slice(5));
    const check = () => {
      if (parentPid() !== parent) process.exit(code);
    };
    check(); // the app may have died before this runner got here
    setInterval(check, 500).unref();
  }
}

/** The parent pid now (`process.ppid` is read once at start); /proc where there is one. */
function parentPid(): number {
  try {
    const stat = fs.readFileSync("/proc/self/stat", "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    // No /proc: whether the first parent is still there (EPERM counts: a runner that dropped
    // root may not signal its root parent, which is alive all the same).
    return isAlive(process.ppid) ? process.ppid : 1;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
