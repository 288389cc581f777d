/**
 * The composition root: the one place that builds the platform's services, each from the narrow
 * dependencies it declares, and knows the order they stop in. Services never import this module;
 * the HTTP routers are handed what it builds (AppContext). Starting and stopping the process
 * (database, listening, draining) is app/platform.ts.
 */
import os from "node:os";
import { BrowserSessions } from "./auth/browser-sessions";
import { AuthChanges } from "./auth/changes";
import { Permissions } from "./auth/permissions";
import { TokenAuth } from "./auth/tokens";
import { type Config, generatePoolSecret, usesWarmPool } from "./config";
import type { Db } from "./db";
import {
  DEFAULT_DISPATCHER,
  Dispatcher,
  type DispatcherOptions,
  type ExecutorFactory,
} from "./dispatch/dispatcher";
import { loadExecutor } from "./dispatch/executors/index";
import { Recovery } from "./dispatch/recovery";
import { RunnerRegistry } from "./dispatch/registry";
import { workloadForTaskToken } from "./dispatch/tokens";
import { EventHub, type HubOptions } from "./events/hub";
import { DEFAULT_SSE, type SseOptions } from "./events/sse";
import { GitService } from "./git/service";
import { IssueService } from "./issues/service";
import { WorkflowEvents } from "./issues/workflow-events";
import type { Logger } from "./log";
import { Checks } from "./pulls/checks";
import { BranchProtections } from "./pulls/protection";
import { PullService } from "./pulls/service";
import { definitionsOptions } from "./runs/definitions";
import { RunService } from "./runs/service";
import { SessionService } from "./sessions/service";

/** What every router is handed: the configuration, the database, the logger and the services. */
export interface AppContext {
  readonly config: Config;
  readonly db: Db;
  readonly log: Logger;
  /** The URL clients (and runners) reach this server at: PLUE_PUBLIC_URL, else where it listens. */
  readonly publicUrl: () => string;
  /** Repositories, file reads through the cat-file pool, and push events (app/git). */
  readonly git: GitService;
  /** Live fan-out of the event log (app/events). */
  readonly events: EventHub;
  /** Workloads: creation, task tokens, runner callbacks, abort (app/dispatch). */
  readonly dispatcher: Dispatcher;
  /** The warm pool's runner registry (app/dispatch/registry.ts), behind /internal/runners. */
  readonly runners: RunnerRegistry;
  /** Agent sessions (app/sessions). */
  readonly sessions: SessionService;
  /** Workflow runs: triggers, folding, cancel, rerun (app/runs). */
  readonly runs: RunService;
  /** Cached authorization facts and their invalidation on every replica (app/auth/changes.ts). */
  readonly auth: AuthChanges;
  /** The cached token lookup of every request, API and git (app/auth/tokens.ts). */
  readonly tokens: TokenAuth;
  /** Browser sign-ins (the session cookie), cached like tokens (app/auth/browser-sessions.ts). */
  readonly browserSessions: BrowserSessions;
  /** Who may do what to a repository (app/auth/permissions.ts): every route and service asks it. */
  readonly permissions: Permissions;
  /** Issue, pull request and mention events into workflows (app/issues/workflow-events.ts). */
  readonly workflowEvents: WorkflowEvents;
  /** Issues, labels, comments, reactions, the timeline and `#N` references (app/issues/service.ts). */
  readonly issues: IssueService;
  /** Pull requests: diff, reviews, line comments, sync on push, merging (app/pulls). */
  readonly pulls: PullService;
  /** A commit's checks (runs, statuses, skips) and commit statuses (app/pulls/checks.ts). */
  readonly checks: Checks;
  /** Branch protection rules, merge blockers, and the push rules of git-http (app/pulls/protection.ts). */
  readonly protections: BranchProtections;
  /** Heartbeat, retry hint and slow-client bound of SSE streams. */
  readonly sse: SseOptions;
}

/** What tests and benchmarks choose instead of the defaults. */
export interface ServiceOptions {
  /** The executor; by default the one RUNNER_MODE names (dispatch/executors/index.ts). */
  executor?: ExecutorFactory;
  sse?: Partial<SseOptions>;
  dispatcher?: Partial<DispatcherOptions>;
  hub?: Partial<HubOptions>;
}

