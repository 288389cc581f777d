/**
 * Builds the agent-session services of one replica: the event hub, the dispatcher with its
 * executor, and the session service; registers their shutdown (streams end first, then runners).
 */
import type { AppContext } from "../context";
import {
  DEFAULT_DISPATCHER,
  Dispatcher,
  type DispatcherOptions,
  type ExecutorFactory,
} from "../dispatch/dispatcher";
import { NoExecutor } from "../dispatch/executors/no-executor";
import { EventHub, type HubOptions } from "../events/hub";
import { DEFAULT_SSE, type SseOptions } from "../events/sse";
import { SessionService } from "./service";

export interface AgentServiceOptions {
  /** Chooses the executor; without one, every workload fails with "no executor configured". */
  executor?: ExecutorFactory;
  sse?: Partial<SseOptions>;
  dispatcher?: Partial<DispatcherOptions>;
  hub?: Partial<HubOptions>;
}

export function createAgentServices(
  ctx: Pick<AppContext, "config" | "db" | "log">,
  onShutdown: (hook: () => Promise<void> | void) => void,
  options: AgentServiceOptions = {},
): Pick<AppContext, "events" | "dispatcher" | "sessions" | "sse"> {
  const events = new EventHub(ctx.db, ctx.log, { pollMs: 5_000, ...options.hub });
  const executor = options.executor ?? (() => new NoExecutor());
  const dispatcher = new Dispatcher(ctx, events, executor, { ...DEFAULT_DISPATCHER, ...options.dispatcher });
  const sessions = new SessionService(ctx, events, dispatcher);
  // Hooks run in reverse: streams end first, then the executor stops its runners.
  onShutdown(() => dispatcher.close());
  onShutdown(() => events.close());
  return { events, dispatcher, sessions, sse: { ...DEFAULT_SSE, ...options.sse } };
}
