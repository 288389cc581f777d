/**
 * The wire protocol between the app and its runners (DESIGN.md §4), and the event types clients
 * see over SSE. One module of types + zod schemas, imported by both sides: change it here only.
 */
import { z } from "zod";

// ---------------------------------------------------------------------------------------------
// Events: what a runner reports, stored in task_events and streamed to clients.

export const Usage = z.object({
  input_tokens: z.number().int().min(0),
  output_tokens: z.number().int().min(0),
});

/** The data of each event type. `done` is the one terminal success/abort event, `error` the failure. */
export const EventData = {
  token: z.object({ text: z.string() }),
  tool_start: z.object({ id: z.string(), name: z.string(), input: z.unknown() }),
  tool_end: z.object({
    id: z.string(),
    name: z.string(),
    output: z.string(),
    is_error: z.boolean().default(false),
    truncated: z.boolean().optional(),
  }),
  step_start: z.object({ step: z.string(), kind: z.string(), attempt: z.number().int().min(1).optional() }),
  step_end: z.object({
    step: z.string(),
    status: z.enum(["success", "failure", "skipped", "cancelled"]),
    exit_code: z.number().int().nullable().optional(),
    outputs: z.record(z.string(), z.unknown()).optional(),
    duration_ms: z.number().min(0).optional(),
    error: z.string().optional(),
  }),
  log: z.object({
    step: z.string().optional(),
    stream: z.enum(["stdout", "stderr", "system"]),
    text: z.string(),
  }),
  done: z.object({
    reason: z.enum(["end_turn", "max_turns", "max_tokens", "aborted", "completed", "failed", "timeout"]),
    usage: Usage.optional(),
    stop_reason: z.string().nullable().optional(),
    outputs: z.record(z.string(), z.unknown()).optional(),
    /** Why a workflow ended `failed` (a failed step, or the message of `ctx.failure`). */
    message: z.string().optional(),
  }),
  error: z.object({ message: z.string(), code: z.string().optional() }),
} as const;

export type EventType = keyof typeof EventData;
export const EVENT_TYPES = Object.keys(EventData) as EventType[];
export const TERMINAL_EVENTS: ReadonlySet<EventType> = new Set(["done", "error"]);
export type EventDataOf<T extends EventType> = z.infer<(typeof EventData)[T]>;

/** One event as a runner sends it: `seq` starts at 1 and increases by one per workload. */
export const RunnerEvent = z
  .object({
    seq: z.number().int().min(1).max(2_000_000_000),
    type: z.enum(EVENT_TYPES as [EventType, ...EventType[]]),
    data: z.unknown(),
  })
  .transform((e, ctx) => {
    const parsed = EventData[e.type].safeParse(e.data);
    if (!parsed.success) {
      for (const issue of parsed.error.issues)
        ctx.addIssue({ ...issue, path: ["data", ...issue.path] } as never);
      return z.NEVER;
    }
    return { seq: e.seq, type: e.type, data: parsed.data as Record<string, unknown> };
  });
export type RunnerEvent = z.output<typeof RunnerEvent>;

export const MAX_BATCH_EVENTS = 500;
/** `POST /internal/tasks/:id/events` body. */
export const EventBatch = z.object({ events: z.array(RunnerEvent).min(1).max(MAX_BATCH_EVENTS) });
/** Its answer: the highest seq stored, and whether the workload should stop. */
export const EventAck = z.object({ ack: z.number().int().min(0), abort: z.boolean() });
export type EventAck = z.infer<typeof EventAck>;

/** `GET /internal/tasks/:id/abort?wait=<s>` (task token as bearer): whether the workload is aborted. */
export const AbortPoll = z.object({ abort: z.boolean() });
export type AbortPoll = z.infer<typeof AbortPoll>;
/** Longest `wait` of an abort long-poll, in seconds (load balancers allow more; see constructs/k8s/app.ts). */
export const MAX_ABORT_WAIT_SECONDS = 60;

/**
 * A rejected batch: `{error:{code, message, …}}` with its HTTP status. Nothing of a rejected
 * batch is stored. What a runner does with each code:
 * - 409 `seq_gap`: resend from `expected_seq` (events before it are stored).
 * - 409 `workload_ended`: stop; `ack` is the last stored seq (a lost final ack looks like this).
 * - 400/413: a bug in the runner; retrying the same batch cannot succeed.
 * - 401/403/404: the token or workload id is wrong; stop.
 */
export const EventRejection = z.object({
  error: z.object({
    code: z.enum([
      "unauthorized",
      "forbidden",
      "not_found",
      "workload_ended",
      "seq_gap",
      "invalid_batch",
      "invalid_request",
      "malformed_json",
      "payload_too_large",
    ]),
    message: z.string(),
    expected_seq: z.number().int().min(1).optional(),
    ack: z.number().int().min(0).optional(),
  }),
});
export type EventRejection = z.infer<typeof EventRejection>;

/** An event as clients receive it over SSE: `id` is task_events.id. */
export interface StreamEvent<T extends EventType = EventType> {
  id: number;
  workload_id: string;
  seq: number;
  type: T;
  data: EventDataOf<T>;
}

// ---------------------------------------------------------------------------------------------
// Workloads and assignments: what a runner is given to run.

export const ChatPart = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text"), text: z.string() }),
  z.object({ type: z.literal("tool_use"), id: z.string(), name: z.string(), input: z.unknown() }),
  z.object({
    type: z.literal("tool_result"),
    tool_use_id: z.string(),
    content: z.string(),
    is_error: z.boolean().optional(),
  }),
]);
export type ChatPart = z.infer<typeof ChatPart>;
export const ChatMessage = z.object({ role: z.enum(["user", "assistant"]), parts: z.array(ChatPart) });
export type ChatMessage = z.infer<typeof ChatMessage>;

