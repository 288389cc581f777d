/**
 * Server-sent events on an Express response: headers that keep proxies from buffering or
 * compressing, a `retry:` hint, heartbeat comments, and a bound on what a slow client may queue.
 * Framing only; what the events mean is the caller's business.
 */
import type { Response } from "express";
import type { StreamEvent } from "../wire/protocol";

export interface SseOptions {
  /** Interval of `: heartbeat` comments, so proxies and load balancers keep the stream open. */
  heartbeatMs: number;
  /** The client's reconnect delay (`retry:`). */
  retryMs: number;
  /**
   * A client that stops reading is cut off once this much is queued for it. Nothing is lost:
   * it reconnects with Last-Event-ID and the log replays the rest.
   */
  maxBufferedBytes: number;
}

export const DEFAULT_SSE: SseOptions = { heartbeatMs: 15_000, retryMs: 1_000, maxBufferedBytes: 4 << 20 };

/** `id:`, `event:` and one `data:` line (JSON never contains a raw newline). */
export function encodeEvent(e: StreamEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}

export class SseWriter {
  private heartbeat?: NodeJS.Timeout;
  private ended = false;
  private readonly closeHooks: Array<() => void> = [];

  constructor(
    private readonly res: Response,
    private readonly options: SseOptions,
  ) {
    res.on("close", () => this.finish());
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Sends the headers and the retry hint; starts heartbeats. */
  open(): void {
    const { res } = this;
    res.req.socket.setNoDelay(true);
    res.req.socket.setTimeout(0);
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      // no-transform: an intermediary must not compress or otherwise rewrite (and so buffer) it.
      "Cache-Control": "no-cache, no-transform",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    res.write(`retry: ${this.options.retryMs}\n: stream open\n\n`);
    this.heartbeat = setInterval(() => this.comment("heartbeat"), this.options.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Writes one pre-encoded frame; cuts the client off if it is too far behind. */
  write(frame: string): void {
    if (this.ended) return;
    this.res.write(frame);
    if (this.res.writableLength > this.options.maxBufferedBytes) this.res.destroy();
  }

  comment(text: string): void {
    this.write(`: ${text}\n\n`);
  }

  /**
   * Ends the stream cleanly (the client sees EOF). `closeConnection` also closes the keep-alive
   * connection once the end is flushed: on shutdown, so it does not hold the server open.
   */
  end(closeConnection = false): void {
    if (this.ended) return;
    const socket = this.res.socket;
    if (closeConnection) this.res.once("finish", () => socket?.end());
    this.res.end();
    this.finish();
  }

  /** Runs once when the stream ends, whichever side ends it. */
  onClose(hook: () => void): void {
    if (this.ended) hook();
    else this.closeHooks.push(hook);
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.heartbeat);
    for (const hook of this.closeHooks.splice(0)) hook();
  }
}
