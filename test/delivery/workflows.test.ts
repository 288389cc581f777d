/** GitHub Actions workflows, validated by GitHub's own parser, and their job graph. */
import fs from "node:fs";
import path from "node:path";
import { NoOperationTraceWriter, parseWorkflow } from "@actions/workflow-parser";
import YAML from "yaml";

const DIR = ".github/workflows";
const files = fs.readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f));

type Job = {
  needs?: string | string[];
  if?: string;
  environment?: string | { name: string };
  steps: Array<Record<string, unknown>>;
};
const load = (f: string) =>
  YAML.parse(fs.readFileSync(path.join(DIR, f), "utf8")) as { jobs: Record<string, Job> };
const needsOf = (j: Job) => (j.needs === undefined ? [] : Array.isArray(j.needs) ? j.needs : [j.needs]);

/** Every job that `job` transitively depends on. */
function ancestors(jobs: Record<string, Job>, job: string, seen = new Set<string>()): Set<string> {
  for (const n of needsOf(jobs[job]!)) {
    if (!seen.has(n)) {
      seen.add(n);
      ancestors(jobs, n, seen);
    }
  }
  return seen;
}

it("there are CI and deploy workflows", () => {
  expect(files.sort()).toEqual(["ci.yaml", "deploy.yaml"]);
});

describe.each(files)("%s", (file) => {
  it("passes GitHub's workflow parser without errors", () => {
    const content = fs.readFileSync(path.join(DIR, file), "utf8");
    const result = parseWorkflow({ name: file, content }, new NoOperationTraceWriter());
    expect(result.context.errors.getErrors().map((e) => e.message)).toEqual([]);
  });

  it("names only jobs that exist in needs, without cycles", () => {
    const { jobs } = load(file);
    for (const [name, job] of Object.entries(jobs)) {
      for (const n of needsOf(job)) expect(Object.keys(jobs)).toContain(n);
      expect(ancestors(jobs, name).has(name)).toBe(false);
    }
  });

  it("pins every action to a version", () => {
    const { jobs } = load(file);
    for (const job of Object.values(jobs))
      for (const step of job.steps) if (typeof step.uses === "string") expect(step.uses).toMatch(/@v\d+/);
  });
});

it("the parser is strict enough to catch a mistake", () => {
  const bad =
    "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n        withh: {}\n";
  const result = parseWorkflow({ name: "bad.yaml", content: bad }, new NoOperationTraceWriter());
  expect(result.context.errors.getErrors().length).toBeGreaterThan(0);
});

describe("deploy.yaml", () => {
  const { jobs } = load("deploy.yaml");
  const text = fs.readFileSync(path.join(DIR, "deploy.yaml"), "utf8");

  it("every deploy needs the tests and the images", () => {
    for (const name of ["staging", "production"]) {
      const deps = ancestors(jobs, name);
      expect(deps.has("test")).toBe(true);
      expect(deps.has("images")).toBe(true);
    }
  });

  it("production runs only from main, behind the production environment", () => {
    expect(jobs.production!.if).toContain("refs/heads/main");
    expect(jobs.production!.environment).toBe("production");
  });

  it("staging/<engineer> deploys staging-<engineer>", () => {
    expect(jobs.staging!.if).toContain("refs/heads/staging/");
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion in the workflow, not a JS template
    expect(text).toContain("staging-${GITHUB_REF_NAME#staging/}");
  });

  it("images are tagged with the commit and passed by digest, never latest", () => {
    expect(text).not.toMatch(/:latest\b/);
    expect(text).toMatch(/plue-app:\$\{\{ github\.sha \}\}/);
    expect(text).toMatch(/@\$\{\{ steps\.app\.outputs\.digest \}\}/);
  });
});

describe("ci.yaml", () => {
  const { jobs } = load("ci.yaml");
  it("runs the README's test command and the offline synth", () => {
    const runs = (j: Job) => j.steps.map((s) => String(s.run ?? "")).join("\n");
    expect(runs(jobs.test!)).toContain("./scripts/test.sh");
    expect(runs(jobs.synth!)).toContain("npm run synth -- --all");
  });

  it("previews only after tests and synth, and says so when credentials are missing", () => {
    expect(ancestors(jobs, "preview")).toEqual(new Set(["test", "synth"]));
    const text = fs.readFileSync(path.join(DIR, "ci.yaml"), "utf8");
    expect(text).toContain("::notice");
    expect(text).toContain("comment-on-pr: true");
  });
});
