#!/usr/bin/env node
// The git plumbing of pull requests on a big repository: mergeability (goal < 200 ms on 10,000
// commits), the files of a 500-file diff (page 1 of 100 files, goal < 300 ms; and all 5 pages),
// and the commit list.
//
//   npx tsx bench/pulls-git.mjs [--runs 15] [--rebuild]
//
// Fixture (built once with `git fast-import`, cached in $PLUE_BENCH_DIR or /tmp/plue-bench-pulls-git):
// `main` has 10,000 commits over a tree of 2,000 files; `feature` forks at commit 9,900 and changes
// 500 files in 20 commits (some renamed, some added, one binary) while `main` moves on by 100
// commits that touch other files. Nothing is started that outlives this process.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";

const { diffFiles, listCommits, mergeBase } = await import("../app/git/diff.ts");
const { mergeability, mergeCommits } = await import("../app/git/merge.ts");

const { values: args } = parseArgs({
  options: { runs: { type: "string", default: "15" }, rebuild: { type: "boolean", default: false } },
});
const RUNS = Number(args.runs);
const DIR = path.join(
  process.env.PLUE_BENCH_DIR ?? path.join(os.tmpdir(), "plue-bench-pulls-git"),
  "repo.git",
);
const COMMITS = 10_000;
const FILES = 2_000;
const FORK = 9_900;
const log = (msg) => process.stderr.write(`pulls-git: ${msg}\n`);
const git = (argv, input) =>
  execFileSync("git", [`--git-dir=${DIR}`, ...argv], {
    input,
    maxBuffer: 1 << 30,
    env: {
      PATH: process.env.PATH,
      HOME: "/nonexistent",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
    },
  }).toString();

const fileName = (i) => `src/m${String(i % 100).padStart(2, "0")}/file${i}.txt`;
const body = (i, rev) => {
  let s = "";
  for (let l = 0; l < 40; l++) s += `file ${i} line ${l}${l === rev % 40 ? ` rev ${rev}` : ""}\n`;
  return s;
};

function build() {
  fs.rmSync(path.dirname(DIR), { recursive: true, force: true });
  fs.mkdirSync(path.dirname(DIR), { recursive: true });
  execFileSync("git", ["init", "-q", "--bare", "-b", "main", DIR]);
  const parts = [];
  const data = (s) => {
    const b = Buffer.from(s);
    parts.push(`data ${b.length}\n`, b, "\n");
  };
  const commit = (ref, mark, n, from) => {
    parts.push(`commit ${ref}\nmark :${mark}\n`);
    parts.push(`author Bench <bench@example.com> ${1_700_000_000 + n} +0000\n`);
    parts.push(`committer Bench <bench@example.com> ${1_700_000_000 + n} +0000\n`);
    data(`commit ${n}\n`);
    if (from) parts.push(`from :${from}\n`);
  };
  const put = (p, content) => {
    parts.push(`M 100644 inline ${p}\n`);
    data(content);
  };
  commit("refs/heads/main", 1, 1);
  for (let i = 0; i < FILES; i++) put(fileName(i), body(i, 0));
  // main: each commit edits one of the first 1,500 files (the feature branch edits the others).
  for (let n = 2; n <= COMMITS; n++) {
    commit("refs/heads/main", n, n, n - 1);
    put(fileName(n % 1500), body(n % 1500, n));
  }
  // feature: 500 changed files in 20 commits, forked at FORK
  const feature = [];
  for (let k = 0; k < 500; k++) feature.push(1500 + k);
  for (let c = 0; c < 20; c++) {
    commit("refs/heads/feature", COMMITS + 1 + c, COMMITS + 1 + c, c === 0 ? FORK : COMMITS + c);
    for (const i of feature.slice(c * 25, c * 25 + 25)) {
      if (i % 50 === 0) {
        parts.push(`D ${fileName(i)}\n`); // a rename: same content under a new name
        put(`renamed/${fileName(i)}`, `${body(i, 0)}one more line\n`);
      } else if (i % 97 === 0) put(`added/new${i}.txt`, `new file ${i}\n`.repeat(30));
      else put(fileName(i), body(i, 7 + c).replace("line 3\n", `line 3 changed in ${c}\n`));
    }
  }
  // oldfork: a small branch forked at commit 100, so the merge base is 9,900 commits deep
  commit("refs/heads/oldfork", COMMITS + 30, COMMITS + 30, 100);
  put("oldfork.txt", "old fork\n");
  commit("refs/heads/feature", COMMITS + 21, COMMITS + 21, COMMITS + 20);
  parts.push("M 100644 inline assets/logo.bin\n");
  const bin = Buffer.alloc(4096, 1);
  bin[10] = 0;
  parts.push(`data ${bin.length}\n`, bin, "\n");
  parts.push("done\n");
  git(
    ["fast-import", "--quiet", "--done"],
    Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p)))),
  );
  git(["repack", "-adq"]);
}

