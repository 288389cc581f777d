/** The cat-file process and its pool, against real bare repositories built with fast-import. */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CatFileError, CatFileProcess } from "../../app/git/catfile";
import { CatFilePool } from "../../app/git/catfile-pool";
import { git } from "../../app/git/exec";
import { ObjectReader, parseTree } from "../../app/git/objects";
import { writeCommit } from "../../app/git/write";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "plue-catfile-"));
const big = randomBytes(3 * 1024 * 1024 + 17);
let repoA: string;
let repoB: string;
let commit: string;

async function bareRepo(
  name: string,
  files: Record<string, string | Buffer>,
): Promise<{ dir: string; commit: string }> {
  const dir = path.join(tmp, `${name}.git`);
  await git(["init", "-q", "--bare", "--initial-branch=main", dir]);
  return { dir, commit: await writeCommit(dir, { branch: "main", message: "fixture\n", files }) };
}

const alive = (pid: number | undefined) => {
  try {
    process.kill(pid!, 0);
    return true;
  } catch {
    return false;
  }
};

/** Polls until `check` holds (processes die and are reaped asynchronously, slower under load). */
async function eventually(check: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

beforeAll(async () => {
  const a = await bareRepo("a", { "README.md": "hello\n", "bin/big.dat": big, "src/x.ts": "x\n" });
  repoA = a.dir;
  commit = a.commit;
  repoB = (await bareRepo("b", { "b.txt": "b\n" })).dir;
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("CatFileProcess", () => {
  let p: CatFileProcess;
  beforeEach(() => {
    p = new CatFileProcess(repoA);
  });
  afterEach(async () => {
    p.close();
    await p.exited();
  });

  it("answers pipelined info, read and missing in order", async () => {
    const [c, readme, missing, tree] = await Promise.all([
      p.info(commit),
      p.read(`${commit}:README.md`),
      p.info(`${commit}:nope`),
      p.read(`${commit}:`),
    ]);
    expect(c).toEqual({ oid: commit, type: "commit", size: expect.any(Number) });
    expect(readme?.data.toString()).toBe("hello\n");
    expect(missing).toBeUndefined();
    expect(parseTree(tree!.data, 20).map((e) => [e.name, e.type, e.mode])).toEqual([
      ["README.md", "blob", "100644"],
      ["bin", "tree", "040000"],
      ["src", "tree", "040000"],
    ]);
    expect(p.reusable).toBe(true);
  });

  it("streams a large object with backpressure, then keeps working", async () => {
    const s = await p.stream(`${commit}:bin/big.dat`);
    expect(s?.info.size).toBe(big.length);
    const chunks: Buffer[] = [];
    // A slow consumer: the process's stdout is paused while this sink is full.
    await pipeline(
      s!.body,
      new Writable({
        highWaterMark: 1024,
        write(chunk, _enc, cb) {
          chunks.push(chunk);
          setImmediate(cb);
        },
      }),
    );
    expect(Buffer.concat(chunks).equals(big)).toBe(true);
    expect((await p.read(`${commit}:src/x.ts`))?.data.toString()).toBe("x\n");
    expect(p.reusable).toBe(true);
  });

  it("is dirty when a stream is abandoned mid-object", async () => {
    const s = await p.stream(`${commit}:bin/big.dat`);
    await new Promise((resolve) => s!.body.once("data", resolve));
    s!.body.destroy();
    expect(p.reusable).toBe(false);
  });

  it("reads past an object larger than the caller wants in memory, if asked to skip it", async () => {
    const [skipped, next] = await Promise.all([
      p.contents(`${commit}:bin/big.dat`, 1024, "skip"),
      p.read(`${commit}:README.md`),
    ]);
    expect(skipped).toEqual({ info: { oid: expect.any(String), type: "blob", size: big.length } });
    expect(next?.data.toString()).toBe("hello\n");
    expect(p.reusable).toBe(true);
  });

  it("refuses object names that would break the line framing", async () => {
    await expect(p.info(`${commit}:a\nb`)).rejects.toThrow(CatFileError);
    expect(p.reusable).toBe(true);
  });

  it("rejects outstanding commands when the process dies", async () => {
    const pending = p.info(commit).then(() => p.read(`${commit}:bin/big.dat`));
    process.kill(p.pid!, "SIGKILL");
    await expect(pending).rejects.toThrow(CatFileError);
    expect(p.alive).toBe(false);
  });
});

describe("CatFilePool", () => {
  it("reuses an idle process, and replaces one that was killed", async () => {
    const pool = new CatFilePool();
    const reader = new ObjectReader(pool);
    try {
      await reader.read(repoA, `${commit}:README.md`);
      const [first] = pool.stats().pids[repoA]!;
      await reader.read(repoA, `${commit}:README.md`);
      expect(pool.stats().pids[repoA]).toEqual([first]);

      process.kill(first!, "SIGKILL");
      expect(await eventually(() => pool.stats().total === 0)).toBe(true);
      const again = await reader.read(repoA, `${commit}:README.md`);
      expect(again?.data.toString()).toBe("hello\n");
      const [second] = pool.stats().pids[repoA]!;
      expect(second).not.toBe(first);
      expect(pool.stats().total).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it("retries once when the process dies while checked out", async () => {
    const pool = new CatFilePool();
    const reader = new ObjectReader(pool);
    try {
      await reader.read(repoA, commit);
      const [pid] = pool.stats().pids[repoA]!;
      // Kill it the moment the next exchange starts, before git can answer.
      const p = await pool.acquire(repoA);
      pool.release(p);
      process.kill(pid!, "SIGSTOP");
      const answer = reader.read(repoA, `${commit}:src/x.ts`);
      process.kill(pid!, "SIGKILL");
      expect((await answer)?.data.toString()).toBe("x\n");
      expect(pool.stats().pids[repoA]).not.toContain(pid);
    } finally {
      await pool.close();
    }
  });

  it("pipelines concurrent short reads on one shared process; a stream gets its own", async () => {
    const pool = new CatFilePool({ sharedPerProcess: 64 });
    const reader = new ObjectReader(pool);
    try {
      const reads = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          reader.read(repoA, `${commit}:${i % 2 ? "README.md" : "src/x.ts"}`),
        ),
      );
      expect(reads.map((r) => r?.data.toString())).toEqual(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? "hello\n" : "x\n")),
      );
      expect(pool.stats().total).toBe(1);
      const s = await reader.stream(repoA, `${commit}:bin/big.dat`);
      // While the stream is held, short reads go to the other process and are not stuck behind it.
      expect((await reader.read(repoA, `${commit}:src/x.ts`))?.data.toString()).toBe("x\n");
      expect(pool.stats().total).toBe(2);
      s!.body.resume();
      await new Promise((resolve) => s!.body.once("end", resolve));
    } finally {
      await pool.close();
    }
  });

  it("kills a process returned dirty instead of reusing it", async () => {
    const pool = new CatFilePool();
    const reader = new ObjectReader(pool);
    try {
      const s = await reader.stream(repoA, `${commit}:bin/big.dat`);
      const [pid] = pool.stats().pids[repoA]!;
      await new Promise((resolve) => s!.body.once("data", resolve));
      s!.body.destroy();
      expect(await eventually(() => pool.stats().total === 0)).toBe(true);
      expect(await eventually(() => !alive(pid))).toBe(true);
      expect((await reader.read(repoA, `${commit}:README.md`))?.data.toString()).toBe("hello\n");
    } finally {
      await pool.close();
    }
  });

  it("bounds processes per repository and overall; callers wait their turn", async () => {
    const pool = new CatFilePool({ maxProcesses: 2, maxPerRepo: 1 });
    try {
      const a1 = await pool.acquire(repoA);
      let a2: CatFileProcess | undefined;
      const waiting = pool.acquire(repoA).then((p) => (a2 = p));
      const b1 = await pool.acquire(repoB);
      await new Promise((r) => setTimeout(r, 20));
      expect(a2).toBeUndefined();
      expect(pool.stats()).toMatchObject({ total: 2, waiting: 1 });
      pool.release(a1);
      await waiting;
      expect(a2).toBe(a1); // handed straight to the waiter
      pool.release(a2!);
      pool.release(b1);
      // At the global bound, a third repository evicts the least recently used idle process.
      const repoC = (await bareRepo("c", { "c.txt": "c\n" })).dir;
      const c1 = await pool.acquire(repoC);
      expect(pool.stats().total).toBe(2);
      expect(pool.stats().pids[repoA]).toBeUndefined();
      pool.release(c1);
    } finally {
      await pool.close();
    }
  });

  it("closes idle processes after the TTL and all of them on close", async () => {
    const pool = new CatFilePool({ idleTtlMs: 200 });
    const reader = new ObjectReader(pool);
    await reader.read(repoA, commit);
    const pids = [...(pool.stats().pids[repoA] ?? [])];
    await reader.read(repoB, "HEAD");
    pids.push(...(pool.stats().pids[repoB] ?? []));
    expect(pids).toHaveLength(2);
    expect(await eventually(() => pool.stats().total === 0)).toBe(true);
    for (const pid of pids) expect(await eventually(() => !alive(pid))).toBe(true);

    const held = await pool.acquire(repoA);
    const closing = pool.close(100);
    await closing;
    expect(held.alive).toBe(false);
  });

  it("resolves branches, tags (peeled) and HEAD; unknown refs are undefined", async () => {
    const pool = new CatFilePool();
    const reader = new ObjectReader(pool);
    try {
      await git(["tag", "-a", "-m", "v1", "v1", commit], {
        gitDir: repoA,
        env: { GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" },
      });
      expect(await reader.resolveCommit(repoA, "main")).toBe(commit);
      expect(await reader.resolveCommit(repoA, "v1")).toBe(commit);
      expect(await reader.resolveCommit(repoA, "refs/tags/v1")).toBe(commit);
      expect(await reader.resolveCommit(repoA, "HEAD")).toBe(commit);
      expect(await reader.resolveCommit(repoA, commit)).toBe(commit);
      expect(await reader.resolveCommit(repoA, "nope")).toBeUndefined();
    } finally {
      await pool.close();
    }
  });
});
