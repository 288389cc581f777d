/** Every router of the API, in mounting order. Each area adds its own line. */
import type { Router } from "express";
import type { AppContext } from "../compose";
import { branchProtectionsRouter } from "./branch-protections";
import { checksRouter } from "./checks";
import { collaboratorsRouter } from "./collaborators";
import { compareRouter } from "./compare";
import { filesRouter } from "./files";
import { gitHttpRouter } from "./git-http";
import { internalRunnersRouter } from "./internal-runners";
import { internalTasksRouter } from "./internal-tasks";
import { issuesRouter } from "./issues";
import { orgsRouter } from "./orgs";
import { pullEventsRouter } from "./pull-events";
import { pullsRouter } from "./pulls";
import { reposRouter } from "./repos";
import { runsRouter } from "./runs";
import { sessionsRouter } from "./sessions";
import { signinRouter } from "./signin";
import { usersRouter } from "./users";
import { webRouter } from "./web";

export function routers(ctx: AppContext): Router[] {
  return [
    reposRouter(ctx),
    collaboratorsRouter(ctx),
    orgsRouter(ctx),
    filesRouter(ctx),
    gitHttpRouter(ctx),
    sessionsRouter(ctx),
    runsRouter(ctx),
    signinRouter(ctx),
    internalTasksRouter(ctx),
    internalRunnersRouter(ctx),
    usersRouter(ctx),
    compareRouter(ctx),
    issuesRouter(ctx),
    pullsRouter(ctx),
    checksRouter(ctx),
    branchProtectionsRouter(ctx),
    pullEventsRouter(ctx),
    // Last: pages match broad paths (/:owner/:repo/...), so every API and git route wins.
    webRouter(ctx),
  ];
}
