/**
 * "The disk is full", however it reaches us: Node's ENOSPC / EDQUOT, PostgreSQL's SQLSTATE
 * 53100 `disk_full` (PGlite reports it the same way), PGlite's Emscripten file system (an
 * `ErrnoError` with errno 51 = ENOSPC or 19 = EDQUOT in its numbering), or git's stderr.
 */

/** ENOSPC / EDQUOT as git and the C library print them. */
export const DISK_FULL_TEXT = /No space left on device|Disk quota exceeded/i;

/** Emscripten's errno values (node_modules/@electric-sql/pglite/dist: `ENOSPC:51`, `EDQUOT:19`). */
const EMSCRIPTEN_DISK_FULL = new Set([51, 19]);

export function isDiskFull(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== "object" || depth > 4) return false;
  const e = err as { code?: unknown; name?: unknown; errno?: unknown; stderr?: unknown; cause?: unknown };
  if (e.code === "ENOSPC" || e.code === "EDQUOT" || e.code === "53100") return true;
  if (e.name === "ErrnoError" && typeof e.errno === "number" && EMSCRIPTEN_DISK_FULL.has(e.errno))
    return true;
  if (typeof e.stderr === "string" && DISK_FULL_TEXT.test(e.stderr)) return true;
  return isDiskFull(e.cause, depth + 1);
}

/** Thrown in place of a disk-full error where a clear sentence helps (a start, say). */
export class DiskFullError extends Error {
  readonly code = "ENOSPC";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DiskFullError";
  }
}
