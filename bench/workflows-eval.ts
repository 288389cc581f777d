/**
 * Evaluation time of the example workflows (goal: median under 5 ms per file).
 *
 *   npx tsx bench/workflows-eval.ts [iterations]
 *
 * "full" is what a cache miss costs (parse, module level, prompts, trigger match, body, validation);
 * "plan" is a cache hit (the body and validation only, on an already loaded file).
 */
import fs from "node:fs";
import path from "node:path";
import {
  evaluateWorkflow,
  loadWorkflows,
  type WorkflowEventInput,
  type WorkflowFile,
} from "../app/workflows/index";

const root = path.resolve(import.meta.dirname, "../examples/workflows/.plue");
const iterations = Number(process.argv[2] ?? 200);
const sha = (c: string) => c.repeat(40);
const events: Record<string, WorkflowEventInput> = {
  "hello.py": { kind: "push", ref: "refs/heads/main", before: sha("a"), after: sha("b") },
  "ci.py": {
    kind: "pull_request",
    action: "opened",
    number: 1,
    base: "main",
    head: "feature",
    head_sha: sha("b"),
  },
  "matrix.py": {
    kind: "push",
    ref: "refs/heads/main",
    before: sha("a"),
    after: sha("b"),
    paths: ["src/x.ts"],
  },
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(fn: () => void): number[] {
  for (let i = 0; i < 20; i++) fn(); // warm up the JIT
  const out: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t = performance.now();
    fn();
    out.push(performance.now() - t);
  }
  return out;
}

console.log(`workflow evaluation, ${iterations} iterations each (ms)`);
console.log("file        full median   full p95   plan median");
for (const name of fs.readdirSync(path.join(root, "workflows")).sort()) {
  const file: WorkflowFile = {
    path: `.plue/workflows/${name}`,
    source: fs.readFileSync(path.join(root, "workflows", name), "utf8"),
    readPrompt: (n) => {
      const p = path.join(root, "prompts", `${n}.md`);
      return fs.existsSync(p) ? fs.readFileSync(p, "utf8") : undefined;
    },
  };
  const event = events[name] ?? events["hello.py"]!;
  const check = evaluateWorkflow({ ...file, event });
  if (!check.ok || check.workflows.length === 0) throw new Error(`${name} does not evaluate to a plan`);
  const full = time(() => evaluateWorkflow({ ...file, event }));
  const loaded = loadWorkflows(file);
  if (!loaded.ok) throw new Error(`${name} does not load`);
  const workflowName = loaded.file.workflows[0]!.name;
  const plan = time(() => loaded.file.plan(workflowName, event));
  const sorted = [...full].sort((a, b) => a - b);
  const p95 = sorted[Math.floor(sorted.length * 0.95)]!;
  console.log(
    `${name.padEnd(12)}${median(full).toFixed(3).padStart(11)}${p95.toFixed(3).padStart(11)}${median(plan).toFixed(3).padStart(14)}`,
  );
}