export interface Composition {
  readonly ctx: AppContext;
  /** Finds and ends what a dead server left; the platform starts it once it listens. */
  readonly recovery: Recovery;
  /** Stops every service, in the order that lets each drain (see below). */
  shutdown(): Promise<void>;
}

export async function compose(
  base: Pick<AppContext, "config" | "db" | "log" | "publicUrl">,
  options: ServiceOptions = {},
): Promise<Composition> {
  const { config, db, log, publicUrl } = base;
  const hub = new EventHub(db, log, { pollMs: 5_000, ...options.hub });
  const auth = new AuthChanges(db);
  const tokens = new TokenAuth(db, auth);
  const browserSessions = new BrowserSessions({ db, auth });
  const permissions = new Permissions(db, auth);
  const git = new GitService({ db, dataDir: config.dataDir, log, auth, tokens });
  // Runners clone their workload's repository with their task token (and nothing else).
  git.setTaskTokenResolver(async (token) => {
    const grant = await workloadForTaskToken(db, token);
    return grant?.repoId != null ? { repoId: grant.repoId } : undefined;
  });
  const runners = new RunnerRegistry(
    { db, log },
    {
      // Without a warm pool the registry refuses every runner; its seal still needs a secret.
      secret: config.PLUE_POOL_SECRET ?? generatePoolSecret(),
      pollSeconds: config.PLUE_RUNNER_POLL_SECONDS,
      enabled: usesWarmPool(config),
    },
  );
  const executor = options.executor ?? (await loadExecutor({ config, log, runners, publicUrl }));
  const dispatcher = new Dispatcher({ db, log, publicUrl }, hub, executor, {
    ...DEFAULT_DISPATCHER,
    ...options.dispatcher,
  });
  const model = config.PLUE_MODEL;
  const evaluation = definitionsOptions(config);
  const runs = new RunService({ db, log, git, hub, dispatcher, permissions, publicUrl, model, evaluation });
  // Pushes start workflow runs (webhooks and the API call the same service).
  const stopPushes = runs.subscribeToPushes();
  const workflowEvents = new WorkflowEvents({ git, runs, log });
  const issues = new IssueService({ db, log, git, permissions, workflowEvents, events: hub });
  // Pushed commits close (default branch) and reference issues; stopping waits for what is under way.
  const stopIssuePushes = issues.subscribeToPushes();
  const checks = new Checks({ db, git, hub });
  const protections = new BranchProtections({ db, checks });
  const pulls = new PullService({
    db,
    log,
    git,
    events: hub,
    workflowEvents,
    issues,
    protection: protections,
  });
  // Pushes to head and base branches move open pull requests (app/pulls/sync.ts).
  const stopPullSync = pulls.sync.start();
  const sessions = new SessionService({
    ...{ db, log, hub, dispatcher, permissions, publicUrl, model },
    workflows: runs,
  });
  const recovery = new Recovery(
    { db, log: log.child({ component: "recovery" }), dispatcher, runners },
    {
      intervalMs: config.PLUE_REAPER_INTERVAL_MS ?? 5_000,
      leaseSeconds: config.PLUE_INSTANCE_LEASE_SECONDS,
      dirs: [config.PLUE_WORKSPACE ?? os.tmpdir(), os.tmpdir()],
    },
  );

  // In this order: issues finish what pushes and changes started, pushes start no more runs (and
  // the evaluation workers stop), git's processes end, streams end, the executor stops its
  // runners, runners' long-polls end (they poll elsewhere), and last this instance's row goes,
  // once its workloads have ended.
  const stops: Array<() => Promise<void> | void> = [
    stopIssuePushes,
    stopPushes,
    stopPullSync,
    () => pulls.sync.idle(),
    () => git.close(),
    () => hub.close(),
    () => dispatcher.close(),
    () => runners.close(),
    () => recovery.stop(),
    () => auth.close(),
  ];
  const sse = { ...DEFAULT_SSE, ...options.sse };
  return {
    ctx: {
      config,
      db,
      log,
      publicUrl,
      auth,
      tokens,
      browserSessions,
      permissions,
      git,
      events: hub,
      dispatcher,
      runners,
      sessions,
      runs,
      workflowEvents,
      issues,
      pulls,
      checks,
      protections,
      sse,
    },
    recovery,
    async shutdown() {
      for (const stop of stops) {
        try {
          await stop();
        } catch (err) {
          log.error({ err }, "shutdown hook failed");
        }
      }
    },
  };
}
