/**
 * A full disk, for real: small tmpfs mounts (CI runs as root) under the repositories and under
 * an embedded database's data dir, filled to the last byte. Pushes, repository creation and a
 * database start must say the disk is full, and nothing already stored may be damaged.
 * Without the right to mount, this file fails (it does not skip).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../../app/config";
import { createPglite, openDatabase } from "../../app/db";
import { isDiskFull } from "../../app/disk-full";
import { git as serverGit } from "../../app/git/exec";
import { startPlatform } from "../../app/platform";
import { startTestPlatform, type TestPlatform, testLogger } from "../helpers/platform";
import { cloneUrl, createRepo, GitClient } from "./client";

const mounts: string[] = [];

/** Mounts a tmpfs of `size` at `dir`; throws (failing the test) when it cannot. */
function mountTmpfs(dir: string, size: string): void {
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "pipe" });
  } catch (err) {
    throw new Error(
      `this test needs to mount a tmpfs (run as root, as CI does): ${(err as { stderr?: Buffer }).stderr ?? err}`,
    );
  }
  mounts.push(dir);
}

/** Writes `<dir>/fill` until the file system refuses: afterwards not one more byte fits. */
function fill(dir: string): string {
  const file = path.join(dir, "fill");
  const fd = fs.openSync(file, "w");
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) {
      try {
        fs.writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
        if (chunk.length === 1) break;
        return fillRest(fd, file);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return file;
}
function fillRest(fd: number, file: string): string {
  for (const size of [4096, 512, 1]) {
    const b = Buffer.alloc(size);
    for (;;) {
      try {
        fs.writeSync(fd, b);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
        break;
      }
    }
  }
  return file;
}

function unmount(dir: string): void {
  if (!mounts.includes(dir)) return;
  execFileSync("umount", ["-l", dir]);
  mounts.splice(mounts.indexOf(dir), 1);
}

afterAll(() => {
  for (const dir of [...mounts].reverse()) {
    unmount(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe("repositories on a full disk", () => {
  let p: TestPlatform;
  let g: GitClient;
  let filler: string;
  const url = () => cloneUrl(p.url, "admin", "kept", p.token);
  const gitDir = () => path.join(p.dataDir, "repos", "admin", "kept.git");
  const state = async () => ({
    refs: await serverGit(["for-each-ref", "--format=%(refname) %(objectname)"], { gitDir: gitDir() }),
    fsck: await serverGit(["fsck", "--full", "--strict", "--no-dangling"], { gitDir: gitDir() }),
  });
  let work: string;

  beforeAll(async () => {
    p = await startTestPlatform();
    g = new GitClient();
    mountTmpfs(path.join(p.dataDir, "repos"), "4m");
    await createRepo(p.url, p.token, { name: "kept" });
    work = await g.repoWith("kept-work", { "README.md": "# kept\n" });
    await g.ok(["push", url(), "main"], work);
    filler = fill(path.join(p.dataDir, "repos"));
  });
  afterAll(async () => {
    if (p) unmount(path.join(p.dataDir, "repos"));
    await p?.close();
    g?.cleanup();
  });

  it("refuses a push, saying the disk is full, and leaves the repository as it was", async () => {
    const before = await state();
    expect(before.fsck).toBe("");
    fs.writeFileSync(path.join(work, "data.bin"), randomBytes(200 * 1024));
    await g.ok(["add", "data.bin"], work);
    await g.ok(["commit", "-q", "-m", "data"], work);
    const r = await g.run(["push", url(), "main"], work);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("remote: error: the server's disk is full: this push was not stored");
    expect(await state()).toEqual(before);
  });

  it("answers a repository creation with 507 insufficient_storage and creates nothing", async () => {
    const res = await fetch(`${p.url}/api/repos`, {
      method: "POST",
      headers: { authorization: `Bearer ${p.token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "more" }),
    });
    expect(res.status).toBe(507);
    expect(await res.json()).toEqual({
      error: { code: "insufficient_storage", message: expect.stringContaining("disk is full") },
    });
    expect(await p.ctx.git.repos.find("admin", "more")).toBeUndefined();
    expect(fs.readdirSync(path.join(p.dataDir, "repos", "admin")).sort()).toEqual(["kept.git"]);
  });

  it("takes the same push once there is room again", async () => {
    fs.rmSync(filler);
    await g.ok(["push", url(), "main"], work);
    const after = await state();
    expect(after.fsck).toBe("");
    expect(after.refs).toContain(`refs/heads/main ${await g.ok(["rev-parse", "HEAD"], work)}`);
  });
});

describe("the embedded database on a full disk", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-full-"));
    mountTmpfs(dir, "1m");
    fill(dir);
  });

  it("fails to start with a message that says the disk is full", async () => {
    const err = await createPglite({ dataDir: path.join(dir, "db") }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.name).toBe("DiskFullError");
    expect(err?.message).toMatch(
      /the embedded database \(.*\/db\) cannot start: no space left on the device holding it \(\d+ KiB free\)/,
    );
  });

  it("recognises each form a full disk takes (Node, PostgreSQL/PGlite, Emscripten, git)", () => {
    let nodeError: unknown;
    try {
      fs.writeFileSync(path.join(dir, "more"), Buffer.alloc(64 * 1024));
    } catch (err) {
      nodeError = err;
    }
    expect((nodeError as NodeJS.ErrnoException).code).toBe("ENOSPC");
    expect(isDiskFull(nodeError)).toBe(true);
    expect(isDiskFull({ code: "53100", message: 'could not extend file "base/5/16384"' })).toBe(true);
    expect(isDiskFull({ name: "ErrnoError", errno: 51 })).toBe(true);
    expect(isDiskFull(new Error("wrapped", { cause: { code: "EDQUOT" } }))).toBe(true);
    expect(isDiskFull({ stderr: "fatal: write error: No space left on device" })).toBe(true);
    expect(isDiskFull({ name: "ErrnoError", errno: 44 })).toBe(false); // ENOENT
    expect(isDiskFull({ code: "23505" })).toBe(false);
  });

  it("says so when the platform starts on it", async () => {
    const config = loadConfig({ PLUE_DATA_DIR: dir, PLUE_SEED_DEMO: "false" }, { port: 0 });
    await expect(openDatabase(config)).rejects.toThrow(/no space left/);
    await expect(startPlatform(config, { log: testLogger() })).rejects.toThrow(/no space left/);
  });
});
