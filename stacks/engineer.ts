/**
 * Who may have a staging stack. The name becomes a DNS label (`<engineer>.staging.plue.dev`), part of
 * namespace names and of a Postgres identifier, so it is checked here once, for every path that
 * takes one: `npm run stack:init`, `plue stack …`, and the Pulumi program itself.
 */

export const MAX_ENGINEER_NAME = 20;

/** Names that would collide with shared stacks, hostnames or system namespaces. */
export const RESERVED_ENGINEER_NAMES: ReadonlySet<string> = new Set([
  "base",
  "production",
  "prod",
  "staging",
  "www",
  "api",
  "app",
  "admin",
  "origin",
  "edge",
  "cdn",
  "assets",
  "static",
  "mail",
  "status",
  "docs",
  "plue",
  "default",
  "system",
  "internal",
  "root",
  "test",
]);

const RESERVED_PREFIXES = ["kube-", "gke-", "pulumi-"];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export class InvalidEngineerNameError extends Error {
  constructor(
    readonly engineer: string,
    readonly reason: string,
  ) {
    super(`invalid engineer name "${engineer}": ${reason}`);
    this.name = "InvalidEngineerNameError";
  }
}

/** Returns the name when it may name a staging stack; otherwise throws saying why. */
export function validateEngineerName(name: string): string {
  const fail = (reason: string): never => {
    throw new InvalidEngineerNameError(name, reason);
  };
  if (typeof name !== "string" || name.length === 0) fail("it is empty");
  if (name.length > MAX_ENGINEER_NAME) {
    fail(`it has ${name.length} characters; at most ${MAX_ENGINEER_NAME} are allowed`);
  }
  if (name !== name.toLowerCase()) fail("use lowercase letters only");
  if (!DNS_LABEL.test(name)) {
    fail(
      "use lowercase letters, digits and '-', starting and ending with a letter or digit (a DNS-1123 label)",
    );
  }
  if (/^[0-9]/.test(name)) fail("it must start with a letter (it becomes part of a Postgres identifier)");
  if (RESERVED_ENGINEER_NAMES.has(name)) fail(`"${name}" is reserved`);
  const prefix = RESERVED_PREFIXES.find((p) => name.startsWith(p));
  if (prefix) fail(`names starting with "${prefix}" are reserved`);
  return name;
}
