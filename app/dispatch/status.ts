/**
 * The statuses of a workload, written once: every query and check that asks "is it still live?"
 * uses these, so a new status cannot be missed by one of them.
 *
 * pending → running (first events) → aborting (abort requested) → succeeded | failed | aborted.
 */

/** The statuses of a workload that has not ended: it holds a task token and may still run. */
export const LIVE_WORKLOAD_STATUSES = ["pending", "running", "aborting"] as const;

/** The same list as an SQL value list, for `status IN …` / `status NOT IN …`. */
export const LIVE_WORKLOAD_SQL = `(${LIVE_WORKLOAD_STATUSES.map((s) => `'${s}'`).join(", ")})`;

export type LiveWorkloadStatus = (typeof LIVE_WORKLOAD_STATUSES)[number];
/** How a workload ended. */
export type EndStatus = "succeeded" | "failed" | "aborted";
export type WorkloadStatus = LiveWorkloadStatus | EndStatus;

/** Whether a workload with this status (null: no workload) has not ended. */
export function isLiveWorkload(status: string | null | undefined): boolean {
  return (LIVE_WORKLOAD_STATUSES as readonly (string | null | undefined)[]).includes(status);
}
