/**
 * The plan executor: runs a workflow workload's plan DAG (app/wire/plan.ts) in one workspace.
 *
 * - A step starts once every step it `needs` succeeded; a step whose need failed, was skipped or
 *   was cancelled is skipped. Independent steps run in parallel, at most `parallelism` at once.
 * - `run` steps run `sh -c <cmd>` in the sandbox; stdout/stderr stream as `log` events, line by
 *   line and capped per attempt. Outputs: stdout, stderr (their first and last bytes), exit_code.
 * - `git_diff` steps diff two commits of the workspace's clone, inside the sandbox.
 * - `agent` steps run the agent loop with the prompt's tools and a `submit_output` tool whose
 *   input schema is the prompt's output schema; the step succeeds when the model submits valid
 *   output.
 * - Each attempt emits `step_start`; each step ends with one `step_end` (status, exit code,
 *   outputs, duration). Failed attempts are retried `retries` times; each has the step's timeout.
 * - Steps listed in `completed_steps` (a rerun of failed steps) are not run: their outputs are
 *   taken as they are.
 *
 * The outcome says `completed` or `failed` with the workflow's resolved outputs; the caller emits
 * the terminal event. Aborting `signal` cancels the running steps and starts no more.
 */
import { StringDecoder } from "node:string_decoder";
import type Anthropic from "@anthropic-ai/sdk";
import type { z } from "zod";
import {
  type AgentStep,
  type GitDiffStep,
  type Plan,
  type RunStep,
  renderTemplate,
  resolveValue,
  type Step,
  stringify,
} from "../app/wire/plan";
import { validateJson, validatePlan } from "../app/wire/plan-check";
import type { AgentWorkload, EventDataOf, WorkflowWorkload } from "../app/wire/protocol";
import { type EventSink, type FinishTool, runAgent } from "./agent";
import { SANDBOX_WORKDIR } from "./sandbox/types";
import { TOOLS, type ToolContext } from "./tools/index";

type Workload = z.output<typeof WorkflowWorkload>;
type Usage = { input_tokens: number; output_tokens: number };
type StepStatus = EventDataOf<"step_end">["status"];

export type PlanOutcome =
  | {
      kind: "done";
      reason: "completed" | "failed";
      outputs: Record<string, unknown>;
      message?: string;
      usage: Usage;
    }
  | { kind: "aborted"; usage: Usage }
  | { kind: "error"; code: string; message: string; usage: Usage };

export interface PlanOptions {
  readonly workload: Workload;
  readonly events: EventSink;
  /** Workspace root, sandbox and the run's signal. */
  readonly tools: ToolContext;
  readonly signal: AbortSignal;
  readonly client?: Anthropic;
  /** Steps running at once (default {@link DEFAULT_PARALLELISM}). */
  readonly parallelism?: number;
}

export const DEFAULT_PARALLELISM = 4;
/** Bytes of each of stdout/stderr kept as a step's outputs (head and tail). */
export const STEP_OUTPUT_BYTES = 64 * 1024;
/** Bytes of a diff kept as a `git_diff` step's output. */
export const DIFF_OUTPUT_BYTES = 256 * 1024;
/** Log bytes streamed per attempt; the rest is counted, not sent (the outputs keep the tail). */
export const LOG_BYTES_PER_ATTEMPT = 1024 * 1024;
/** Largest `log` event; longer lines are split. */
const LOG_EVENT_CHARS = 8 * 1024;
/** Largest accepted agent output (it travels in one event and is stored as JSON). */
const AGENT_OUTPUT_CHARS = 256 * 1024;
const RETRY_DELAY_MS = 1000;
const EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
const ZERO_SHA = /^0{40}$/;
export const SUBMIT_OUTPUT = "submit_output";

interface StepResult {
  status: StepStatus;
  exit_code?: number | null;
  outputs: Record<string, unknown>;
  error?: string;
}

