/**
 * Whole-sandbox limits with real parts: bubblewrap in a real cgroup of this machine (v1 here, v2
 * on modern hosts), a real loop-mounted workspace volume; the v2 file logic and the refusal
 * without delegation against a temporary directory standing in for /sys/fs/cgroup.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { bytesQuantity, DEFAULT_RUNNER_RESOURCES, runnerPodSpec } from "../../constructs/k8s/runner-pod";
import { CgroupParent, CgroupUnavailableError, findHierarchies, joinArgs } from "../../runner/sandbox/cgroup";
import { cgroupParent, forgetSandboxHost } from "../../runner/sandbox/host";
import {
  acquireWorkspaceVolume,
  chownTree,
  createSandbox,
  DEFAULT_LIMITS,
  type Sandbox,
  type SandboxLimits,
  SandboxUnavailableError,
} from "../../runner/sandbox/index";
import { runProcess } from "../../runner/sandbox/process";
import { bash } from "../../runner/tools/commands";

const MiB = 1024 ** 2;
const LIMITS: SandboxLimits = {
  ...DEFAULT_LIMITS,
  sandboxMemoryBytes: 256 * MiB,
  sandboxPids: 32,
  sandboxCpus: 1,
  workspaceBytes: 64 * MiB,
};

it("runs as root with writable cgroups here (CI does; the limits need them)", () => {
  expect(process.getuid?.()).toBe(0);
  expect(() => cgroupParent()).not.toThrow();
});

describe("a bwrap sandbox in its own cgroup", () => {
  let ws: string;
  let sandbox: Sandbox;
  const sh = (script: string, timeoutMs = 30_000) => sandbox.exec(["/bin/sh", "-c", script], { timeoutMs });
  beforeAll(() => {
    ws = fs.mkdtempSync(path.join(os.tmpdir(), "plue-limits-ws-"));
    sandbox = createSandbox("bwrap", ws, LIMITS);
    chownTree(ws, sandbox.fileOwner);
  });
  afterAll(async () => {
    await sandbox.dispose();
    fs.rmSync(ws, { recursive: true, force: true });
  });

  it("kills the whole sandbox when its processes together pass the memory limit, and says so", async () => {
    // Eight processes of 100 MiB each: every one is within its own rlimit, together 800 MiB.
    const hog =
      "import time; b = bytearray(100 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); time.sleep(20)";
    const r = await sh(`for i in 1 2 3 4 5 6 7 8; do python3 -c "${hog}" & done; wait; echo survived`);
    expect(r.stdout).not.toContain("survived");
    expect(r.exitCode === 0 && r.signal === null).toBe(false);
    expect(r.limit).toBe("the sandbox exceeded its memory limit of 256 MiB (all its processes were killed)");
    expect(r.durationMs).toBeLessThan(20_000); // killed, not timed out
    // The sandbox is usable again afterwards.
    expect((await sh("echo again")).stdout).toBe("again\n");
  });

  it("keeps a bounded fork bomb within pids.max", async () => {
    const bomb =
      "import os, time\nn = 0\nfor _ in range(200):\n  try:\n    if os.fork() == 0:\n      time.sleep(5); os._exit(0)\n    n += 1\n  except OSError:\n    break\nprint(n, flush=True)\nos._exit(1)";
    const r = await sh(`python3 -c '${bomb}'`);
    const forked = Number(r.stdout.trim());
    expect(forked).toBeGreaterThan(0);
    expect(forked).toBeLessThan(LIMITS.sandboxPids);
    expect(r.limit).toBe(
      "the sandbox reached its limit of 32 processes and threads (new ones failed to start)",
    );
  });

  it("names the memory limit in the bash tool's result", async () => {
    const r = await bash.run(
      { command: "python3 -c 'b = bytearray(600 * 1024 * 1024); b[::4096] = b\"x\" * len(b[::4096])'" },
      { root: ws, sandbox, signal: new AbortController().signal } as never,
    );
    expect(r.isError).toBe(true);
    expect(r.output).toContain("[the sandbox exceeded its memory limit of 256 MiB");
  });

  it("removes its cgroup on dispose", async () => {
    const before = new Set(cgroupDirs());
    const other = createSandbox("bwrap", ws, LIMITS);
    expect((await other.exec(["true"], { timeoutMs: 10_000 })).exitCode).toBe(0);
    const mine = cgroupDirs().filter((d) => !before.has(d));
    expect(mine.length).toBeGreaterThan(0);
    await other.dispose();
    for (const d of mine) expect(fs.existsSync(d)).toBe(false);
  });
});

/** Every sandbox cgroup directory of this process, in every hierarchy. */
function cgroupDirs(): string[] {
  return cgroupParent().dirs.flatMap((d) =>
    fs
      .readdirSync(d.dir)
      .filter((n) => n.startsWith("sb-"))
      .map((n) => path.join(d.dir, n)),
  );
}

