/**
 * Git's pkt-line framing (4 hex digits of length including themselves, `0000` = flush), parsed
 * incrementally from a stream. Used to read the ref updates a client sends to receive-pack and
 * the per-ref report (`ok <ref>` / `ng <ref> <why>`) receive-pack sends back, while both stream
 * through untouched.
 */

const EMPTY = Buffer.alloc(0);

/** `null` stands for a flush/delim/response-end packet. Return false to stop parsing. */
export type PacketHandler = (payload: Buffer | null) => boolean | undefined;

export class PktLineParser {
  private buf: Buffer = EMPTY;
  private stopped = false;
  /** Why the input is not pkt-line framed, once it turned out not to be. */
  malformed: string | undefined;

  constructor(private readonly onPacket: PacketHandler) {}

  get done(): boolean {
    return this.stopped;
  }

  /** Bytes of an incomplete packet still waiting for the rest of it. */
  get buffered(): number {
    return this.buf.length;
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (!this.stopped && this.buf.length >= 4) {
      const head = this.buf.toString("latin1", 0, 4);
      const len = Number.parseInt(head, 16);
      if (!/^[0-9a-f]{4}$/i.test(head) || len === 3) {
        // Not pkt-line framed: stop looking rather than guess.
        this.malformed = `invalid pkt-line length ${JSON.stringify(head)}`;
        this.stopped = true;
        return;
      }
      if (len <= 2) {
        this.buf = this.buf.subarray(4);
        if (this.onPacket(null) === false) this.stopped = true;
        continue;
      }
      if (this.buf.length < len) return;
      const payload = this.buf.subarray(4, len);
      this.buf = this.buf.subarray(len);
      if (this.onPacket(payload) === false) this.stopped = true;
    }
  }

  stop(): void {
    this.stopped = true;
    this.buf = EMPTY;
  }
}

export interface RefUpdate {
  ref: string;
  before: string;
  after: string;
}

const COMMAND = /^([0-9a-f]{40}|[0-9a-f]{64}) ([0-9a-f]{40}|[0-9a-f]{64}) (\S+)$/;

/** The commands at the start of a receive-pack request: `<old> <new> <ref>[\0caps]`, then a flush. */
export class ReceivePackCommands {
  readonly updates: RefUpdate[] = [];
  readonly capabilities = new Set<string>();
  private readonly parser = new PktLineParser((payload) => this.onPacket(payload));
  private first = true;

  get complete(): boolean {
    return this.parser.done;
  }

  get done(): boolean {
    return this.parser.done;
  }

  get buffered(): number {
    return this.parser.buffered;
  }

  /** Why the request is not a receive-pack command list (bad framing), if it is not. */
  get malformed(): string | undefined {
    return this.parser.malformed;
  }

  push(chunk: Buffer): void {
    this.parser.push(chunk);
  }

  private onPacket(payload: Buffer | null): boolean | undefined {
    if (payload === null) return false; // the command list ends at the first flush
    let line = payload.toString("utf8").replace(/\n$/, "");
    const nul = line.indexOf("\0");
    if (nul >= 0) {
      if (this.first) for (const cap of line.slice(nul + 1).split(" ")) if (cap) this.capabilities.add(cap);
      line = line.slice(0, nul);
    }
    this.first = false;
    if (line.startsWith("shallow ")) return true;
    const m = COMMAND.exec(line);
    if (m) this.updates.push({ before: m[1]!, after: m[2]!, ref: m[3]! });
    return true;
  }
}

/**
 * receive-pack's report-status, possibly multiplexed in side-band channel 1. Collects the refs
 * it reports as updated (`ok <ref>`) and whether unpacking succeeded.
 */
export class ReportStatus {
  readonly ok = new Set<string>();
  readonly rejected = new Map<string, string>();
  unpackOk = false;
  private readonly outer: PktLineParser;
  private readonly inner = new PktLineParser((payload) => this.onLine(payload));

  constructor(sideband: boolean) {
    this.outer = sideband
      ? new PktLineParser((payload) => {
          if (payload === null) return false;
          if (payload[0] === 1) this.inner.push(payload.subarray(1));
          return true;
        })
      : this.inner;
  }

  push(chunk: Buffer): void {
    this.outer.push(chunk);
  }

  private onLine(payload: Buffer | null): boolean | undefined {
    if (payload === null) return false;
    const line = payload.toString("utf8").replace(/\n$/, "");
    if (line.startsWith("unpack ")) this.unpackOk = line === "unpack ok";
    else if (line.startsWith("ok ")) this.ok.add(line.slice(3));
    else if (line.startsWith("ng ")) {
      const rest = line.slice(3);
      const sp = rest.indexOf(" ");
      this.rejected.set(sp < 0 ? rest : rest.slice(0, sp), sp < 0 ? "" : rest.slice(sp + 1));
    }
    return true;
  }
}
