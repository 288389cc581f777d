/**
 * The shape of the ids the platform mints (sessions, workloads, runs, runners: `crypto.randomUUID`).
 * Checked before an id reaches a query, so a malformed one is "not found" without a database
 * round trip (and never a Postgres `invalid input syntax for type uuid`). Shared by the API and
 * the runner-facing endpoints, hence in wire/.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (id: string): boolean => UUID.test(id);