describe("cgroup parts", () => {
  it("kills processes still in a cgroup before removing it", async () => {
    const cg = cgroupParent().create({ memoryBytes: 64 * MiB, pids: 16, cpus: 1 });
    const [file, ...args] = [...joinArgs(cg), "/bin/sh", "-c", "sleep 60 & sleep 60 & echo started"];
    const r = await runProcess(file!, args, { timeoutMs: 10_000 });
    expect(r.stdout).toBe("started\n");
    expect(cg.pids().length).toBe(2); // the two sleeps outlived their shell, inside the cgroup
    await cg.remove();
    for (const d of cg.dirs) expect(fs.existsSync(d.dir)).toBe(false);
  });

  it("refuses clearly where cgroups are not mounted or not delegated", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "plue-cgroup-none-"));
    try {
      expect(() => CgroupParent.prepare({ root, selfCgroup: "0::/\n", privileged: true })).toThrow(
        /cgroups are not usable for sandbox limits: neither cgroup v2 .* nor a cgroup v1 memory hierarchy/,
      );
      // v1 mounted, but this user may not create the runner's parent and nobody made it.
      for (const c of ["memory", "pids", "cpu"]) {
        fs.mkdirSync(path.join(root, c));
        fs.writeFileSync(path.join(root, c, "cgroup.procs"), "");
      }
      const self = "4:memory:/a\n8:pids:/\n1:cpu:/\n";
      expect(() => CgroupParent.prepare({ root, selfCgroup: self, privileged: false, pid: 4242 })).toThrow(
        /r-4242 does not exist or is not writable by uid 0, and only root can create it.*Delegate=yes/,
      );
      // The sandbox says so, and a backend's self-test would report exactly this.
      forgetSandboxHost();
      expect(() => cgroupParent({ root, selfCgroup: self, privileged: false, pid: 4242 })).toThrow(
        CgroupUnavailableError,
      );
      expect(() => createSandbox("bwrap", root, LIMITS)).toThrow(SandboxUnavailableError);
      expect(() => createSandbox("bwrap", root, LIMITS)).toThrow(
        /sandbox bwrap is not usable: cgroups are not usable/,
      );
    } finally {
      forgetSandboxHost();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("writes the cgroup v2 files: controllers down the tree, the runner in a leaf, the limits", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "plue-cgroup-v2-"));
    try {
      fs.writeFileSync(path.join(root, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma\n");
      fs.writeFileSync(path.join(root, "cgroup.subtree_control"), "memory pids\n");
      fs.mkdirSync(path.join(root, "plue", "r-999999"), { recursive: true }); // a dead runner's
      const parent = CgroupParent.prepare({
        root,
        selfCgroup: "0::/system.slice/plue.service\n",
        pid: 4242,
        privileged: true,
      });
      expect(findHierarchies({ root, selfCgroup: "0::/x\n" }).version).toBe(2);
      expect(parent.version).toBe(2);
      const read = (...p: string[]) => fs.readFileSync(path.join(root, ...p), "utf8");
      expect(read("cgroup.subtree_control")).toBe("+cpu"); // only what was missing
      expect(read("plue", "cgroup.subtree_control")).toBe("+memory +pids +cpu");
      expect(read("plue", "r-4242", "cgroup.subtree_control")).toBe("+memory +pids +cpu");
      expect(read("plue", "r-4242", "runner", "cgroup.procs")).toBe("4242");
      expect(fs.existsSync(path.join(root, "plue", "r-999999"))).toBe(false);
      fs.writeFileSync(path.join(root, "plue", "r-4242", "probe"), ""); // make the next one exist
      const cg = parent.create({ memoryBytes: 256 * MiB, pids: 32, cpus: 1.5 });
      const dir = cg.dirs[0]!.dir;
      expect(path.dirname(dir)).toBe(path.join(root, "plue", "r-4242"));
      expect(fs.readFileSync(path.join(dir, "memory.max"), "utf8")).toBe(String(256 * MiB));
      expect(fs.readFileSync(path.join(dir, "pids.max"), "utf8")).toBe("32");
      expect(fs.readFileSync(path.join(dir, "cpu.max"), "utf8")).toBe("150000 100000");
      expect(joinArgs(cg)).toContain(path.join(dir, "cgroup.procs"));
      fs.writeFileSync(path.join(dir, "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n");
      fs.writeFileSync(path.join(dir, "pids.events"), "max 5\n");
      expect(cg.events()).toEqual({ oomKills: 2, pidsMax: 5 });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("refuses cgroup v2 without the memory, pids and cpu controllers, naming the missing one", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "plue-cgroup-v2-"));
    try {
      fs.writeFileSync(path.join(root, "cgroup.controllers"), "cpu memory\n");
      expect(() => CgroupParent.prepare({ root, selfCgroup: "0::/\n", privileged: true })).toThrow(
        /cgroup v2 at .* does not offer the pids controller/,
      );
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("the workspace volume", () => {
  it("fails a write past the limit, names it, and puts nothing beyond it on the host disk", async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), "plue-volumes-"));
    fs.chmodSync(parent, 0o711); // like the temp dir: the sandbox's user passes through
    const volume = await acquireWorkspaceVolume(LIMITS, parent);
    expect(volume).toBeDefined();
    const image = path.join(parent, "plue-volumes", `${path.basename(volume!.dir)}.img`);
    try {
      const ws = fs.mkdtempSync(path.join(volume!.dir, "plue-ws-"));
      const sandbox = createSandbox("bwrap", ws, LIMITS);
      chownTree(ws, sandbox.fileOwner);
      try {
        const r = await sandbox.exec(
          [
            "/bin/sh",
            "-c",
            "for i in 1 2 3 4 5 6; do dd if=/dev/zero of=big$i bs=1M count=20 status=none || exit 1; done",
          ],
          { timeoutMs: 30_000 },
        );
        expect(r.exitCode).toBe(1);
        expect(r.stderr).toMatch(/No space left on device/);
        expect(r.limit).toBe("the workspace exceeded its 64 MiB limit (no space left on device)");
      } finally {
        await sandbox.dispose();
      }
      const allocated = fs.statSync(image).blocks * 512;
      expect(allocated).toBeLessThanOrEqual(LIMITS.workspaceBytes);
      const s = fs.statfsSync(volume!.dir);
      expect(s.blocks * s.bsize).toBeLessThanOrEqual(LIMITS.workspaceBytes);
    } finally {
      await volume!.release();
      expect(fs.existsSync(image)).toBe(false);
      expect(fs.readFileSync("/proc/self/mounts", "utf8")).not.toContain(volume!.dir);
      fs.rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe("the runner pod", () => {
  it("takes its cpu and memory limits and workspace size from the sandbox's DEFAULT_LIMITS", () => {
    expect(DEFAULT_RUNNER_RESOURCES.limits.memory).toBe(bytesQuantity(DEFAULT_LIMITS.sandboxMemoryBytes));
    expect(DEFAULT_RUNNER_RESOURCES.limits.cpu).toBe(String(DEFAULT_LIMITS.sandboxCpus));
    const spec = runnerPodSpec({ image: "plue/runner:1", appUrl: "https://plue.example" });
    expect(spec.volumes?.find((v) => v.name === "workspace")?.emptyDir?.sizeLimit).toBe(
      bytesQuantity(DEFAULT_LIMITS.workspaceBytes),
    );
    expect(bytesQuantity(256 * MiB)).toBe("256Mi");
    expect(bytesQuantity(1000)).toBe("1000");
  });
});