/** Runs the plan; never throws for a step's failure (that is a `failed` outcome). */
export async function runWorkflow(opts: PlanOptions): Promise<PlanOutcome> {
  const usage: Usage = { input_tokens: 0, output_tokens: 0 };
  const valid = validatePlan(opts.workload.plan);
  if (!valid.ok) {
    const detail = valid.errors.map((e) => `${e.path}: ${e.message}`).join("; ");
    return { kind: "error", code: "invalid_plan", message: `the plan is not valid: ${detail}`, usage };
  }
  const run = new PlanRun(valid.plan, opts, usage);
  await run.execute();
  if (opts.signal.aborted) return { kind: "aborted", usage };
  return run.outcome();
}

class PlanRun {
  private readonly results = new Map<string, StepResult>();
  private readonly byName: Map<string, Step>;

  constructor(
    private readonly plan: Plan,
    private readonly opts: PlanOptions,
    private readonly usage: Usage,
  ) {
    this.byName = new Map(plan.steps.map((s) => [s.name, s]));
    for (const [name, outputs] of Object.entries(opts.workload.completed_steps ?? {})) {
      if (this.byName.has(name)) this.results.set(name, { status: "success", outputs });
    }
  }

  /** Starts every step whose needs are met, until none is left or the run is aborted. */
  async execute(): Promise<void> {
    const parallelism = Math.max(1, this.opts.parallelism ?? DEFAULT_PARALLELISM);
    const running = new Map<string, Promise<void>>();
    for (;;) {
      let progressed = false;
      for (const step of this.plan.steps) {
        if (this.results.has(step.name) || running.has(step.name)) continue;
        const blocker = step.needs.find((n) => {
          const r = this.results.get(n);
          return r !== undefined && r.status !== "success";
        });
        if (blocker !== undefined || this.opts.signal.aborted) {
          const why = this.opts.signal.aborted
            ? "the run was cancelled"
            : `needs "${blocker}", which ${describe(this.results.get(blocker!)!.status)}`;
          this.finish(step, this.opts.signal.aborted ? "cancelled" : "skipped", { error: why }, 0);
          progressed = true;
          continue;
        }
        if (!step.needs.every((n) => this.results.get(n)?.status === "success")) continue;
        if (running.size >= parallelism) continue;
        const p = this.runStep(step).finally(() => running.delete(step.name));
        running.set(step.name, p);
        progressed = true;
      }
      if (running.size === 0) {
        if (progressed) continue; // skips may unblock (or skip) more steps
        return;
      }
      await Promise.race(running.values());
    }
  }

  outcome(): PlanOutcome {
    const lookup = (step: string, output?: string) => this.lookup(step, output);
    const outputs = resolveValue(this.plan.result.outputs, lookup) as Record<string, unknown>;
    const failed = this.plan.steps.filter((s) => {
      const status = this.results.get(s.name)?.status;
      return status === "failure" || status === "cancelled";
    });
    if (failed.length > 0) {
      const names = failed.map((s) => `"${s.name}"`).join(", ");
      const first = this.results.get(failed[0]!.name)!;
      const message = `step${failed.length > 1 ? "s" : ""} ${names} failed${first.error ? `: ${first.error}` : ""}`;
      return { kind: "done", reason: "failed", outputs, message, usage: this.usage };
    }
    if (this.plan.result.status === "failure") {
      const message = stringify(resolveValue(this.plan.result.message ?? "the workflow failed", lookup));
      return { kind: "done", reason: "failed", outputs, message, usage: this.usage };
    }
    return { kind: "done", reason: "completed", outputs, usage: this.usage };
  }

  /** A step's output for references: `{"$ref": "<step>"}` is its primary output. */
  private lookup(step: string, output?: string): unknown {
    const r = this.results.get(step);
    if (!r) return undefined;
    if (output !== undefined) return r.outputs[output];
    const kind = this.byName.get(step)?.kind;
    return kind === "run" ? r.outputs.stdout : kind === "git_diff" ? r.outputs.diff : r.outputs;
  }

  private resolve(value: Parameters<typeof resolveValue>[0]): unknown {
    return resolveValue(value, (s, o) => this.lookup(s, o));
  }

