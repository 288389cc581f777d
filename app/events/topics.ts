/**
 * Every name a replica signals another by, in one place: the database NOTIFY channels, and the
 * topics of the event hub's channel. Reaching every replica is what NOTIFY does on Postgres (on
 * PGlite an in-process emitter); two writers that spell a name differently would never meet, so
 * nobody spells one outside this module.
 */

/** The event hub's channel; its payload is one of the topics below. */
export const EVENTS_CHANNEL = "plue_events";
/** Payload: a workload id. An abort taken by one replica reaches the executor of every other. */
export const ABORT_CHANNEL = "plue_workload_abort";
/** Payload: a ClaimEvent (JSON). Wakes the claimed runner's long-poll on whichever replica holds it. */
export const CLAIMED_CHANNEL = "plue_runner_claimed";
/** Payload: the workload id. Wakes one waiting runner to take it from the queue. */
export const QUEUED_CHANNEL = "plue_runner_queued";

/** New events of a workload were stored. */
export const workloadTopic = (workloadId: string) => `w:${workloadId}`;
/** A session has a new run (workload). */
export const sessionTopic = (sessionId: string) => `s:${sessionId}`;
/** A workflow run got its workload or ended. */
export const runTopic = (runId: string) => `r:${runId}`;
/** A pull request, its reviews or comments changed (its page reads them again). */
export const pullTopic = (repoId: number, number: number) => `p:${repoId}:${number}`;
/** A check of a commit changed: a run at it was created or ended, or a status was posted. */
export const checksTopic = (repoId: number, sha: string) => `c:${repoId}:${sha}`;

/**
 * Payload: an auth tag (app/auth/changes.ts: `user:<id>`, `repo:<id>`, `token:<id>`, `*`). Something a
 * cached authorization depends on changed: every replica drops what it cached under that tag.
 */
export const AUTH_CHANNEL = "plue_auth_changed";
