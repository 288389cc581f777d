/**
 * The budgets of one evaluation phase (loading a file, or building one plan): the limits, the shared
 * deadline of an event, and the meter that charges steps, allocation and wall time as evaluation goes.
 * Whatever a program does, running out of one is a positioned error, never a hang.
 */
import { ScriptError } from "./errors";

export type Limits = {
  /** Statements and expressions evaluated, per phase (load, or one plan). */
  maxSteps: number;
  /** Wall time per phase. */
  maxMillis: number;
  maxStringLength: number;
  maxListLength: number;
  /** Characters and items created in total, per phase. */
  maxAllocation: number;
  /** Syntax nesting (brackets, blocks). */
  maxDepth: number;
  /** Nested function calls. */
  maxCallDepth: number;
  maxSourceBytes: number;
  /** `@workflow`s one file may define (PLUE_WORKFLOWS_PER_FILE). */
  maxWorkflows: number;
};

/**
 * The deadline of everything one event evaluates (all of a push's files together): `at` is an epoch
 * time in ms (Date.now(), comparable across threads), `ms` the budget it was computed from.
 */
export type Deadline = { at: number; ms: number };

export function deadlineMessage(d: Deadline): string {
  return `evaluating the workflow files of this event took longer than the limit of ${d.ms} ms for all files together (PLUE_WORKFLOW_DEADLINE_MS)`;
}

export const DEFAULT_LIMITS: Limits = {
  maxSteps: 100_000,
  maxMillis: 1_000,
  maxStringLength: 1_000_000,
  maxListLength: 10_000,
  maxAllocation: 20_000_000,
  maxDepth: 100,
  maxCallDepth: 32,
  maxSourceBytes: 256 * 1024,
  maxWorkflows: 20,
};

/** Thrown for an exhausted wall-time budget: unlike other errors it depends on the machine, not the file. */
export class TimeBudgetError extends ScriptError {}

/** Charges one phase's steps, allocation and time; the evaluator is one (interpreter.ts). */
export class Budget {
  private steps = 0;
  private allocated = 0;
  private readonly deadline: number;
  private readonly timeMessage: string;

  constructor(
    readonly limits: Limits,
    overall?: Deadline,
  ) {
    const now = performance.now();
    this.deadline = now + limits.maxMillis;
    this.timeMessage = `evaluation took longer than ${limits.maxMillis} ms`;
    if (overall && now + (overall.at - Date.now()) < this.deadline) {
      this.deadline = now + (overall.at - Date.now());
      this.timeMessage = deadlineMessage(overall);
    }
  }

  tick(at: number): void {
    this.steps++;
    if (this.steps > this.limits.maxSteps) {
      throw new ScriptError(
        `evaluation took more than ${this.limits.maxSteps} steps (is a loop too long?)`,
        at,
      );
    }
    if ((this.steps & 15) === 0 && performance.now() > this.deadline) {
      throw new TimeBudgetError(this.timeMessage, at);
    }
  }

  private alloc(n: number, at: number): void {
    this.allocated += n;
    if (this.allocated > this.limits.maxAllocation) {
      throw new ScriptError(
        `evaluation created more than ${this.limits.maxAllocation} characters and items`,
        at,
      );
    }
  }

  /** Call before building a string of `length` characters. */
  checkString(length: number, at: number): void {
    if (length > this.limits.maxStringLength) {
      throw new ScriptError(
        `a string of ${length} characters is over the limit of ${this.limits.maxStringLength}`,
        at,
      );
    }
    this.alloc(length, at);
  }

  /** Call before building a list, tuple or dict of `length` items. */
  checkList(length: number, at: number): void {
    if (length > this.limits.maxListLength) {
      throw new ScriptError(
        `a collection of ${length} items is over the limit of ${this.limits.maxListLength}`,
        at,
      );
    }
    this.alloc(length, at);
  }

  /** `s`, once its length is checked and counted. */
  string(s: string, at: number): string {
    this.checkString(s.length, at);
    return s;
  }
}
