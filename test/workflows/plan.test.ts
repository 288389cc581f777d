/** The plan DAG schema shared with the runner: validation, and the helpers the runner resolves values with. */
import {
  collectRefs,
  PLAN_LIMITS,
  type Plan,
  renderTemplate,
  resolveValue,
  type Step,
  stepOutputs,
  stringify,
} from "../../app/wire/plan";
import { stepOrder, validateJson, validatePlan } from "../../app/wire/plan-check";

const run = (
  name: string,
  needs: string[] = [],
  cmd: Step extends never ? never : unknown = `echo ${name}`,
): Step => ({
  kind: "run",
  name,
  needs,
  timeout_seconds: 60,
  retries: 0,
  cmd: cmd as string,
  env: {},
});

function base(): Plan {
  return {
    version: 1,
    name: "ci",
    triggers: [{ kind: "push", branches: ["main"] }],
    timeout_seconds: 3600,
    concurrency: null,
    steps: [
      run("install"),
      run("test", ["install"]),
      {
        kind: "git_diff",
        name: "diff",
        needs: [],
        timeout_seconds: 60,
        retries: 0,
        base: "main",
        head: null,
      },
      {
        kind: "agent",
        name: "review",
        needs: ["diff", "test"],
        timeout_seconds: 600,
        retries: 1,
        prompt: {
          name: "CodeReview",
          model: null,
          tools: ["read_file"],
          max_turns: 10,
          template: "Review {{diff}}",
          output_schema: {
            type: "object",
            properties: { approved: { type: "boolean" } },
            required: ["approved"],
          },
        },
        inputs: { diff: { $ref: "diff.diff" }, note: { $concat: ["exit ", { $ref: "test.exit_code" }] } },
      },
    ],
    result: { status: "success", message: null, outputs: { approved: { $ref: "review.approved" } } },
  };
}

function errorsOf(mutate: (p: Plan) => void): string[] {
  const plan = base();
  mutate(plan);
  const r = validatePlan(plan);
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
}

describe("validatePlan", () => {
  it("accepts a valid plan and orders its steps after their needs", () => {
    const r = validatePlan(base());
    expect(r).toEqual({ ok: true, plan: base() });
    expect(stepOrder(base())).toEqual(["install", "test", "diff", "review"]);
  });

  it("rejects duplicate step names", () => {
    expect(errorsOf((p) => p.steps.push(run("test")))).toEqual(['steps[4].name: duplicate step name "test"']);
  });

  it("rejects unknown, self and repeated needs", () => {
    expect(errorsOf((p) => (p.steps[1]!.needs = ["nope"]))).toContain(
      'steps[1].needs: needs unknown step "nope"',
    );
    expect(errorsOf((p) => (p.steps[1]!.needs = ["test"]))).toEqual([
      'steps[1].needs: step "test" needs itself',
    ]);
    expect(errorsOf((p) => (p.steps[1]!.needs = ["install", "install"]))).toEqual([
      'steps[1].needs: "install" is listed twice',
    ]);
  });

  it("rejects cycles through needs", () => {
    expect(errorsOf((p) => (p.steps[0]!.needs = ["test"]))).toEqual([
      "steps[0].needs: dependency cycle: install → test → install",
    ]);
    const three = errorsOf((p) => {
      p.steps = [run("a", ["c"]), run("b", ["a"]), run("c", ["b"])];
      p.result.outputs = {};
    });
    expect(three).toEqual(["steps[0].needs: dependency cycle: a → c → b → a"]);
  });

  it("rejects references to unknown steps or outputs, or to steps not in needs", () => {
    expect(
      errorsOf((p) => ((p.steps[3] as Step & { kind: "agent" }).inputs.diff = { $ref: "dif.diff" })),
    ).toContain('steps[3].inputs.diff: reference to unknown step "dif"');
    expect(
      errorsOf((p) => ((p.steps[3] as Step & { kind: "agent" }).inputs.diff = { $ref: "diff.patch" })),
    ).toEqual(['steps[3].inputs.diff: step "diff" has no output "patch" (outputs: diff)']);
    expect(errorsOf((p) => (p.steps[3]!.needs = ["diff"]))).toEqual([
      'steps[3].inputs.note: references "test.exit_code" but does not list "test" in needs',
    ]);
    expect(errorsOf((p) => (p.result.outputs.approved = { $ref: "review.aproved" }))).toEqual([
      'result.outputs.approved: step "review" has no output "aproved" (outputs: approved)',
    ]);
  });

  it("enforces the schema and its bounds", () => {
    expect(errorsOf((p) => ((p as { version: number }).version = 2))).toEqual([
      "version: Invalid input: expected 1",
    ]);
    expect(errorsOf((p) => (p.steps[0]!.timeout_seconds = PLAN_LIMITS.maxTimeoutSeconds + 1))[0]).toMatch(
      /^steps\[0\]\.timeout_seconds: Too big/,
    );
    expect(errorsOf((p) => (p.steps[0]!.retries = 6))[0]).toMatch(/^steps\[0\]\.retries: Too big/);
    expect(errorsOf((p) => (p.steps[0]!.name = "has.dot"))[0]).toMatch(/^steps\[0\]\.name: step names use/);
    expect(errorsOf((p) => (p.triggers = []))[0]).toMatch(/^triggers: Too small/);
    expect(errorsOf((p) => (p.steps = Array.from({ length: 257 }, (_, i) => run(`s${i}`))))[0]).toMatch(
      /^steps: Too big/,
    );
    expect(errorsOf((p) => ((p.steps[0] as Step & { kind: "run" }).env = { $ref: "x" }))).toContain(
      'steps[0].env.$ref: env names are like NODE_ENV, not "$ref"',
    );
    expect(errorsOf((p) => ((p.steps[0] as Step & { kind: "run" }).cmd = { $weird: 1 } as never))[0]).toMatch(
      /^steps\[0\]\.cmd/,
    );
    expect(errorsOf((p) => ((p.steps[0] as Step & { kind: "run" }).cmd = "x".repeat(1024 * 1024)))).toEqual([
      expect.stringMatching(/^: the plan is \d+ bytes; the limit is 1048576$/),
    ]);
    expect(validatePlan("not a plan").ok).toBe(false);
  });

  it("names the outputs of each step kind", () => {
    const [install, , diff, review] = base().steps;
    expect(stepOutputs(install!)).toEqual(["stdout", "stderr", "exit_code"]);
    expect(stepOutputs(diff!)).toEqual(["diff"]);
    expect(stepOutputs(review!)).toEqual(["approved"]);
  });
});

