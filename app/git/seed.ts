/**
 * The demo repository `demo/hello`, seeded on first start (PLUE_SEED_DEMO) so the file
 * endpoints and the UI work right away. Idempotent and safe when replicas start together: the
 * user and row are created if missing, and the commit is deterministic, so a second writer
 * produces the same commit id.
 */
import fs from "node:fs";
import type { Db } from "../db";
import { git } from "./exec";
import { RepoExistsError, type RepoStore, type Repository } from "./repos";
import { writeCommit } from "./write";

export const DEMO_OWNER = "demo";
export const DEMO_REPO = "hello";

const FILES: Record<string, string> = {
  "README.md": `# hello

A small demo repository seeded by Plue on first start.

- \`src/index.ts\` prints a greeting
- \`src/lib/greet.ts\` builds it
- \`docs/guide.md\` explains how to browse this repository through the API

Try:

    curl $PLUE/api/demo/hello/refs/main
    curl $PLUE/api/demo/hello/tree/<commit>/
    curl $PLUE/api/demo/hello/blob/<commit>/README.md
`,
  "src/index.ts": `import { greet } from "./lib/greet";

console.log(greet(process.argv[2] ?? "world"));
`,
  "src/lib/greet.ts": `/** Builds a friendly greeting. */
export function greet(name: string): string {
  return \`Hello, \${name}!\`;
}
`,
  "docs/guide.md": `# Browsing by commit

Resolve a ref once (\`GET /api/demo/hello/refs/main\`), then read trees and blobs by that
commit id. Those answers never change, so browsers and the edge cache them for a year.
`,
  "package.json": `${JSON.stringify({ name: "hello", version: "1.0.0", type: "module", private: true }, null, 2)}\n`,
};

export async function seedDemo(db: Db, repos: RepoStore): Promise<Repository> {
  await db.query("INSERT INTO users (username) VALUES ($1) ON CONFLICT (username) DO NOTHING", [DEMO_OWNER]);
  const owner = (
    await db.query<{ id: number }>("SELECT id::int AS id FROM users WHERE username = $1", [DEMO_OWNER])
  ).rows[0]!;
  let repo: Repository | undefined;
  try {
    repo = await repos.create({ id: owner.id, username: DEMO_OWNER }, { name: DEMO_REPO });
  } catch (err) {
    if (!(err instanceof RepoExistsError)) throw err;
    repo = await repos.find(DEMO_OWNER, DEMO_REPO);
  }
  if (!repo) throw new Error("demo repository vanished while seeding");
  const gitDir = repos.gitDir(repo);
  if (!fs.existsSync(gitDir)) throw new Error(`demo repository has a row but no directory at ${gitDir}`);
  const hasBranch = await git(["rev-parse", "--verify", "--quiet", `refs/heads/${repo.defaultBranch}`], {
    gitDir,
  }).then(
    () => true,
    () => false,
  );
  if (!hasBranch) {
    await writeCommit(gitDir, { branch: repo.defaultBranch, message: "Initial commit\n", files: FILES });
  }
  return repo;
}
