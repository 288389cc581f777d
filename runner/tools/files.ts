/**
 * File tools, run by the runner itself over the workspace. Every path is walked and opened
 * race-free through held directory handles (./paths), every read and write is on the handle, and
 * nothing is synchronous: a FIFO, a device or a huge tree cannot stall the event loop.
 */
import fs from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { z } from "zod";
import {
  heldPath,
  type OpenFile,
  openChildDir,
  openDirectory,
  openFile,
  readLinkAt,
  ToolInputError,
} from "./paths";
import { fail, ok, type Tool, type ToolContext } from "./types";

/** Files larger than this are refused by read_file and edit_file (the model gets a clear error). */
export const MAX_FILE_BYTES = 2 * 1024 * 1024;
const MAX_LIST_ENTRIES = 500;

/** The file's text, read from its handle; refuses big and binary files. */
async function readText(file: OpenFile, given: string): Promise<string> {
  const tooBig = (size: string | number) =>
    new ToolInputError(
      `${given} is ${size} bytes; read_file handles up to ${MAX_FILE_BYTES} (use grep or bash)`,
    );
  if (file.stat.size > MAX_FILE_BYTES) throw tooBig(file.stat.size);
  // Up to one byte more than allowed, so a file that grew since fstat is still measured.
  let buf = Buffer.allocUnsafe(file.stat.size + 1);
  let n = 0;
  for (;;) {
    if (n === buf.length) {
      if (n > MAX_FILE_BYTES) throw tooBig(`more than ${MAX_FILE_BYTES}`);
      buf = Buffer.concat([buf], Math.min(buf.length * 2, MAX_FILE_BYTES + 1));
    }
    const { bytesRead } = await file.handle.read(buf, n, buf.length - n, n);
    if (bytesRead === 0) break;
    n += bytesRead;
  }
  const data = buf.subarray(0, n);
  if (data.subarray(0, 8192).includes(0)) throw new ToolInputError(`${given} looks binary; not shown`);
  return data.toString("utf8");
}

/** Replaces the whole content of an open file. */
async function replaceContent(handle: FileHandle, text: string): Promise<number> {
  const data = Buffer.from(text);
  await handle.truncate(0);
  for (let off = 0; off < data.length; )
    off += (await handle.write(data, off, data.length - off, off)).bytesWritten;
  return data.length;
}

async function withFile<T>(
  ctx: ToolContext,
  given: string,
  mode: "read" | "update" | "write",
  use: (f: OpenFile) => Promise<T>,
) {
  const file = await openFile(ctx.root, given, mode, ctx.sandbox.fileOwner);
  try {
    return await use(file);
  } finally {
    await file.handle.close();
  }
}

const ReadInput = z.object({
  path: z.string().describe("File path relative to the workspace root"),
  offset: z.number().int().min(1).optional().describe("First line to return (1-based)"),
  limit: z.number().int().min(1).optional().describe("Number of lines to return"),
});
export const readFile: Tool<typeof ReadInput> = {
  name: "read_file",
  description: "Read a UTF-8 text file from the workspace. Use offset/limit (lines) for large files.",
  input: ReadInput,
  async run(input, ctx) {
    const text = await withFile(ctx, input.path, "read", (f) => readText(f, input.path));
    if (input.offset === undefined && input.limit === undefined) return ok(text);
    const lines = text.split("\n");
    const start = (input.offset ?? 1) - 1;
    const slice = lines.slice(start, input.limit === undefined ? undefined : start + input.limit);
    return ok(`[lines ${start + 1}-${start + slice.length} of ${lines.length}]\n${slice.join("\n")}`);
  },
};

const WriteInput = z.object({
  path: z.string().describe("File path relative to the workspace root; parent directories are created"),
  content: z.string().describe("The complete new content of the file"),
});
export const writeFile: Tool<typeof WriteInput> = {
  name: "write_file",
  description: "Create or overwrite a file in the workspace with the given content.",
  input: WriteInput,
  async run(input, ctx) {
    const { bytes, rel } = await withFile(ctx, input.path, "write", async (f) => ({
      bytes: await replaceContent(f.handle, input.content),
      rel: f.rel,
    }));
    return ok(`wrote ${bytes} bytes to ${rel}`);
  },
};

const EditInput = z.object({
  path: z.string().describe("File path relative to the workspace root"),
  old_string: z.string().min(1).describe("Exact text to replace, including whitespace"),
  new_string: z.string().describe("Replacement text"),
  replace_all: z.boolean().optional().describe("Replace every occurrence instead of exactly one"),
});
export const editFile: Tool<typeof EditInput> = {
  name: "edit_file",
  description:
    "Replace an exact string in a file. old_string must occur exactly once unless replace_all is true; " +
    "include enough surrounding context to make it unique.",
  input: EditInput,
  async run(input, ctx) {
    // One handle for the read and the write: what is written is the file that was read.
    return withFile(ctx, input.path, "update", async (f) => {
      const text = await readText(f, input.path);
      const count = text.split(input.old_string).length - 1;
      if (count === 0) return fail(`old_string was not found in ${input.path}`);
      if (count > 1 && !input.replace_all) {
        return fail(
          `old_string occurs ${count} times in ${input.path}; add context to make it unique or set replace_all`,
        );
      }
      const next = input.replace_all
        ? text.split(input.old_string).join(input.new_string)
        : text.replace(input.old_string, () => input.new_string);
      await replaceContent(f.handle, next);
      return ok(`replaced ${input.replace_all ? count : 1} occurrence(s) in ${f.rel}`);
    });
  },
};

const ListInput = z.object({
  path: z.string().optional().describe("Directory relative to the workspace root (default: the root)"),
  recursive: z.boolean().optional().describe("List subdirectories too (skips .git)"),
});
export const listFiles: Tool<typeof ListInput> = {
  name: "list_files",
  description: "List the files in a workspace directory; directories end with '/'.",
  input: ListInput,
  async run(input, ctx) {
    const given = input.path ?? ".";
    const top = await openDirectory(ctx.root, given);
    const out: string[] = [];
    let more = false;
    // Each directory is read through its own handle; a subdirectory is entered only if it opens
    // as a real directory (never through a symlink), so a swap meanwhile cannot lead outside.
    const walk = async (dir: FileHandle, prefix: string): Promise<void> => {
      const entries = (await fs.promises.readdir(heldPath(dir), { withFileTypes: true })).sort((a, b) =>
        a.name.localeCompare(b.name),
      );
      for (const e of entries) {
        if (out.length >= MAX_LIST_ENTRIES) {
          more = true;
          return;
        }
        const rel = prefix + e.name;
        if (e.isSymbolicLink()) out.push(`${rel} -> ${await readLinkAt(dir, e.name).catch(() => "?")}`);
        else if (e.isDirectory()) {
          out.push(`${rel}/`);
          if (!input.recursive || e.name === ".git") continue;
          const sub = await openChildDir(dir, e.name);
          if (!sub) continue; // replaced by something else since readdir
          try {
            await walk(sub, `${rel}/`);
          } finally {
            await sub.close();
          }
        } else out.push(rel);
      }
    };
    try {
      await walk(top.handle, "");
    } finally {
      await top.handle.close();
    }
    if (out.length === 0) return ok(`(${given} is empty)`);
    if (more) out.push(`[truncated: showing the first ${MAX_LIST_ENTRIES} entries]`);
    return ok(out.join("\n"));
  },
};
