/** Names derived from a stack, kept free of Pulumi imports so the CLI can use them cheaply. */

export const STAGING_DOMAIN = "staging.plue.dev";
export const PRODUCTION_DOMAIN = "plue.dev";
export const STAGING_CLUSTER = "plue-staging";
export const PRODUCTION_CLUSTER = "plue-production";

/** One engineer's namespace, hostname and database (the engineer name is already validated). */
export function engineerEnvironment(engineer: string) {
  return {
    namespace: `plue-${engineer}`,
    host: `${engineer}.${STAGING_DOMAIN}`,
    // Postgres identifiers cannot contain '-'.
    database: `plue_${engineer.replaceAll("-", "_")}`,
  };
}