export const RepoRef = z.object({
  owner: z.string(),
  name: z.string(),
  /** Smart-HTTP clone URL on the app; the runner authenticates with its task token. */
  clone_url: z.string(),
  /** The commit to check out; the default branch's head when absent. */
  commit: z
    .string()
    .regex(/^[0-9a-f]{40}$/)
    .optional(),
});

export const Limits = z.object({
  max_turns: z.number().int().min(1).max(200).default(20),
  max_output_tokens: z.number().int().min(1).max(64_000).default(8192),
  wall_time_ms: z
    .number()
    .int()
    .min(1000)
    .max(6 * 3600_000)
    .default(15 * 60_000),
});

export const AgentWorkload = z.object({
  id: z.string().uuid(),
  type: z.literal("agent"),
  session_id: z.string().uuid(),
  repo: RepoRef.optional(),
  model: z.string(),
  system_prompt: z.string().optional(),
  /** The conversation so far, the new user message last. */
  messages: z.array(ChatMessage).min(1),
  limits: Limits,
});

export const WorkflowWorkload = z.object({
  id: z.string().uuid(),
  type: z.literal("workflow"),
  run_id: z.string().uuid(),
  repo: RepoRef,
  model: z.string(),
  /** The plan DAG (app/wire/plan.ts); the runner validates it with that schema. */
  plan: z.unknown(),
  trigger: z.object({ event: z.string(), context: z.record(z.string(), z.unknown()) }),
  /** Steps whose outputs are reused from an earlier run (rerun of failed steps). */
  completed_steps: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
  limits: Limits,
});

export const Workload = z.discriminatedUnion("type", [AgentWorkload, WorkflowWorkload]);
export type Workload = z.infer<typeof Workload>;

/** Everything a runner needs for one workload. Per-task config travels here, never as pod env. */
export const Assignment = z.object({
  workload: Workload,
  /** Bearer token scoped to this workload: events callback and git reads of its repository. */
  token: z.string(),
  /** Absolute URL of `POST /internal/tasks/:id/events`. */
  callback_url: z.string().url(),
  /**
   * Absolute URL of `GET /internal/tasks/:id/abort?wait=<s>`: a long-poll answered `{abort: true}`
   * as soon as the workload is aborted, so a runner waiting on the model stops at once instead of
   * at its next batch. Optional: a runner without it learns from acks and executor signals.
   */
  abort_url: z.string().url().optional(),
  /** Base URL of the app as the runner reaches it. */
  app_url: z.string().url(),
});
export type Assignment = z.infer<typeof Assignment>;

// ---------------------------------------------------------------------------------------------
// Warm pool (DESIGN.md §4): runners pull, because runner pods accept no ingress.

/** `POST /internal/runners/register`, with the pool secret as bearer. */
export const RegisterRequest = z.object({
  /** Unique per runner: the pod's name (Kubernetes) or a generated one (local processes). */
  pod_name: z
    .string()
    .min(1)
    .max(253)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, '.', '_' and '-'"),
  pod_ip: z.string().max(64).optional(),
  /** Set by a runner started for one workload (a cold start): it is handed that workload only. */
  task_id: z.string().uuid().optional(),
});
export type RegisterRequest = z.infer<typeof RegisterRequest>;
export const RegisterResponse = z.object({
  runner_id: z.string().uuid(),
  /** Bearer token for this runner's own pool endpoints; nothing else accepts it. */
  token: z.string(),
  /** Long-poll with `?wait=` this many seconds; heartbeat at least this often while running. */
  poll_seconds: z.number().int().min(1),
});
export type RegisterResponse = z.infer<typeof RegisterResponse>;

/**
 * `GET /internal/runners/:id/assignment?wait=N` (the runner's token): 200 with an `Assignment`,
 * or 204 when none arrived within N seconds; each poll is a heartbeat.
 * `POST /internal/runners/:id/heartbeat` while running → this; `abort` means stop now (the workload
 * was aborted or has ended, or the app gave up on this runner).
 * `DELETE /internal/runners/:id` → 204: the runner leaves the pool (shutdown, or done).
 */
export const RunnerHeartbeat = z.object({
  status: z.enum(["available", "claimed", "terminated"]),
  abort: z.boolean(),
});
export type RunnerHeartbeat = z.infer<typeof RunnerHeartbeat>;

/**
 * A refused pool request: `{error:{code, message}}`. What a runner does with each code:
 * - 401 `unauthorized` (wrong pool secret or runner token), 403 `forbidden` (another runner's
 *   token), 404 `not_found`, 400 `invalid_request`: a configuration error; exit.
 * - 409 `task_taken`: the workload this cold runner was started for is served already; exit 0.
 * - 409 `pod_used`: this pod already ran a workload (pods are single-use); exit.
 * - 410 `runner_terminated`: the app gave up on this runner (silent too long, or it left); exit.
 * - 503 `pool_disabled`: this server keeps no warm pool; exit.
 */
export const PoolRejection = z.object({
  error: z.object({
    code: z.enum([
      "unauthorized",
      "forbidden",
      "not_found",
      "invalid_request",
      "task_taken",
      "pod_used",
      "runner_terminated",
      "pool_disabled",
    ]),
    message: z.string(),
  }),
});
export type PoolRejection = z.infer<typeof PoolRejection>;

/** Runner exit codes: meaningful to executors and to `kubectl get pods`. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  badAssignment: 2,
  aborted: 3,
  timeout: 4,
  callbackUnreachable: 5,
} as const;
