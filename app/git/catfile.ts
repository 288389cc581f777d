/**
 * One long-lived `git cat-file --batch-command` process: two pipes, a FIFO of outstanding
 * commands, and a parser for its framing (`<oid> <type> <size>\n<content>\n`, or
 * `<name> missing\n`). Commands are pipelined: those issued in the same turn of the event loop
 * go out in one write, and answers come back in order. An object's content can be buffered,
 * streamed with backpressure (stdout is paused while the consumer is slow), or skipped when it
 * is larger than the caller wants in memory. A process whose current answer was not fully
 * consumed is dirty: its pipe is mid-object, so the pool kills it instead of reusing it.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { Readable, type Writable } from "node:stream";
import { gitEnv } from "./exec";

export type ObjectType = "blob" | "tree" | "commit" | "tag";

export interface ObjectInfo {
  oid: string;
  type: ObjectType;
  size: number;
}

/**
 * An object's content: in memory (`data`) when small enough, else a stream (`body`), or neither
 * when it was larger than allowed and the caller asked to skip such objects.
 */
export type ObjectContent =
  | { info: ObjectInfo; data: Buffer; body?: undefined }
  | { info: ObjectInfo; body: Readable; data?: undefined }
  | { info: ObjectInfo; data?: undefined; body?: undefined };

export class CatFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CatFileError";
  }
}

type Pending =
  | { kind: "info"; resolve(v: ObjectInfo | undefined): void; reject(e: Error): void }
  | {
      kind: "contents";
      /** Objects up to this size are buffered. */
      maxBuffered: number;
      /** What to do with a larger one. */
      large: "stream" | "skip";
      resolve(v: ObjectContent | undefined): void;
      reject(e: Error): void;
    };

interface Current {
  pending: Extract<Pending, { kind: "contents" }>;
  info: ObjectInfo;
  remaining: number;
  /** Set when buffering; neither this nor `body` when skipping. */
  data?: Buffer;
  filled: number;
  body?: ObjectBody;
}

const HEADER = /^([0-9a-f]{40}|[0-9a-f]{64}) (blob|tree|commit|tag) (\d+)$/;
const EMPTY = Buffer.alloc(0);

/** The content of one object as it arrives from the process. */
class ObjectBody extends Readable {
  constructor(private readonly proc: CatFileProcess) {
    super({ highWaterMark: 64 * 1024 });
  }
  override _read(): void {
    this.proc.resume();
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Destroyed before the last byte: the process still has the rest of this object in its pipe.
    if (!this.readableEnded) this.proc.markDirty();
    cb(err);
  }
}

export class CatFileProcess {
  readonly pid: number | undefined;
  /** When the process last finished a command (for idle eviction). */
  lastUsed = Date.now();
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly queue: Pending[] = [];
  private current: Current | undefined;
  private buf: Buffer = EMPTY;
  private outgoing = "";
  private paused = false;
  private pumping = false;
  private dead: Error | undefined;
  private dirty = false;
  private stderr = "";

