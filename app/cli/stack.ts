/**
 * `plue stack <verb> <engineer>`: per-engineer staging stacks.
 *
 *   init <engineer>       write Pulumi.staging-<engineer>.yaml with defaults (no CLI or cloud needed)
 *   preview|up <engineer> run `pulumi preview|up` on staging-<engineer> with the policy pack
 *   destroy <engineer>    run `pulumi destroy` on staging-<engineer>
 *   logs <engineer>       follow the engineer's API logs (`kubectl logs`)
 *
 * Listing idle stacks for expiry is a later task; its rule is `idleStacks` in stacks/idle.ts.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { API_NAME } from "../../constructs/k8s/labels";
import { InvalidEngineerNameError, validateEngineerName } from "../../stacks/engineer";
import { writeEngineerStackFile } from "../../stacks/files";
import { engineerStackName } from "../../stacks/kind";
import { engineerEnvironment, STAGING_CLUSTER } from "../../stacks/names";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

const USAGE = `usage:
  plue stack init <engineer> [--dir <repo>]   write Pulumi.staging-<engineer>.yaml
  plue stack preview <engineer>               pulumi preview with the policy pack
  plue stack up <engineer>                    pulumi up with the policy pack
  plue stack destroy <engineer>               pulumi destroy
  plue stack logs <engineer>                  follow the API's logs (kubectl)
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
  const { stack, file } = writeEngineerStackFile(path.resolve(dir), engineer);
  process.stdout.write(
    `wrote ${path.relative(process.cwd(), file) || file}\n` +
      `next: pulumi stack init ${stack} && plue stack up ${engineer}\n` +
      `      (offline: npm run synth -- --stack ${stack})\n`,
  );
  return 0;
}

class UsageError extends Error {}

export async function main(argv: string[]): Promise<number> {
  const [verb, engineer, ...rest] = argv;
  if (!verb || verb === "help" || verb === "--help") {
    process.stdout.write(USAGE);
    return verb ? 0 : 2;
  }
  try {
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