  private finish(
    step: Step,
    status: StepStatus,
    r: Omit<StepResult, "status" | "outputs"> & { outputs?: Record<string, unknown> },
    startedAt: number,
  ) {
    const result: StepResult = { status, outputs: r.outputs ?? {}, exit_code: r.exit_code, error: r.error };
    this.results.set(step.name, result);
    this.opts.events.emit("step_end", {
      step: step.name,
      status,
      ...(r.exit_code !== undefined ? { exit_code: r.exit_code } : {}),
      ...(r.outputs ? { outputs: r.outputs } : {}),
      ...(startedAt ? { duration_ms: Math.round(performance.now() - startedAt) } : {}),
      ...(r.error ? { error: r.error } : {}),
    });
  }

  /** Runs one step with its retries and timeout, and records how it ended. */
  private async runStep(step: Step): Promise<void> {
    const started = performance.now();
    const attempts = step.retries + 1;
    let last: StepResult = { status: "failure", outputs: {} };
    for (let attempt = 1; attempt <= attempts; attempt++) {
      this.opts.events.emit("step_start", { step: step.name, kind: step.kind, attempt });
      const timeout = AbortSignal.timeout(step.timeout_seconds * 1000);
      const signal = AbortSignal.any([this.opts.signal, timeout]);
      try {
        last = await this.attempt(step, signal);
      } catch (err) {
        last = { status: "failure", outputs: {}, error: (err as Error).message };
      }
      if (this.opts.signal.aborted) {
        last = { ...last, status: "cancelled", error: "the run was cancelled" };
        break;
      }
      if (timeout.aborted && last.status !== "success") {
        last = { ...last, status: "failure", error: `timed out after ${step.timeout_seconds}s` };
      }
      if (last.status === "success" || attempt === attempts) break;
      this.log(step, "system", `attempt ${attempt} of ${attempts} failed (${why(last)}); retrying\n`);
      await sleep(RETRY_DELAY_MS * attempt, this.opts.signal);
    }
    this.finish(step, last.status, last, started);
  }

  private attempt(step: Step, signal: AbortSignal): Promise<StepResult> {
    switch (step.kind) {
      case "run":
        return this.runCommand(step, signal);
      case "git_diff":
        return this.gitDiff(step, signal);
      case "agent":
        return this.agent(step, signal);
    }
  }

  private env(step: Step): Record<string, string> {
    const { workload } = this.opts;
    const context = workload.trigger.context;
    return {
      CI: "true",
      PLUE: "true",
      PLUE_RUN_ID: workload.run_id,
      PLUE_WORKFLOW: this.plan.name,
      PLUE_STEP: step.name,
      PLUE_EVENT: workload.trigger.event,
      PLUE_SHA: workload.repo.commit ?? "",
      PLUE_REF: typeof context.ref === "string" ? context.ref : "",
      PLUE_REPOSITORY: `${workload.repo.owner}/${workload.repo.name}`,
    };
  }

