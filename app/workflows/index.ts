/**
 * Workflows: `.plue/workflows/*.py` in a restricted Python dialect → validated plan DAGs.
 *
 * Typical use when an event arrives (push, pull request, issue, dispatch, chat, mention):
 *
 *   const loaded = cache.load(blobId, { path, source, readPrompt });   // phase 1: headers
 *   if (!loaded.ok) → a failed run showing loaded.errors.map(formatError)
 *   for (const { name, outcome } of loaded.file.plansFor(event))      // match + phase 2
 *     outcome.ok ? create a run with outcome.plan : a failed run showing outcome.errors
 *
 * `loaded.file.workflows` (name, triggers, timeout, concurrency) is what `workflow_definitions` stores;
 * `matchTriggers(header, event)` decides without evaluating any workflow body.
 */
export {
  type Concurrency,
  PLAN_LIMITS,
  PLAN_VERSION,
  type Plan,
  PlanSchema,
  type PlanValue,
  type Step,
  stepOutputs,
  type Trigger,
} from "../wire/plan";
export { validatePlan } from "../wire/plan-check";
export { DEFAULT_LIMITS, type Limits } from "./budget";
export { LruCache, WorkflowCache } from "./cache";
export { formatError, type WorkflowError } from "./errors";
export {
  type EvaluateInput,
  type EvaluateOptions,
  type EvaluateResult,
  evaluateWorkflow,
  type Failure,
  LoadedFile,
  type LoadResult,
  loadWorkflows,
  type PlanOutcome,
  type WorkflowFile,
} from "./evaluate";
export {
  branchName,
  sampleEvent,
  sampleEventOfKind,
  splitRef,
  type WorkflowEvent,
  type WorkflowEventInput,
  WorkflowEventSchema,
} from "./events";
export { matchGlob, matchPatterns } from "./glob";
export type { WorkflowHeader } from "./plue";
export { parsePrompt, promptPath } from "./prompts";
export { matchTriggers, type TriggerMatch } from "./triggers";

/** Where workflow files and prompts live in a repository. */
export const WORKFLOWS_DIR = ".plue/workflows";
export const PROMPTS_DIR = ".plue/prompts";
