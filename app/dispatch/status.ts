/**
 * "Is this workload still live?" for queries and checks, built from the one list of workload
 * statuses in app/wire/api.ts, so a new status cannot be missed by one of them.
 */
import { LIVE_WORKLOAD_STATUSES } from "../wire/api";

/** The live statuses as an SQL value list, for `status IN …` / `status NOT IN …`. */
export const LIVE_WORKLOAD_SQL = `(${LIVE_WORKLOAD_STATUSES.map((s) => `'${s}'`).join(", ")})`;

/** Whether a workload with this status (null: no workload) has not ended. */
export function isLiveWorkload(status: string | null | undefined): boolean {
  return (LIVE_WORKLOAD_STATUSES as readonly (string | null | undefined)[]).includes(status);
}