async function time(name, fn) {
  await fn(); // warm the page cache and git's pack index
  const samples = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)];
  console.log(
    `${name.padEnd(34)} median ${median.toFixed(1).padStart(7)} ms   min ${samples[0].toFixed(1)}   max ${samples.at(-1).toFixed(1)}`,
  );
  return median;
}

if (
  args.rebuild ||
  !fs.existsSync(path.join(DIR, "refs/heads")) ||
  !fs.existsSync(path.join(DIR, "packed-refs")) ||
  !fs.readFileSync(path.join(DIR, "packed-refs"), "utf8").includes("refs/heads/oldfork")
) {
  log(`building ${DIR} (${COMMITS} commits)…`);
  const t = performance.now();
  build();
  log(`built in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
const main = git(["rev-parse", "refs/heads/main"]).trim();
const head = git(["rev-parse", "refs/heads/feature"]).trim();
const count = git(["rev-list", "--count", "main"]).trim();
const oldfork = git(["rev-parse", "refs/heads/oldfork"]).trim();
const root = git(["rev-list", "--max-parents=0", "main"]).trim();
const base = await mergeBase(DIR, main, head);
const first = await diffFiles(DIR, base, head, { page: 1, perPage: 100 });
const m = await mergeability(DIR, main, head);
console.log(
  `repository: ${count} commits on main; diff: ${first.total} files, +${first.additions} -${first.deletions}; mergeable: ${m.clean}; ${RUNS} runs each`,
);

const results = {
  mergeability: await time("mergeability (merge-tree)", () => mergeability(DIR, main, head)),
  mergeBase: await time("mergeBase", () => mergeBase(DIR, main, head)),
  mergeabilityOld: await time("mergeability, base 9,900 deep", () => mergeability(DIR, main, oldfork)),
  page1: await time("diffFiles page 1 (100 files)", () =>
    diffFiles(DIR, base, head, { page: 1, perPage: 100 }),
  ),
  allPages: await time("diffFiles all 5 pages", async () => {
    for (let page = 1; page <= 5; page++) await diffFiles(DIR, base, head, { page, perPage: 100 });
  }),
  squash: await time("mergeCommits squash (+ update-ref)", async () => {
    git(["update-ref", "refs/heads/bench-target", main]);
    const who = { name: "Bench", email: "bench@example.com" };
    await mergeCommits(DIR, {
      method: "squash",
      ref: "refs/heads/bench-target",
      expectedOld: main,
      head,
      author: who,
      committer: who,
      title: "bench",
    });
  }),
  listCommits: await time("listCommits (21 commits)", () => listCommits(DIR, base, head)),
  listCommitsLong: await time("listCommits (9,999, first 250)", () => listCommits(DIR, root, main)),
};
// the merges' commits are unreachable once the target branch goes: drop them
git(["update-ref", "-d", "refs/heads/bench-target"]);
git(["prune", "--expire=now"]);
const goals = { mergeability: 200, mergeabilityOld: 200, page1: 300 };
for (const [k, goal] of Object.entries(goals))
  console.log(`${k}: ${results[k].toFixed(1)} ms (goal < ${goal} ms) ${results[k] < goal ? "ok" : "MISSED"}`);