  constructor(
    readonly gitDir: string,
    private readonly onExit: (p: CatFileProcess) => void = () => {},
  ) {
    this.child = spawn("git", [`--git-dir=${gitDir}`, "cat-file", "--batch-command"], {
      // Replace refs could make a commit id show other content; addressed content must not change.
      env: gitEnv({ GIT_NO_REPLACE_OBJECTS: "1" }),
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.pid = this.child.pid;
    this.child.stdout.on("data", (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      this.pump();
    });
    this.child.stderr.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString("utf8")).slice(-2000);
    });
    this.child.stdin.on("error", (err) => this.fail(new CatFileError(`cat-file stdin: ${err.message}`)));
    this.child.on("error", (err) => this.fail(new CatFileError(`cat-file could not run: ${err.message}`)));
    this.child.on("exit", (code, signal) => {
      const why = this.stderr.trim().split("\n").pop() ?? "";
      this.fail(new CatFileError(`cat-file exited (${signal ?? code})${why ? `: ${why}` : ""}`));
    });
  }

  /** The object's id, type and size, without its content. `undefined` when it does not exist. */
  info(spec: string): Promise<ObjectInfo | undefined> {
    return new Promise((resolve, reject) => this.send("info", spec, { kind: "info", resolve, reject }));
  }

  /** The whole object in memory. Use for trees, commits and small blobs. */
  async read(spec: string): Promise<{ info: ObjectInfo; data: Buffer } | undefined> {
    const c = await this.contents(spec, Number.POSITIVE_INFINITY);
    return c && { info: c.info, data: c.data! };
  }

  /**
   * The object as a stream. The caller must consume it to the end (or destroy it, which makes
   * this process dirty) before the answers to later commands can arrive.
   */
  async stream(spec: string): Promise<{ info: ObjectInfo; body: Readable } | undefined> {
    const c = await this.contents(spec, -1);
    return c && { info: c.info, body: c.body! };
  }

  /**
   * The object in memory if it has at most `maxBuffered` bytes; a larger one is streamed (see
   * `stream`) or, with `large: "skip"`, read past and answered with its header only.
   */
  contents(
    spec: string,
    maxBuffered: number,
    large: "stream" | "skip" = "stream",
  ): Promise<ObjectContent | undefined> {
    return new Promise((resolve, reject) =>
      this.send("contents", spec, { kind: "contents", maxBuffered, large, resolve, reject }),
    );
  }

  /** Alive, clean and with nothing outstanding: safe to hand to the next caller. */
  get reusable(): boolean {
    return !this.dead && !this.dirty && this.queue.length === 0 && this.current === undefined;
  }

  /** Alive and not dirty: whatever is still outstanding will be answered in order. */
  get clean(): boolean {
    return !this.dead && !this.dirty;
  }

  get alive(): boolean {
    return !this.dead;
  }

  markDirty(): void {
    this.dirty = true;
    this.resume(); // keep draining into the void so nothing waits on a paused pipe
  }

  /** Graceful for an idle process (EOF on stdin), forceful otherwise. */
  close(): void {
    if (this.dead) return;
    if (this.reusable) this.child.stdin.end();
    else this.child.kill("SIGKILL");
    this.fail(new CatFileError("cat-file closed"));
  }

  /** Resolves when the process has exited. */
  exited(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => this.child.once("exit", () => resolve()));
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.child.stdout.resume();
    this.pump();
  }

  private send(command: string, spec: string, pending: Pending): void {
    // The protocol is line-framed; names are validated upstream, this is the last line of defence.
    const problem =
      this.dead ??
      (/[\n\r\0]/.test(spec) ? new CatFileError("object name contains a line break or NUL") : undefined);
    if (problem) {
      pending.reject(problem);
      return;
    }
    this.queue.push(pending);
    // One write per turn of the event loop for all commands issued in it: a write to the pipe
    // (and the wake-up of git it causes) is the dominant cost of a small read.
    if (this.outgoing === "") setImmediate(() => this.flush());
    this.outgoing += `${command} ${spec}\n`;
  }

  private flush(): void {
    const out = this.outgoing;
    this.outgoing = "";
    if (out !== "" && !this.dead) this.child.stdin.write(out);
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.dead && !this.paused && this.step()) {}
    } catch (err) {
      this.fail(err as Error);
      this.child.kill("SIGKILL");
    } finally {
      this.pumping = false;
    }
  }

  /** Parses what it can from the buffer; false when it needs more input. */
  private step(): boolean {
    const cur = this.current;
    if (cur) return this.stepContent(cur);
    const nl = this.buf.indexOf(10);
    if (nl < 0) return false;
    const line = this.buf.toString("latin1", 0, nl);
    this.buf = this.buf.subarray(nl + 1);
    const pending = this.queue.shift();
    if (!pending) throw new CatFileError(`cat-file sent an unexpected line: ${line.slice(0, 100)}`);
    this.lastUsed = Date.now();
    const m = HEADER.exec(line);
    if (!m) {
      if (!/ (missing|ambiguous)$/.test(line))
        throw new CatFileError(`cat-file protocol error: ${line.slice(0, 200)}`);
      pending.resolve(undefined);
      return true;
    }
    const info: ObjectInfo = { oid: m[1]!, type: m[2] as ObjectType, size: Number(m[3]) };
    if (pending.kind === "info") {
      pending.resolve(info);
      return true;
    }
    const next: Current = { pending, info, remaining: info.size, filled: 0 };
    if (info.size <= pending.maxBuffered) next.data = Buffer.allocUnsafe(info.size);
    else if (pending.large === "stream") {
      next.body = new ObjectBody(this);
      pending.resolve({ info, body: next.body });
    } else pending.resolve({ info }); // skipped: its bytes are read past below
    this.current = next;
    return true;
  }

  private stepContent(cur: Current): boolean {
    if (cur.remaining > 0) {
      if (this.buf.length === 0) return false;
      const n = Math.min(cur.remaining, this.buf.length);
      const piece = this.buf.subarray(0, n);
      this.buf = this.buf.length === n ? EMPTY : this.buf.subarray(n);
      cur.remaining -= n;
      if (cur.data) {
        piece.copy(cur.data, cur.filled);
        cur.filled += n;
      } else if (cur.body && !cur.body.destroyed && !cur.body.push(piece)) {
        this.paused = true;
        this.child.stdout.pause();
      }
      return true;
    }
    if (this.buf.length === 0) return false;
    if (this.buf[0] !== 10)
      throw new CatFileError("cat-file protocol error: object not followed by a newline");
    this.buf = this.buf.subarray(1);
    this.current = undefined;
    this.lastUsed = Date.now();
    if (cur.data) cur.pending.resolve({ info: cur.info, data: cur.data });
    else if (cur.body && !cur.body.destroyed) cur.body.push(null);
    return true;
  }

  private fail(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    this.outgoing = "";
    const cur = this.current;
    this.current = undefined;
    if (cur?.body) cur.body.destroy(err);
    else if (cur?.data) cur.pending.reject(err);
    for (const p of this.queue.splice(0)) p.reject(err);
    if (this.paused) this.child.stdout.resume();
    this.onExit(this);
  }
}
