/**
 * Escape probes against every sandbox backend that works on this machine (bubblewrap is
 * required: CI installs it; gVisor runs when a working runsc is present), and the choice of
 * backend. Each probe asserts both the denial inside and its absence of effect outside.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { bwrapArgs, writeSandboxEtc } from "../../runner/sandbox/bwrap";
import { ociSpec } from "../../runner/sandbox/gvisor";
import {
  chownTree,
  createSandbox,
  DEFAULT_LIMITS,
  forgetSandboxChecks,
  NONE_WARNING,
  resolveSandbox,
  type Sandbox,
  type SandboxBackend,
  type SandboxLimits,
  sandboxProblem,
} from "../../runner/sandbox/index";

const LIMITS: SandboxLimits = {
  ...DEFAULT_LIMITS,
  cpuSeconds: 2,
  memoryBytes: 256 * 1024 ** 2,
  processes: 64,
  fileSizeBytes: 8 * 1024 ** 2,
  tmpBytes: 16 * 1024 ** 2,
};
const repoDir = path.resolve(".");

const problems = Object.fromEntries(
  await Promise.all((["bwrap", "gvisor"] as const).map(async (b) => [b, await sandboxProblem(b)] as const)),
) as Record<"bwrap" | "gvisor", string | undefined>;
const working = (["bwrap", "gvisor"] as const).filter((b) => !problems[b]);

it("has bubblewrap working here (CI installs it; the local default sandbox)", () => {
  expect(problems.bwrap).toBeUndefined();
});

/** Host processes whose command line contains `marker`. */
function hostProcesses(marker: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmd.includes(marker)) found.push(`${pid}: ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe.each(working)("%s sandbox", (backend: SandboxBackend) => {
  let ws: string;
  let sandbox: Sandbox;
  const sh = (script: string, timeoutMs = 10_000) => sandbox.exec(["/bin/bash", "-c", script], { timeoutMs });

  beforeAll(() => {
    ws = fs.mkdtempSync(path.join(os.tmpdir(), "plue-probe-ws-"));
    sandbox = createSandbox(backend, ws, LIMITS);
    chownTree(ws, sandbox.fileOwner);
  });
  afterAll(async () => {
    await sandbox.dispose();
    fs.rmSync(ws, { recursive: true, force: true });
  });

  it("runs as uid 1000 in /workspace and writes the workspace", async () => {
    const r = await sh("id -u; pwd; echo hello > made.txt");
    expect(r.stdout).toBe("1000\n/workspace\n");
    expect(fs.readFileSync(path.join(ws, "made.txt"), "utf8")).toBe("hello\n");
  });

  it("has no network: a server on the host's loopback cannot be reached", async () => {
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as net.AddressInfo;
    try {
      const r = await sh(`exec 3<>/dev/tcp/127.0.0.1/${port} && echo connected`);
      expect(r.stdout).not.toContain("connected");
      expect(r.exitCode).not.toBe(0);
      expect(connections).toBe(0);
    } finally {
      server.close();
    }
  });

  it("cannot read the host's files: home, the repository, /etc secrets", async () => {
    const r = await sh(`cat ${repoDir}/package.json; ls ${os.homedir()}; cat /etc/shadow; echo status=$?`);
    expect(r.stdout).not.toContain('"name": "plue"');
    expect(r.stdout).toContain("status=1");
    expect(r.stderr).toMatch(/No such file|Permission denied/);
  });

  it("cannot write outside the workspace; its /tmp is private", async () => {
    const name = `plue-probe-${randomBytes(4).toString("hex")}`;
    const r = await sh(
      `for d in /etc /usr /usr/bin / ; do echo x > $d/${name} 2>/dev/null && echo wrote $d; done; echo x > /tmp/${name} && echo tmp-ok`,
    );
    expect(r.stdout).toBe("tmp-ok\n");
    for (const d of ["/etc", "/usr", "/usr/bin", "/", "/tmp"])
      expect(fs.existsSync(path.join(d, name))).toBe(false);
  });

  it("stops a fork bomb and leaves nothing running", async () => {
    const marker = `plue-bomb-${randomBytes(4).toString("hex")}`;
    const started = Date.now();
    const r = await sh(`# ${marker}\nbomb() { bomb | bomb & }; bomb; sleep 2; echo survived`, 4000);
    expect(Date.now() - started).toBeLessThan(8000);
    expect(r.timedOut || r.exitCode !== null).toBe(true);
    await new Promise((res) => setTimeout(res, 300));
    expect(hostProcesses(marker)).toEqual([]);
    expect((await sh("echo still-usable")).stdout).toBe("still-usable\n");
  });

  it("stops a memory hog at the memory limit", async () => {
    const r = await sh(`awk 'BEGIN { s = "x"; while (1) s = s s }'; echo exit=$?`, 20_000);
    expect(r.timedOut).toBe(false);
    expect(r.stdout).toMatch(/exit=[1-9]/);
  });

  it("stops an endless write at the file size limit", async () => {
    const r = await sh("yes > big; echo exit=$?", 20_000);
    expect(r.timedOut).toBe(false);
    expect(r.stdout).toMatch(/exit=[1-9]/); // SIGXFSZ
    expect(fs.statSync(path.join(ws, "big")).size).toBeLessThanOrEqual(LIMITS.fileSizeBytes);
    fs.rmSync(path.join(ws, "big"));
  });

  it("stops a CPU-bound loop at the CPU limit", async () => {
    const started = Date.now();
    const r = await sh("while :; do :; done", 15_000);
    expect(r.timedOut).toBe(false);
    expect(r.signal ?? r.exitCode).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(12_000);
  });

  it("kills a command that sleeps forever at its timeout, and its background children", async () => {
    const marker = `${7_000_000 + Math.floor(Math.random() * 1_000_000)}`;
    const r = await sh(`sleep ${marker}`, 800);
    expect(r.timedOut).toBe(true);
    expect(r.durationMs).toBeLessThan(4000);
    const bg = await sh(`sleep ${Number(marker) + 1} & echo started`, 5000);
    expect(bg.stdout).toBe("started\n");
    expect(bg.timedOut).toBe(false);
    await new Promise((res) => setTimeout(res, 300));
    expect(hostProcesses(`sleep ${marker}`)).toEqual([]);
    expect(hostProcesses(`sleep ${Number(marker) + 1}`)).toEqual([]);
  });
});

