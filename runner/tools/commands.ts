/**
 * Tools that run programs: always inside the sandbox. `grep` runs GNU grep there too, so a
 * pathological pattern costs the sandbox's time limit, not the runner's event loop. The runner
 * itself only checks grep's path (asynchronously, through ./paths) and passes it as an argument.
 */
import { z } from "zod";
import { checkPath } from "./paths";
import { fail, ok, type Tool } from "./types";

export const BASH_DEFAULT_TIMEOUT_MS = 120_000;
export const BASH_MAX_TIMEOUT_MS = 600_000;
const GREP_TIMEOUT_MS = 30_000;
const GREP_MAX_LINE = 400;
const COMMAND_OUTPUT_BYTES = 64 * 1024;

const BashInput = z.object({
  command: z.string().min(1).describe("A bash command line, run in the workspace root"),
  timeout_ms: z
    .number()
    .int()
    .min(1)
    .max(BASH_MAX_TIMEOUT_MS)
    .optional()
    .describe(`Wall-clock limit in milliseconds (default ${BASH_DEFAULT_TIMEOUT_MS})`),
});
export const bash: Tool<typeof BashInput> = {
  name: "bash",
  description:
    "Run a bash command in an isolated sandbox whose working directory is the workspace (/workspace). " +
    "There is no network. Background processes end with the command.",
  input: BashInput,
  async run(input, ctx) {
    const timeoutMs = input.timeout_ms ?? BASH_DEFAULT_TIMEOUT_MS;
    const r = await ctx.sandbox.exec(["/bin/bash", "-c", input.command], {
      timeoutMs,
      signal: ctx.signal,
      maxOutputBytes: COMMAND_OUTPUT_BYTES,
    });
    const parts: string[] = [];
    if (r.stdout) parts.push(r.stdout.trimEnd());
    if (r.stderr) parts.push(`[stderr]\n${r.stderr.trimEnd()}`);
    if (r.limit) parts.push(`[${r.limit}]`);
    if (r.timedOut) parts.push(`[killed: the command ran longer than ${timeoutMs} ms]`);
    else if (r.aborted) parts.push("[killed: the run was aborted]");
    else if (r.signal) parts.push(`[killed by ${r.signal}]`);
    else parts.push(`[exit code ${r.exitCode}]`);
    const failed = r.timedOut || r.aborted || r.signal !== null || r.exitCode !== 0;
    return { output: parts.join("\n"), isError: failed };
  },
};

const GrepInput = z.object({
  pattern: z.string().min(1).describe("Perl-compatible regular expression"),
  path: z
    .string()
    .optional()
    .describe("File or directory relative to the workspace root (default: the root)"),
  include: z.string().optional().describe("Only search files whose name matches this glob, e.g. *.ts"),
  ignore_case: z.boolean().optional(),
  max_results: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .optional()
    .describe("Most matching lines to return (default 100)"),
});
export const grep: Tool<typeof GrepInput> = {
  name: "grep",
  description:
    "Search file contents with a regular expression; returns path:line:text for each match (skips .git).",
  input: GrepInput,
  async run(input, ctx) {
    // The sandbox sees only the workspace anyway; this gives the file tools' answer for a path
    // that is outside, a symlink, or a FIFO, socket or device (which grep would wait on).
    const target = (await checkPath(ctx.root, input.path ?? ".")).rel;
    const max = input.max_results ?? 100;
    // -r follows no symlink below the path; --devices=skip also skips FIFOs, sockets and devices.
    const args = ["grep", "-rnIP", "--color=never", "--devices=skip", "--exclude-dir=.git"];
    if (input.ignore_case) args.push("-i");
    if (input.include) args.push(`--include=${input.include}`);
    // Without a path operand, grep -r searches "." and names files without a "./" prefix.
    args.push("-e", input.pattern, ...(target === "." ? [] : ["--", target]));
    const r = await ctx.sandbox.exec(args, {
      timeoutMs: GREP_TIMEOUT_MS,
      signal: ctx.signal,
      maxOutputBytes: COMMAND_OUTPUT_BYTES,
    });
    if (r.timedOut)
      return fail(`grep ran longer than ${GREP_TIMEOUT_MS} ms; narrow the path or simplify the pattern`);
    if (r.exitCode === 1) return ok("no matches");
    if (r.exitCode !== 0) return fail(`grep failed: ${r.stderr.trim() || `exit ${r.exitCode ?? r.signal}`}`);
    const lines = r.stdout.split("\n").filter(Boolean);
    const shown = lines
      .slice(0, max)
      .map((l) => (l.length > GREP_MAX_LINE ? `${l.slice(0, GREP_MAX_LINE)} [line cut]` : l));
    if (lines.length > max || r.truncated)
      shown.push(`[truncated: showing the first ${shown.length} matches]`);
    return ok(shown.join("\n"));
  },
};
