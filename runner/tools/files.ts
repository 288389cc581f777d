/** File tools, run by the runner itself over the workspace with every path confined (./paths). */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { chownTree } from "../sandbox/index";
import { displayPath, resolveInWorkspace, ToolInputError } from "./paths";
import { fail, ok, type Tool, type ToolContext } from "./types";

/** Files larger than this are refused by read_file and edit_file (the model gets a clear error). */
export const MAX_FILE_BYTES = 2 * 1024 * 1024;
const MAX_LIST_ENTRIES = 500;

function readText(full: string, given: string): string {
  const st = fs.statSync(full);
  if (st.isDirectory()) throw new ToolInputError(`${given} is a directory; use list_files`);
  if (!st.isFile()) throw new ToolInputError(`${given} is not a regular file`);
  if (st.size > MAX_FILE_BYTES) {
    throw new ToolInputError(
      `${given} is ${st.size} bytes; read_file handles up to ${MAX_FILE_BYTES} (use grep or bash)`,
    );
  }
  const buf = fs.readFileSync(full);
  if (buf.subarray(0, 8192).includes(0)) throw new ToolInputError(`${given} looks binary; not shown`);
  return buf.toString("utf8");
}

/** Gives files the tools create to the sandbox's host user, so commands can change them too. */
function ownForSandbox(ctx: ToolContext, created: string | undefined, file: string): void {
  const owner = ctx.sandbox.fileOwner;
  if (!owner) return;
  if (created) chownTree(created, owner);
  fs.lchownSync(file, owner.uid, owner.gid);
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
    const full = resolveInWorkspace(ctx.root, input.path);
    const text = readText(full, input.path);
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
    const full = resolveInWorkspace(ctx.root, input.path);
    if (fs.statSync(full, { throwIfNoEntry: false })?.isDirectory()) {
      throw new ToolInputError(`${input.path} is a directory`);
    }
    const created = fs.mkdirSync(path.dirname(full), { recursive: true });
    fs.writeFileSync(full, input.content);
    ownForSandbox(ctx, created, full);
    return ok(`wrote ${Buffer.byteLength(input.content)} bytes to ${displayPath(ctx.root, full)}`);
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
    const full = resolveInWorkspace(ctx.root, input.path);
    const text = readText(full, input.path);
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
    fs.writeFileSync(full, next);
    return ok(`replaced ${input.replace_all ? count : 1} occurrence(s) in ${displayPath(ctx.root, full)}`);
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
    const full = resolveInWorkspace(ctx.root, given);
    if (!fs.statSync(full).isDirectory()) throw new ToolInputError(`${given} is not a directory`);
    const out: string[] = [];
    let more = false;
    const walk = (dir: string) => {
      const entries = fs
        .readdirSync(dir, { withFileTypes: true })
        .sort((a, b) => a.name.localeCompare(b.name));
      for (const e of entries) {
        if (out.length >= MAX_LIST_ENTRIES) {
          more = true;
          return;
        }
        const rel = path.relative(full, path.join(dir, e.name));
        if (e.isSymbolicLink()) out.push(`${rel} -> ${fs.readlinkSync(path.join(dir, e.name))}`);
        else if (e.isDirectory()) {
          out.push(`${rel}/`);
          if (input.recursive && e.name !== ".git") walk(path.join(dir, e.name));
        } else out.push(rel);
      }
    };
    walk(full);
    if (out.length === 0) return ok(`(${given} is empty)`);
    if (more) out.push(`[truncated: showing the first ${MAX_LIST_ENTRIES} entries]`);
    return ok(out.join("\n"));
  },
};
