/**
 * Issue, pull request and mention events into workflows, natively: the same trigger path as the
 * webhooks (RunTriggers.trigger), with the `ctx.event` fields the workflow docs promise. Issue
 * events run the workflow files of the default branch's head; pull request events those of the
 * head commit (the head branch is in the same repository: whoever pushed it may write anyway).
 * A workflow that fails to start is logged: it never fails the change that caused the event.
 */
import type { Repository } from "../git/repos";
import type { GitService } from "../git/service";
import type { Logger } from "../log";
import type { TriggerInput } from "../runs/triggers";
import { mentions } from "../runs/triggers";
import type { CreatedRun } from "../wire/api";

/** What starts runs for an event (RunService). */
export interface RunTriggerPort {
  trigger(input: TriggerInput): Promise<CreatedRun[]>;
}

export interface WorkflowEventsDeps {
  readonly git: GitService;
  readonly runs: RunTriggerPort;
  readonly log: Logger;
}

export type IssueAction = "opened" | "edited" | "closed" | "reopened" | "labeled" | "commented";
export type PullAction =
  | "opened"
  | "synchronize"
  | "reopened"
  | "closed"
  | "merged"
  | "edited"
  | "review_submitted";

export interface IssueFacts {
  number: number;
  title: string;
  labels: string[];
  /** Who caused the event. */
  sender?: string;
  /** For `labeled`: the label added; for `commented`: the comment's body. */
  label?: string;
  comment?: string;
}

export interface PullFacts {
  number: number;
  title: string;
  base: string;
  head: string;
  base_sha: string;
  head_sha: string;
  sender?: string;
  /** Paths changed from the merge base to the head (omit when more than the trigger matcher takes). */
  paths?: string[];
  /** For `review_submitted`: approved | changes_requested | commented. */
  review?: string;
}

export class WorkflowEvents {
  constructor(private readonly deps: WorkflowEventsDeps) {}

  async issue(repo: Repository, action: IssueAction, facts: IssueFacts): Promise<CreatedRun[]> {
    const commit = await this.defaultHead(repo);
    if (!commit) return [];
    const event = { kind: "issue" as const, action, ...facts };
    return this.start({ repo, event, commit, ref: `refs/heads/${repo.defaultBranch}` });
  }

  async pull(repo: Repository, action: PullAction, facts: PullFacts): Promise<CreatedRun[]> {
    const event = { kind: "pull_request" as const, action, ...facts };
    return this.start({ repo, event, commit: facts.head_sha, ref: `refs/heads/${facts.head}` });
  }

  /**
   * A `mention` event for each `@handle` in a body written on an issue or pull request (at most
   * five, as in chat), at the default branch's head.
   */
  async mentions(
    repo: Repository,
    body: string,
    where: { number: number; sender?: string },
  ): Promise<CreatedRun[]> {
    const handles = mentions(body);
    if (handles.length === 0) return [];
    const commit = await this.defaultHead(repo);
    if (!commit) return [];
    const ref = `refs/heads/${repo.defaultBranch}`;
    const created: CreatedRun[] = [];
    for (const handle of handles) {
      const event = { kind: "mention" as const, handle, body, ...where };
      created.push(...(await this.start({ repo, event, commit, ref })));
    }
    return created;
  }

  private async defaultHead(repo: Repository): Promise<string | undefined> {
    return this.deps.git.resolveRef(repo, repo.defaultBranch).catch(() => undefined);
  }

  private async start(input: TriggerInput): Promise<CreatedRun[]> {
    try {
      return await this.deps.runs.trigger(input);
    } catch (err) {
      const { kind } = input.event;
      this.deps.log.error(
        { err, repo: `${input.repo.owner}/${input.repo.name}`, event: kind },
        "workflow event failed",
      );
      return [];
    }
  }
}
