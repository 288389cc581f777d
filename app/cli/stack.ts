/**
 * `plue stack <verb> <engineer>`: per-engineer staging stacks.
 *
 *   init <engineer>       write Pulumi.staging-<engineer>.yaml with defaults (no CLI or cloud needed)
 *   preview|up <engineer> run `pulumi preview|up` on staging-<engineer> with the policy pack
 *   destroy <engineer>    run `pulumi destroy` on staging-<engineer>
 *   logs <engineer>       follow the engineer's API logs (`kubectl logs`)
 *   idle [--ttl 7d] [--destroy]
 *                         list engineer stacks not updated within the TTL; destroy them too
 *
 * Per-engineer stacks with cleanup, without a paid service: `idle` reads `pulumi stack ls --json`
 * and applies the rule `idleStacks` (stacks/idle.ts).
 */
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { API_NAME } from "../../constructs/k8s/labels";
import { InvalidEngineerNameError, validateEngineerName } from "../../stacks/engineer";
import { writeEngineerStackFile } from "../../stacks/files";
import { idleStacks, type StackSummary } from "../../stacks/idle";
import { engineerStackName } from "../../stacks/kind";
import { engineerEnvironment, STAGING_CLUSTER } from "../../stacks/names";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

const USAGE = `usage:
  plue stack init <engineer> [--dir <repo>]   write Pulumi.staging-<engineer>.yaml
  plue stack preview <engineer>               pulumi preview with the policy pack
  plue stack up <engineer>                    pulumi up with the policy pack
  plue stack destroy <engineer>               pulumi destroy
  plue stack logs <engineer>                  follow the API's logs (kubectl)
  plue stack idle [--ttl 7d] [--destroy]      engineer stacks idle past the TTL (and destroy them)
`;

const INSTALL = {
  pulumi: "install it from https://www.pulumi.com/docs/install/",
  kubectl: "install it with `gcloud components install kubectl` (and gke-gcloud-auth-plugin)",
} as const;

/** The absolute path of an executable on PATH, or undefined. */
export function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

function run(tool: keyof typeof INSTALL, args: string[], hint: string): Promise<number> {
  const exe = findExecutable(tool);
  if (!exe) {
    process.stderr.write(`plue stack: the ${tool} CLI is not on PATH; ${INSTALL[tool]}.\n${hint}\n`);
    return Promise.resolve(127);
  }
  return new Promise((resolve) => {
    const child = spawn(exe, args, { cwd: ROOT, stdio: "inherit" });
    child.on("error", (err) => {
      process.stderr.write(`plue stack: ${tool} failed to start: ${err.message}\n`);
      resolve(1);
    });
    child.on("close", (code) => resolve(code ?? 1));
  });
}

function init(engineer: string, rest: string[]): number {
  const dirAt = rest.indexOf("--dir");
  const dir = dirAt >= 0 ? rest[dirAt + 1] : ROOT;
  if (!dir) throw new UsageError("--dir needs a path");
  const existing = path.join(path.resolve(dir), `Pulumi.${engineerStackName(engineer)}.yaml`);
  if (existsSync(existing)) {
    // Re-running init is safe: the engineer's edits are kept, never overwritten.
    process.stdout.write(
      `${path.relative(process.cwd(), existing) || existing} already exists; kept as it is\n`,
    );
    return 0;
  }
  const { stack, file } = writeEngineerStackFile(path.resolve(dir), engineer);
  process.stdout.write(
    `wrote ${path.relative(process.cwd(), file) || file}\n` +
      `next: pulumi stack init ${stack} && plue stack up ${engineer}\n` +
      `      (offline: npm run synth -- --stack ${stack})\n`,
  );
  return 0;
}

class UsageError extends Error {}

const DURATION = /^(\d+)(h|d|w)$/;
const UNIT_MS = { h: 3600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;

export function parseTtl(value: string): number {
  const m = DURATION.exec(value);
  if (!m) throw new UsageError(`--ttl "${value}": expected a duration such as 12h, 7d or 2w`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

function pulumiJson(args: string[]): Promise<unknown> {
  const exe = findExecutable("pulumi");
  if (!exe) return Promise.reject(new Error(`the pulumi CLI is not on PATH; ${INSTALL.pulumi}`));
  return new Promise((resolve, reject) =>
    execFile(exe, args, { cwd: ROOT, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`pulumi ${args.join(" ")} failed: ${stderr.trim() || err.message}`));
      try {
        resolve(JSON.parse(stdout));
      } catch {
        reject(new Error(`pulumi ${args.join(" ")} did not print JSON`));
      }
    }),
  );
}

/** `plue stack idle`: the TTL sweep. Lists by default; `--destroy` destroys and removes each. */
async function idle(args: string[]): Promise<number> {
  const ttlAt = args.indexOf("--ttl");
  const ttl = parseTtl(ttlAt >= 0 ? (args[ttlAt + 1] ?? "") : "7d");
  const listed = (await pulumiJson(["stack", "ls", "--all", "--json"])) as Array<{
    name: string;
    lastUpdate?: string;
  }>;
  const stale: StackSummary[] = idleStacks(listed, ttl, new Date());
  if (stale.length === 0) {
    process.stdout.write("no engineer stack is idle past the TTL\n");
    return 0;
  }
  for (const s of stale) process.stdout.write(`${s.name}\tlast update ${s.lastUpdate ?? "never"}\n`);
  if (!args.includes("--destroy")) {
    process.stdout.write(`${stale.length} idle; run again with --destroy to destroy and remove them\n`);
    return 0;
  }
  let failed = 0;
  for (const s of stale) {
    const code = await run("pulumi", ["destroy", "--yes", "--remove", "--stack", s.name], "");
    if (code !== 0) failed++;
  }
  return failed === 0 ? 0 : 1;
}

export async function main(argv: string[]): Promise<number> {
  const [verb, engineer, ...rest] = argv;
  if (!verb || verb === "help" || verb === "--help") {
    process.stdout.write(USAGE);
    return verb ? 0 : 2;
  }
  try {
    if (verb === "idle") return await idle(argv.slice(1));
    if (!engineer) throw new UsageError(`plue stack ${verb}: which engineer?`);
    validateEngineerName(engineer);
    const stack = engineerStackName(engineer);
    const offline = `Offline, \`npm run synth -- --stack ${stack}\` shows what would be deployed.`;
    switch (verb) {
      case "init":
        return init(engineer, rest);
      case "preview":
      case "up":
        return await run("pulumi", [verb, "--stack", stack, "--policy-pack", "policies", ...rest], offline);
      case "destroy":
        return await run("pulumi", ["destroy", "--stack", stack, ...rest], offline);
      case "logs":
        return await run(
          "kubectl",
          [
            "logs",
            "--namespace",
            engineerEnvironment(engineer).namespace,
            `deployment/${API_NAME}`,
            "--follow",
            ...rest,
          ],
          `Get cluster credentials first: gcloud container clusters get-credentials ${STAGING_CLUSTER}.`,
        );
      default:
        throw new UsageError(`plue stack: unknown verb "${verb}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof InvalidEngineerNameError) {
      process.stderr.write(`plue stack: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`plue stack: ${(err as Error).message}\n`);
    return 1;
  }
}