describe("runner helpers", () => {
  it("collects and resolves references, joining $concat parts as Python would print them", () => {
    const value = {
      a: [{ $ref: "test.exit_code" }],
      b: { $concat: ["ok=", { $ref: "review.approved" }, " ", 1.5] },
    };
    expect(collectRefs(value)).toEqual(["test.exit_code", "review.approved"]);
    const outputs: Record<string, Record<string, unknown>> = {
      test: { exit_code: 0 },
      review: { approved: true },
    };
    expect(resolveValue(value, (step, output) => outputs[step]?.[output!])).toEqual({
      a: [0],
      b: "ok=True 1.5",
    });
    expect(resolveValue({ $ref: "skipped.stdout" }, () => undefined)).toBeNull();
    expect(resolveValue({ $ref: "review" }, (step, output) => (output ? undefined : outputs[step]))).toEqual({
      approved: true,
    });
  });

  it("prints values like Python's str()", () => {
    expect(stringify(null)).toBe("None");
    expect(stringify([true, "it's", { k: false }])).toBe(`[True, "it's", {'k': False}]`);
    expect(stringify("plain")).toBe("plain");
  });

  it("renders prompt templates", () => {
    expect(renderTemplate("Review {{ diff }} for {{focus}}; {{unknown}}", { diff: "+a", focus: ["x"] })).toBe(
      "Review +a for ['x']; ",
    );
  });

  it("validates agent output against the schema", () => {
    const schema = {
      type: "object" as const,
      properties: {
        approved: { type: "boolean" as const },
        comments: {
          type: "array" as const,
          items: {
            type: "object" as const,
            properties: { line: { type: "integer" as const } },
            required: ["line"],
          },
        },
        level: { type: "string" as const, enum: ["low", "high"] },
      },
      required: ["approved"],
    };
    expect(validateJson(schema, { approved: true, comments: [{ line: 3 }], level: "low" }, "output")).toEqual(
      [],
    );
    expect(validateJson(schema, { comments: [{ line: 1.5 }, {}], level: "mid" }, "output")).toEqual([
      "output.approved: is required",
      "output.comments[0].line: expected integer, got number",
      "output.comments[1].line: is required",
      'output.level: expected one of "low", "high"',
    ]);
    expect(validateJson(schema, [], "output")).toEqual(["output: expected object, got array"]);
  });
});
