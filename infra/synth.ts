/**
 * Offline synth: `npm run synth -- --stack <name>` or `--all`.
 *
 * Runs the Pulumi program for each stack under Pulumi's mocks (no CLI, no credentials), writes
 * dist/synth/<stack>/, validates every Kubernetes object, runs every policy, prints a summary and
 * exits 1 on any violation or invalid object (2 when a stack could not be synthesised at all).
 * Stacks run one after another in this process (Pulumi's mocks are global state, so never two at
 * once; the modules load once, which is most of the cost). staging-base goes first: engineer
 * stacks read its outputs.
 */
import { existsSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { listStacks } from "../stacks/files";
import { BASE_STACK, stackKind } from "../stacks/kind";
import type { StackReport } from "./synth-stack";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const USAGE = `usage: npm run synth -- (--all | --stack <name> …) [--out <dir>] [--config <ns:key>=<value> …]`;

export interface SynthArgs {
  readonly stacks: string[];
  readonly all: boolean;
  readonly out: string;
  readonly overrides: Record<string, string>;
}

export function parseSynthArgs(argv: readonly string[]): SynthArgs {
  const stacks: string[] = [];
  const overrides: Record<string, string> = {};
  let all = false;
  let out = path.join(ROOT, "dist", "synth");
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === "--all") all = true;
    else if (arg === "--stack") stacks.push(value());
    else if (arg === "--out") out = path.resolve(value());
    else if (arg === "--config") {
      const [key, ...rest] = value().split("=");
      if (!key?.includes(":") || rest.length === 0)
        throw new Error(`--config expects <namespace:key>=<value>`);
      overrides[key] = rest.join("=");
    } else throw new Error(`unknown argument "${arg}"\n${USAGE}`);
  }
  if (!all && stacks.length === 0) throw new Error(USAGE);
  return { stacks, all, out, overrides };
}

/** Which stacks to run, in order: staging-base first when an engineer stack needs its outputs. */
export function plan(args: SynthArgs, available: readonly string[]): string[] {
  const wanted = args.all ? [...available] : args.stacks;
  for (const s of wanted) {
    stackKind(s);
    if (!available.includes(s)) throw new Error(`no Pulumi.${s}.yaml; stacks here: ${available.join(", ")}`);
  }
  const needsBase = wanted.some((s) => stackKind(s).kind === "staging-engineer");
  const haveBase = existsSync(path.join(args.out, BASE_STACK, "outputs.json"));
  const order =
    needsBase && !wanted.includes(BASE_STACK) && !haveBase ? [BASE_STACK, ...wanted] : [...wanted];
  return order.sort((a, b) => Number(b === BASE_STACK) - Number(a === BASE_STACK));
}

interface StackResult {
  readonly stack: string;
  readonly report?: StackReport;
  readonly error?: string;
}

async function runAll(order: string[], args: SynthArgs): Promise<StackResult[]> {
  // Loaded here, after the arguments are known good: it pulls in Pulumi and every provider SDK.
  const { synthStack } = await import("./synth-stack");
  const results: StackResult[] = [];
  for (const stack of order) {
    rmSync(path.join(args.out, stack), { recursive: true, force: true });
    const baseFailed = results.some((r) => r.stack === BASE_STACK && r.error);
    if (baseFailed && stackKind(stack).kind === "staging-engineer") {
      results.push({ stack, error: `not run: ${BASE_STACK} failed` });
      continue;
    }
    try {
      results.push({
        stack,
        report: await synthStack(stack, { root: ROOT, out: args.out, overrides: args.overrides }),
      });
    } catch (err) {
      results.push({ stack, error: (err as Error).message });
    }
  }
  return results;
}

export function summary(results: readonly StackResult[]): { text: string; failed: boolean } {
  const rows = results.map((r) => {
    const rep = r.report;
    const blocking = rep ? rep.violations.filter((v) => v.enforcementLevel === "mandatory").length : 0;
    const status = r.error ? "ERROR" : blocking > 0 || (rep?.invalid.length ?? 0) > 0 ? "FAIL" : "ok";
    return [
      r.stack,
      String(rep?.resources ?? "-"),
      String(rep?.kubernetesObjects ?? "-"),
      String(rep?.invalid.length ?? "-"),
      String(rep?.violations.length ?? "-"),
      rep ? `${(rep.durationMs / 1000).toFixed(1)}s` : "-",
      status,
    ];
  });
  const header = ["stack", "resources", "k8s objects", "invalid", "violations", "time", "status"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const details = results.flatMap((r) => [
    ...(r.error ? [`\n${r.stack}: could not synthesise:\n${r.error}`] : []),
    ...(r.report?.invalid ?? []).map(
      (i) => `\n${r.stack}: invalid ${i.object}:\n  ${i.problems.join("\n  ")}`,
    ),
    ...(r.report?.violations ?? []).map(
      (v) =>
        `\n${r.stack}: [${v.enforcementLevel}] ${v.policy}${v.resource ? ` ${v.resource}` : ""}: ${v.message}`,
    ),
  ]);
  const failed = rows.some((r) => r[6] !== "ok");
  return { text: [line(header), ...rows.map(line), ...details].join("\n"), failed };
}

export async function main(argv: readonly string[]): Promise<number> {
  let args: SynthArgs;
  try {
    args = parseSynthArgs(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  let order: string[];
  try {
    order = plan(args, listStacks(ROOT));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const started = Date.now();
  const results = await runAll(order, args);
  const { text, failed } = summary(results);
  process.stdout.write(
    `${text}\n\nwrote ${path.relative(ROOT, args.out) || "."}/<stack>/ in ${((Date.now() - started) / 1000).toFixed(1)}s\n`,
  );
  if (results.some((r) => r.error)) return 2;
  return failed ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`);
      process.exitCode = 2;
    },
  );
}
