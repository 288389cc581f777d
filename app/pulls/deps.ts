/**
 * What the pull request area takes from the rest of the platform (built in app/compose.ts), in
 * one narrow interface the service, reviews, line comments, sync and merge share. Issues and
 * branch protection are optional: without them references are not applied and nothing but git
 * blocks a merge (tests and the order the areas land in).
 */
import type { User } from "../auth/tokens";
import type { Db } from "../db";
import type { Repository } from "../git/repos";
import type { GitService } from "../git/service";
import type { WorkflowEvents } from "../issues/workflow-events";
import type { Logger } from "../log";

/** `#N` references in a pull request's text (IssueService.applyReferences). */
export interface ReferencePort {
  applyReferences(
    repo: Repository,
    text: string,
    source: { pull: number },
    actor: User,
    options: { close: boolean },
  ): Promise<unknown>;
}

/** Branch rules (app/pulls/protection.ts BranchProtections). */
export interface ProtectionPort {
  mergeBlockers(
    repo: Repository,
    pull: { issueId: number; base: string; headSha: string; authorId: number | null },
  ): Promise<string[]>;
  ruleFor(repo: Repository, branch: string): Promise<{ dismiss_stale_approvals: boolean } | null | undefined>;
}

export interface PullDeps {
  readonly db: Db;
  readonly log: Logger;
  readonly git: Pick<GitService, "repos" | "resolveRef" | "recordPush" | "onPush">;
  readonly events: { signal(topic: string): Promise<void> };
  readonly workflowEvents: Pick<WorkflowEvents, "pull" | "mentions">;
  readonly issues?: ReferencePort;
  readonly protection?: ProtectionPort;
}