  private async runCommand(step: RunStep, signal: AbortSignal): Promise<StepResult> {
    const cmd = stringify(this.resolve(step.cmd));
    const env = { ...this.env(step) };
    for (const [k, v] of Object.entries(step.env)) env[k] = stringify(this.resolve(v));
    const log = new StepLog(this.opts.events, step.name);
    const r = await this.opts.tools.sandbox.exec(["/bin/sh", "-c", cmd], {
      timeoutMs: step.timeout_seconds * 1000 + 1000, // the step's own signal fires first
      signal,
      env,
      maxOutputBytes: STEP_OUTPUT_BYTES,
      onOutput: (stream, chunk) => log.write(stream, chunk),
    });
    log.close();
    const outputs = { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
    if (r.exitCode === 0 && !r.aborted && !r.timedOut) return { status: "success", exit_code: 0, outputs };
    const error = r.limit ?? (r.signal ? `killed by ${r.signal}` : `exit code ${r.exitCode}`);
    return { status: "failure", exit_code: r.exitCode, outputs, error };
  }

  private async git(args: string[], signal: AbortSignal, maxOutputBytes = 64 * 1024) {
    return this.opts.tools.sandbox.exec(
      ["git", "-c", "safe.directory=*", "-c", "core.quotepath=off", ...args],
      { timeoutMs: 120_000, signal, maxOutputBytes },
    );
  }

  /** A commit-ish as the clone knows it: as given, or a branch of the origin. */
  private async revision(name: string, signal: AbortSignal): Promise<string | undefined> {
    if (ZERO_SHA.test(name)) return EMPTY_TREE;
    for (const candidate of [name, `origin/${name.replace(/^refs\/heads\//, "")}`]) {
      if (candidate.startsWith("-")) continue;
      const r = await this.git(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", `${candidate}^{commit}`],
        signal,
      );
      if (r.exitCode === 0) return r.stdout.trim();
    }
    return undefined;
  }

  private async gitDiff(step: GitDiffStep, signal: AbortSignal): Promise<StepResult> {
    const baseName = stringify(this.resolve(step.base));
    const headName = step.head === null ? "HEAD" : stringify(this.resolve(step.head));
    const [base, head] = [await this.revision(baseName, signal), await this.revision(headName, signal)];
    if (!base || !head) {
      const missing = !base ? baseName : headName;
      return { status: "failure", outputs: {}, error: `${missing} is not a commit in the repository` };
    }
    // Three dots (changes since the merge base), except from the empty tree of a new branch.
    const range = base === EMPTY_TREE ? [base, head] : [`${base}...${head}`];
    const r = await this.git(
      ["diff", "--no-ext-diff", "--no-textconv", "--no-color", ...range],
      signal,
      DIFF_OUTPUT_BYTES,
    );
    if (r.exitCode !== 0) {
      return { status: "failure", outputs: {}, error: `git diff failed: ${r.stderr.trim().slice(0, 500)}` };
    }
    const lines = r.stdout.split("\n").filter((l) => l.startsWith("diff --git")).length;
    this.log(
      step,
      "system",
      `diff ${baseName}...${headName}: ${lines} file(s), ${r.stdout.length} characters\n`,
    );
    return { status: "success", outputs: { diff: r.stdout } };
  }

  private async agent(step: AgentStep, signal: AbortSignal): Promise<StepResult> {
    const { prompt } = step;
    const unknown = prompt.tools.filter((t) => !TOOLS.some((tool) => tool.name === t));
    if (unknown.length > 0) {
      const known = TOOLS.map((t) => t.name).join(", ");
      return {
        status: "failure",
        outputs: {},
        error: `prompt ${prompt.name} asks for unknown tools ${unknown.join(", ")} (tools: ${known})`,
      };
    }
    const inputs = this.resolve(step.inputs) as Record<string, unknown>;
    const { workload } = this.opts;
    const agentWorkload: z.output<typeof AgentWorkload> = {
      id: workload.id,
      type: "agent",
      session_id: workload.run_id,
      model: prompt.model ?? workload.model,
      system_prompt: agentSystemPrompt(prompt.name),
      messages: [{ role: "user", parts: [{ type: "text", text: renderTemplate(prompt.template, inputs) }] }],
      limits: { ...workload.limits, max_turns: prompt.max_turns },
    };
    const outcome = await runAgent({
      workload: agentWorkload,
      events: this.opts.events,
      tools: { ...this.opts.tools, signal },
      signal,
      client: this.opts.client,
      toolset: TOOLS.filter((t) => prompt.tools.includes(t.name)),
      finish: submitOutput(prompt.output_schema),
    });
    if (outcome.kind !== "aborted") {
      this.usage.input_tokens += outcome.usage.input_tokens;
      this.usage.output_tokens += outcome.usage.output_tokens;
    }
    if (outcome.kind === "done" && outcome.output !== undefined) {
      const shown = JSON.stringify(outcome.output);
      this.log(step, "system", `output: ${shown.length > 2000 ? `${shown.slice(0, 2000)}…` : shown}\n`);
      return { status: "success", outputs: outcome.output as Record<string, unknown> };
    }
    const error =
      outcome.kind === "error"
        ? outcome.message
        : outcome.kind === "aborted"
          ? "aborted"
          : `the agent ended (${outcome.reason}) without submitting its output`;
    return { status: "failure", outputs: {}, error };
  }

  private log(step: Step, stream: "stdout" | "stderr" | "system", text: string): void {
    this.opts.events.emit("log", { step: step.name, stream, text });
  }
}

export function agentSystemPrompt(name: string): string {
  return (
    `You are a step of an automated workflow (prompt ${name}) working in a project checked out at ` +
    `${SANDBOX_WORKDIR}. Use the tools you are given to look at the code as needed. When you are ` +
    `done, call ${SUBMIT_OUTPUT} exactly once with your result; that ends the step.`
  );
}

/** The finish tool of an agent step: its input schema is the prompt's output schema. */
export function submitOutput(schema: AgentStep["prompt"]["output_schema"]): FinishTool {
  return {
    definition: {
      name: SUBMIT_OUTPUT,
      description: "Submit the step's result. Call it once, when you are done; the step ends with it.",
      input_schema: { ...schema, type: "object" },
    },
    check(input) {
      const problems = validateJson(schema, input, "output");
      if (problems.length === 0 && JSON.stringify(input).length > AGENT_OUTPUT_CHARS) {
        problems.push(`output: larger than ${AGENT_OUTPUT_CHARS} characters`);
      }
      return problems;
    },
    reminder: `Call the ${SUBMIT_OUTPUT} tool with your result; the step ends only with it.`,
  };
}

/**
 * A step's live output as `log` events: whole lines (a line longer than an event is split),
 * UTF-8 decoded across chunk boundaries, at most LOG_BYTES_PER_ATTEMPT per attempt.
 */
export class StepLog {
  private readonly decoders = { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") };
  private readonly partial = { stdout: "", stderr: "" };
  private bytes = 0;
  private dropped = 0;

  constructor(
    private readonly events: EventSink,
    private readonly step: string,
    private readonly cap = LOG_BYTES_PER_ATTEMPT,
  ) {}

  write(stream: "stdout" | "stderr", chunk: Buffer): void {
    if (this.bytes >= this.cap) {
      this.dropped += chunk.length;
      return;
    }
    const room = this.cap - this.bytes;
    const taken = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.dropped += chunk.length - taken.length;
    this.bytes += taken.length;
    const text = this.partial[stream] + this.decoders[stream].write(taken);
    const end = text.lastIndexOf("\n") + 1;
    this.partial[stream] = text.slice(end);
    this.send(stream, text.slice(0, end));
    // A line longer than an event goes out in pieces.
    while (this.partial[stream].length >= LOG_EVENT_CHARS) {
      this.send(stream, this.partial[stream].slice(0, LOG_EVENT_CHARS));
      this.partial[stream] = this.partial[stream].slice(LOG_EVENT_CHARS);
    }
  }

  /** Sends what is left (a last line without a newline) and says what was dropped. */
  close(): void {
    for (const stream of ["stdout", "stderr"] as const) {
      const rest = this.partial[stream] + this.decoders[stream].end();
      this.partial[stream] = "";
      if (rest) this.send(stream, `${rest}\n`);
    }
    if (this.dropped > 0) {
      this.events.emit("log", {
        step: this.step,
        stream: "system",
        text: `[log truncated: ${this.dropped} more bytes were not streamed; the step's outputs keep the end]\n`,
      });
    }
  }

  private send(stream: "stdout" | "stderr", text: string): void {
    for (let i = 0; i < text.length; i += LOG_EVENT_CHARS) {
      this.events.emit("log", { step: this.step, stream, text: text.slice(i, i + LOG_EVENT_CHARS) });
    }
  }
}

function describe(status: StepStatus): string {
  return status === "skipped" ? "was skipped" : status === "cancelled" ? "was cancelled" : "failed";
}

function why(r: StepResult): string {
  return r.error ?? (r.exit_code === undefined ? "failed" : `exit code ${r.exit_code}`);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