describe("choosing a backend", () => {
  afterEach(() => forgetSandboxChecks());

  it("auto picks a working backend and says why it skipped others", async () => {
    const r = await resolveSandbox("auto");
    expect(working).toContain(r.backend);
    if (problems.gvisor) expect(r.notes.join("\n")).toContain(`not using gvisor: ${problems.gvisor}`);
    else expect(r.notes).toEqual([]);
  });

  it("refuses a named backend that does not work, with the reason", async () => {
    const path0 = process.env.PATH;
    process.env.PATH = "/nonexistent";
    forgetSandboxChecks();
    try {
      await expect(resolveSandbox("bwrap")).rejects.toThrow(
        "sandbox bwrap is not usable: bwrap is not installed",
      );
      await expect(resolveSandbox("auto")).rejects.toThrow(/no sandbox works here.*PLUE_SANDBOX=none/);
    } finally {
      process.env.PATH = path0;
    }
  });

  it("refuses gVisor when runsc is missing or broken (Debian's 2022 runsc cannot stat)", async () => {
    if (problems.gvisor) await expect(resolveSandbox("gvisor")).rejects.toThrow(problems.gvisor);
    else expect((await resolveSandbox("gvisor")).backend).toBe("gvisor");
  });

  it("gives none only by name, with a loud warning, and it still applies the timeout", async () => {
    const r = await resolveSandbox("none");
    expect(r.notes).toEqual([NONE_WARNING]);
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), "plue-none-"));
    const s = r.create(ws);
    try {
      const out = await s.exec(["/bin/sh", "-c", "pwd; sleep 30"], { timeoutMs: 500 });
      expect(out.stdout).toBe(`${ws}\n`);
      expect(out.timedOut).toBe(true);
    } finally {
      fs.rmSync(ws, { recursive: true, force: true });
    }
  });

  it("builds a bwrap command line with every namespace, a read-only root and the limits", () => {
    const etc = writeSandboxEtc();
    try {
      const args = bwrapArgs(
        { workspace: "/srv/ws", etcDir: etc, limits: LIMITS, env: { PATH: "/usr/bin" } },
        ["true"],
      ).join(" ");
      for (const flag of [
        "--unshare-all",
        "--unshare-user",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
      ]) {
        expect(args).toContain(flag);
      }
      expect(args).toContain("--uid 1000 --gid 1000");
      expect(args).toContain("--bind /srv/ws /workspace");
      expect(args).toContain("--remount-ro /");
      expect(args).toContain(`--size ${LIMITS.tmpBytes} --tmpfs /tmp`);
      expect(args).toContain(`--cpu=2 --as=${LIMITS.memoryBytes} --nproc=64 --fsize=${LIMITS.fileSizeBytes}`);
      expect(args).not.toMatch(/--(ro-)?bind \/(home|root|work|var)\b/);
      expect(args).not.toContain("--share-net");
    } finally {
      fs.rmSync(etc, { recursive: true, force: true });
    }
  });

  it("builds a gVisor OCI spec with a read-only root, uid 1000, no capabilities and the limits", () => {
    const spec = ociSpec({ workspace: "/srv/ws", etcDir: "/e", limits: LIMITS, env: { PATH: "/usr/bin" } }, [
      "true",
    ]) as {
      process: {
        user: { uid: number };
        capabilities: Record<string, string[]>;
        noNewPrivileges: boolean;
        rlimits: { type: string; hard: number }[];
      };
      root: { readonly: boolean };
      mounts: { destination: string; source: string; options?: string[] }[];
      linux: {
        namespaces: { type: string }[];
        resources: Record<string, unknown>;
      };
    };
    expect(spec.root.readonly).toBe(true);
    expect(spec.process.user.uid).toBe(1000);
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(Object.values(spec.process.capabilities).flat()).toEqual([]);
    expect(spec.linux.namespaces.map((n) => n.type)).toEqual(
      expect.arrayContaining(["network", "pid", "ipc", "uts", "mount"]),
    );
    // The whole-sandbox limits (the per-process ones are the rlimits above).
    expect(spec.linux.resources).toEqual({
      memory: { limit: LIMITS.sandboxMemoryBytes, swap: LIMITS.sandboxMemoryBytes },
      pids: { limit: LIMITS.sandboxPids },
      cpu: { quota: LIMITS.sandboxCpus * 100_000, period: 100_000 },
    });
    expect(spec.process.rlimits).toContainEqual({
      type: "RLIMIT_FSIZE",
      hard: LIMITS.fileSizeBytes,
      soft: LIMITS.fileSizeBytes,
    });
    const ws = spec.mounts.find((m) => m.destination === "/workspace");
    expect(ws).toMatchObject({ source: "/srv/ws", options: ["rbind", "rw"] });
    for (const m of spec.mounts.filter(
      (x) => x.destination !== "/workspace" && x.options?.includes("rbind"),
    )) {
      expect(m.options).toContain("ro");
    }
    expect(spec.mounts.map((m) => m.source)).not.toContain(os.homedir());
  });
});
