/**
 * Everything one event evaluates, as one call with plain data in and out: the workflow files' text
 * and prompts in, each file's headers (or errors) and the plans of the workflows the event triggers
 * out. This is what crosses the worker boundary (pool.ts → worker.ts); nothing here holds on to
 * interpreter state.
 */
import type { Plan } from "../wire/plan";
import type { Deadline, Limits } from "./budget";
import type { WorkflowCache } from "./cache";
import type { Failure, PlanOutcome } from "./evaluate";
import type { WorkflowEvent, WorkflowEventInput } from "./events";
import type { WorkflowHeader } from "./plue";
import { matchTriggers } from "./triggers";

export type SourceFile = { path: string; blobId: string; source: string };

/** A loaded file as data: its workflows' headers, or why it did not load. */
export type HeaderResult = { ok: true; workflows: WorkflowHeader[] } | Failure;

/** One workflow evaluated for the event (`event` is the event as its trigger matched it). */
export type PlanResult = { name: string; event: WorkflowEvent; outcome: PlanOutcome };

export type FileOutcome = { path: string; blobId: string; result: HeaderResult; plans: PlanResult[] };

export type BatchRequest = {
  files: SourceFile[];
  /** `.plue/prompts/<name>.md` by name (a Map: a name like `constructor` must not reach Object's). */
  prompts: Map<string, string>;
  /** Plans for the workflows this event triggers; without one, headers only. */
  event?: WorkflowEventInput;
  /**
   * One workflow by name (in any file, or in `path`). `match: false` plans it for `event` without
   * matching its triggers (the rerun of a run whose file did not load before).
   */
  only?: { workflow: string; path?: string; match?: boolean };
  /**
   * A push without `paths`: when a loaded workflow filters by path, stop after loading and answer
   * `pathsNeeded` (the caller computes the changed paths and asks again).
   */
  stopIfPathsNeeded?: boolean;
  deadline: Deadline;
  limits?: Partial<Limits>;
};

export type BatchResponse = { files: FileOutcome[]; pathsNeeded?: boolean };

/** Whether a workflow filters pushes by path (then the event needs its changed paths). */
export function filtersByPath(workflows: readonly WorkflowHeader[]): boolean {
  return workflows.some((w) => w.triggers.some((t) => t.kind === "push" && t.paths));
}

/** Evaluates a batch with `cache` (one per worker: its LoadedFiles never leave the thread). */
export function evaluateBatch(req: BatchRequest, cache: WorkflowCache): BatchResponse {
  const loaded = req.files.map((f) => ({
    file: f,
    result: cache.load(
      f.blobId,
      { path: f.path, source: f.source, readPrompt: (name) => req.prompts.get(name) },
      req.deadline,
    ),
  }));
  const headers = (r: (typeof loaded)[number]["result"]): HeaderResult =>
    r.ok ? { ok: true, workflows: [...r.file.workflows] } : r;
  const event = req.event;
  const pathsNeeded =
    req.stopIfPathsNeeded === true &&
    event?.kind === "push" &&
    !event.paths &&
    loaded.some(({ result }) => result.ok && filtersByPath(result.file.workflows));
  const files = loaded.map(({ file, result }): FileOutcome => {
    const plans: PlanResult[] = [];
    if (result.ok && event && !pathsNeeded && (!req.only?.path || req.only.path === file.path)) {
      for (const w of result.file.workflows) {
        if (req.only && w.name !== req.only.workflow) continue;
        if (req.only?.match === false) {
          plans.push({ name: w.name, event: event as WorkflowEvent, outcome: safePlan(w.name, event) });
          continue;
        }
        const match = matchTriggers(w, event);
        if (match.matched)
          plans.push({ name: w.name, event: match.event, outcome: safePlan(w.name, match.event) });
      }
    }
    return { path: file.path, blobId: file.blobId, result: headers(result), plans };

    function safePlan(name: string, ev: WorkflowEventInput): PlanOutcome {
      if (!result.ok) throw new Error("unreachable");
      try {
        return result.file.plan(name, ev, req.deadline);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        const at = result.file.workflows.find((w) => w.name === name)?.source ?? { line: 1, col: 1 };
        return { ok: false, errors: [{ path: file.path, line: at.line, col: at.col, message }] };
      }
    }
  });
  return pathsNeeded ? { files, pathsNeeded } : { files };
}

/** The plans of a response's files, for callers that only want plans (tests, the bench). */
export function plansOf(res: BatchResponse): Plan[] {
  return res.files.flatMap((f) => f.plans.flatMap((p) => (p.outcome.ok ? [p.outcome.plan] : [])));
}
