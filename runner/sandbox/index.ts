/**
 * Choosing a sandbox: `PLUE_SANDBOX=auto|gvisor|bwrap|none`. A named backend is self-tested
 * and refused with the reason when it does not work; `auto` tries gVisor (when `runsc` is
 * installed) and then bubblewrap, says why it fell back, and never picks `none`. Each backend is
 * self-tested at most once per process.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createBwrapSandbox } from "./bwrap";
import { createGvisorSandbox } from "./gvisor";
import { cgroupParent, limitsFromEnv, reserveWorkspaceVolume } from "./host";
import { createNoSandbox } from "./none";
import {
  DEFAULT_LIMITS,
  type Sandbox,
  type SandboxBackend,
  type SandboxChoice,
  type SandboxLimits,
  SandboxUnavailableError,
} from "./types";

export { acquireWorkspaceVolume, limitsFromEnv } from "./host";
export * from "./types";
export type { WorkspaceVolume } from "./volume";

const BINARIES: Record<SandboxBackend, string | undefined> = {
  bwrap: "bwrap",
  gvisor: "runsc",
  none: undefined,
};
const AUTO_ORDER: SandboxBackend[] = ["gvisor", "bwrap"];

export function createSandbox(backend: SandboxBackend, workspace: string, limits = DEFAULT_LIMITS): Sandbox {
  switch (backend) {
    case "bwrap":
      return createBwrapSandbox(workspace, limits);
    case "gvisor":
      return createGvisorSandbox(workspace, limits);
    case "none":
      return createNoSandbox(workspace, limits);
  }
}

/**
 * Everything a sandbox host needs root for, done once before the runner drops its privileges:
 * the runner's cgroup parent (created and delegated to the drop user) so sandboxes can be put
 * in their own cgroups afterwards. Safe to call more than once; in-process mode calls it lazily.
 */
export async function prepareSandboxHost(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  try {
    cgroupParent();
  } catch {
    // Remembered: a sandbox that needs the cgroup is refused with the reason (PLUE_SANDBOX=none,
    // in a pod whose own limits are the sandbox, needs none).
  }
  await reserveWorkspaceVolume(limitsFromEnv(env).workspaceBytes);
}

export function onPath(binary: string): boolean {
  return (process.env.PATH ?? "/usr/bin:/bin")
    .split(":")
    .some((dir) => dir && fs.existsSync(path.join(dir, binary)));
}

/** Gives the sandbox's host user ownership of a tree it must be able to write. */
export function chownTree(root: string, owner: { uid: number; gid: number } | undefined): void {
  if (!owner) return;
  fs.lchownSync(root, owner.uid, owner.gid);
  for (const entry of fs.readdirSync(root, { withFileTypes: true, recursive: true })) {
    fs.lchownSync(path.join(entry.parentPath, entry.name), owner.uid, owner.gid);
  }
}

// The probe lists and stats files (Debian's 2022 runsc fails exactly there) and writes to the
// workspace, so a backend that passes can run the tools.
const PROBE =
  "ls -la / >/dev/null && stat /workspace >/dev/null && echo ok >/workspace/probe && cat /workspace/probe";

async function selfTest(backend: SandboxBackend): Promise<string | undefined> {
  const binary = BINARIES[backend];
  if (binary && !onPath(binary)) return `${binary} is not installed`;
  if (!onPath("prlimit") && !fs.existsSync("/usr/bin/prlimit"))
    return "prlimit (util-linux) is not installed";
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-sandbox-probe-"));
  let sandbox: Sandbox | undefined;
  try {
    sandbox = createSandbox(backend, dir, DEFAULT_LIMITS);
    chownTree(dir, sandbox.fileOwner);
    const r = await sandbox.exec(["/bin/sh", "-c", PROBE], { timeoutMs: 30_000 });
    if (r.exitCode === 0 && r.stdout.trim() === "ok") return undefined;
    const detail = (r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ").slice(0, 300);
    return `self-test failed (exit ${r.exitCode ?? r.signal}${r.timedOut ? ", timed out" : ""}): ${detail || "no output"}`;
  } catch (err) {
    if (err instanceof SandboxUnavailableError)
      return err.message.replace(/^sandbox \w+ is not usable: /, "");
    return `self-test failed: ${(err as Error).message}`;
  } finally {
    await sandbox?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const tested = new Map<SandboxBackend, Promise<string | undefined>>();
/** Why a backend cannot be used, or undefined when it works; memoised per process. */
export function sandboxProblem(backend: SandboxBackend): Promise<string | undefined> {
  let p = tested.get(backend);
  if (!p) {
    p = backend === "none" ? Promise.resolve(undefined) : selfTest(backend);
    tested.set(backend, p);
  }
  return p;
}

/** Forgets the self-test results (tests that change PATH). */
export function forgetSandboxChecks(): void {
  tested.clear();
}

export interface ResolvedSandbox {
  readonly backend: SandboxBackend;
  readonly limits: SandboxLimits;
  /** What the choice went through, for the log: fallbacks and warnings. */
  readonly notes: readonly string[];
  create(workspace: string): Sandbox;
}

export const NONE_WARNING =
  "PLUE_SANDBOX=none: agent commands run WITHOUT a sandbox, as the runner's own user, with the " +
  "network and every file it can reach. Use this only where something else is the sandbox (a gVisor pod).";

export async function resolveSandbox(
  choice: SandboxChoice,
  limits: SandboxLimits = limitsFromEnv(),
): Promise<ResolvedSandbox> {
  const make = (backend: SandboxBackend, notes: string[]): ResolvedSandbox => ({
    backend,
    limits,
    notes,
    create: (workspace) => createSandbox(backend, workspace, limits),
  });
  if (choice === "none") return make("none", [NONE_WARNING]);
  if (choice !== "auto") {
    const problem = await sandboxProblem(choice);
    if (problem) throw new SandboxUnavailableError(choice, problem);
    return make(choice, []);
  }
  const notes: string[] = [];
  for (const backend of AUTO_ORDER) {
    const problem = await sandboxProblem(backend);
    if (!problem) return make(backend, notes);
    notes.push(`PLUE_SANDBOX=auto: not using ${backend}: ${problem}`);
  }
  throw new SandboxUnavailableError(
    "bwrap",
    `no sandbox works here (${notes.join("; ")}). Install bubblewrap, or set PLUE_SANDBOX=none only if something else isolates the runner.`,
  );
}
