/** The `plue` module: steps and their edges, prompts, results, events, and the two-phase API. */
import fs from "node:fs";
import path from "node:path";
import type { AgentStep, GitDiffStep, RunStep } from "../../app/wire/plan";
import {
  formatError,
  loadWorkflows,
  matchTriggers,
  WorkflowCache,
  type WorkflowFile,
} from "../../app/workflows/index";
import {
  EXAMPLES,
  errorsOf,
  evaluate,
  examplePrompt,
  HEADER,
  inBody,
  PR_OPENED,
  PUSH_MAIN,
  planOf,
  SHA_A,
} from "./helpers";

/** A workflow body with `CodeReview` imported (body lines start at 5). */
const withReview = (code: string) => `from plue.prompts import CodeReview\n${inBody(code)}`;
const example = (name: string) => fs.readFileSync(path.join(EXAMPLES, "workflows", name), "utf8");
const edges = (source: string, opts = {}) => planOf(source, opts).steps.map((s) => [s.name, s.needs]);

describe("examples", () => {
  it("hello.py: one run step on any push", () => {
    const plan = planOf(example("hello.py"));
    expect(plan.triggers).toEqual([{ kind: "push" }]);
    expect(plan.steps).toEqual([
      {
        kind: "run",
        name: "hello",
        needs: [],
        timeout_seconds: 1800,
        retries: 0,
        source: { line: 5, col: 5 },
        cmd: 'echo "Hello from CI"',
        env: {},
      },
    ]);
    expect(plan.result).toEqual({ status: "success", message: null, outputs: {} });
  });

  it("ci.py on a pull request: install → test, a diff against the base branch, a review of it", () => {
    const plan = planOf(example("ci.py"), { event: PR_OPENED, path: ".plue/workflows/ci.py" });
    expect(plan.steps.map((s) => [s.kind, s.name, s.needs])).toEqual([
      ["run", "install", []],
      ["run", "test", ["install"]],
      ["git_diff", "git_diff", []],
      ["agent", "CodeReview", ["git_diff"]],
    ]);
    expect((plan.steps[2] as GitDiffStep).base).toBe("main");
    const review = plan.steps[3] as AgentStep;
    expect(review.inputs).toEqual({
      diff: { $ref: "git_diff.diff" },
      focus: "correctness, security and tests",
    });
    expect(review.prompt).toMatchObject({ name: "CodeReview", model: "claude-sonnet-5", max_turns: 12 });
    expect(review.timeout_seconds).toBe(15 * 60);
    expect(plan.result.outputs).toEqual({ approved: { $ref: "CodeReview.approved" } });
  });

  it("ci.py on a push to main diffs against the commit before the push; other branches do not match", () => {
    const plan = planOf(example("ci.py"));
    expect((plan.steps[2] as GitDiffStep).base).toBe(SHA_A);
    expect(evaluate(example("ci.py"), { event: { ...PUSH_MAIN, ref: "refs/heads/dev" } })).toEqual({
      ok: true,
      workflows: [],
    });
  });

  it("matrix.py: parallel tests after one build, a summary that reads their exit codes", () => {
    const plan = planOf(example("matrix.py"), { event: { ...PUSH_MAIN, paths: ["src/a.ts"] } });
    expect(plan.steps.map((s) => [s.name, s.needs])).toEqual([
      ["build", []],
      ["test-node18", ["build"]],
      ["test-node20", ["build"]],
      ["test-node22", ["build"]],
      ["summary", ["test-node18", "test-node20", "test-node22"]],
    ]);
    expect((plan.steps[4] as RunStep).cmd).toEqual({
      $concat: [
        "echo exit codes: ",
        { $ref: "test-node18.exit_code" },
        " ",
        { $ref: "test-node20.exit_code" },
        " ",
        { $ref: "test-node22.exit_code" },
      ],
    });
    expect(plan.concurrency).toEqual({ group: "matrix-refs/heads/main", cancel_in_progress: true });
    expect(plan.timeout_seconds).toBe(45 * 60);
    const manual = planOf(example("matrix.py"), { event: { kind: "manual", inputs: { versions: "20" } } });
    expect(manual.steps.map((s) => s.name)).toEqual(["build", "test-node20", "summary"]);
    expect(manual.result.outputs).toEqual({ versions: 1 });
  });

  it("the DESIGN.md text works on pull requests and explains itself on a push", () => {
    const design = `from plue import workflow, push, pull_request
from plue.prompts import CodeReview

@workflow(triggers=[push(branches=["main"]), pull_request()])
def ci(ctx):
    ctx.run(name="install", cmd="npm ci")
    ctx.run(name="test", cmd="npm test")
    review = CodeReview(diff=ctx.git.diff(base=ctx.event.pull_request.base))
    return ctx.success(approved=review.approved)
`;
    expect(planOf(design, { event: PR_OPENED }).steps).toHaveLength(4);
    expect(errorsOf(design)).toEqual([
      ".plue/workflows/t.py:8:71: `ctx.event.pull_request` is None, so it has no attribute `base`",
    ]);
  });
});

describe("steps and edges", () => {
  it("chains run steps in source order unless they name their needs", () => {
    const src = inBody(`a = ctx.run(name="a", cmd="x")
ctx.run(name="b", cmd="x")
ctx.run(name="c", cmd="x", needs=[a])
ctx.run(name="d", cmd="x")
ctx.run(name="e", cmd="x", needs=[])`);
    expect(edges(src)).toEqual([
      ["a", []],
      ["b", ["a"]],
      ["c", ["a"]],
      ["d", ["c"]],
      ["e", []],
    ]);
  });

  it("adds an edge for every output used, in commands, env, diffs and prompt inputs", () => {
    const plan = planOf(
      withReview(`v = ctx.run(name="version", cmd="cat VERSION", needs=[])
other = ctx.run(name="other", cmd="true", needs=[])
d = ctx.git.diff(base=v.stdout, head="HEAD", name="changes")
tag = ctx.run(name="tag", cmd="git tag v" + v.stdout, env={"CODE": other.exit_code, "N": 1}, needs=[])
review = CodeReview(diff=d, focus=f"release {v}", name="review")
return ctx.success(version=v.stdout, approved=review.approved, whole=review)`),
    );
    expect(plan.steps.map((s) => [s.name, s.needs])).toEqual([
      ["version", []],
      ["other", []],
      ["changes", ["version"]],
      ["tag", ["version", "other"]],
      ["review", ["changes", "version"]],
    ]);
    const tag = plan.steps[3] as RunStep;
    expect(tag.cmd).toEqual({ $concat: ["git tag v", { $ref: "version.stdout" }] });
    expect(tag.env).toEqual({ CODE: { $ref: "other.exit_code" }, N: 1 });
    expect((plan.steps[4] as AgentStep).inputs.focus).toEqual({
      $concat: ["release ", { $ref: "version.stdout" }],
    });
    expect(plan.result.outputs).toEqual({
      version: { $ref: "version.stdout" },
      approved: { $ref: "review.approved" },
      whole: { $ref: "review" },
    });
  });

  it("accepts needs by name, forwards included, and reports unknown names and cycles at the call", () => {
    expect(
      edges(
        inBody(
          `ctx.run(name="a", cmd="x", needs=["b"], timeout="2m", retries=2)\nctx.run(name="b", cmd="x", needs=[])`,
        ),
      ),
    ).toEqual([
      ["a", ["b"]],
      ["b", []],
    ]);
    expect(errorsOf(inBody(`ctx.run(name="a", cmd="x", needs=["nope"])`))).toEqual([
      '.plue/workflows/t.py:4:5: step "a": needs unknown step "nope"',
    ]);
    expect(
      errorsOf(inBody(`ctx.run(name="a", cmd="x", needs=["b"])\nctx.run(name="b", cmd="x", needs="a")`)),
    ).toEqual(['.plue/workflows/t.py:4:5: step "a": dependency cycle: a → b → a']);
  });

  it("rejects bad step arguments with the call's position", () => {
    const cases: [string, string][] = [
      [
        `ctx.run(name="a", cmd="x")\nctx.run(name="a", cmd="y")`,
        '5:5: a step named "a" already exists (line 4)',
      ],
      [`ctx.run(name="a b", cmd="x")`, '4:5: name= "a b": step names use letters, digits, _ and - (max 64)'],
      [`ctx.run(name="a", cmd="")`, "4:5: cmd= is empty"],
      [`ctx.run(name="a")`, "4:5: ctx.run() is missing the argument `cmd`"],
      [`ctx.run(name="a", command="x")`, "4:5: ctx.run() has no argument `command`"],
      [
        `ctx.run(name="a", cmd="x", timeout="forever")`,
        '4:5: timeout= is seconds (an int) or a duration like "10m"',
      ],
      [`ctx.run(name="a", cmd="x", timeout=999999)`, "4:5: timeout= must be between 1 second and 6 hours"],
      [`ctx.run(name="a", cmd="x", retries=9)`, "4:5: retries= is an int from 0 to 5"],
      [`ctx.run(name="a", cmd="x", env={"A-B": "1"})`, "4:5: env names are like NODE_ENV, not 'A-B'"],
      [
        `ctx.run(name="a", cmd="x", env={"A": [1]})`,
        "4:5: env value of A must be a str, number or bool, not list",
      ],
      [`ctx.run(name="a", cmd="x", needs=[1])`, "4:5: needs= lists steps (or step names), not int"],
      [`ctx.git.diff(base=None)`, "4:5: base= is a commit, branch or tag, not None"],
      [`ctx.run(name="a", cmd=["ls"])`, "4:5: cmd= must be a string, not list"],
    ];
    for (const [code, message] of cases) {
      expect(errorsOf(inBody(code)).join("\n")).toContain(`.plue/workflows/t.py:${message}`);
    }
  });

  it("refuses to decide on outputs while planning", () => {
    const cases: [string, string][] = [
      [
        "if t.exit_code == 0:\n    pass",
        "`t.exit_code` is only known when the step runs, so it cannot be compared",
      ],
      ["if t.stdout:\n    pass", "`t.stdout` is only known when the step runs, so it cannot be tested"],
      [
        "x = len(t.stdout)",
        "`t.stdout` is only known when the step runs, so it cannot be measured with len()",
      ],
      ["for line in t.stdout:\n    pass", "so it cannot be looped over"],
      ["x = t.stdout + 1", "cannot add int to a step output; use an f-string"],
      ["x = t.stdout[0]", "so it cannot be indexed"],
      ["x = f'{t.exit_code:>3}'", "so it cannot be converted to text here"],
      [
        "x = t.stdot",
        "step `t` (run) has no output `stdot` (did you mean `stdout`?) (outputs: stdout, stderr, exit_code)",
      ],
    ];
    for (const [code, message] of cases) {
      const src = inBody(`t = ctx.run(name="t", cmd="x")\n${code}`);
      expect(errorsOf(src).join("\n")).toContain(message);
    }
  });
});

describe("prompts", () => {
  const review = (code: string) => withReview(`review = CodeReview(diff="d")\n${code}`);

  it("checks references to outputs against the prompt's declared outputs, at plan time", () => {
    expect(errorsOf(review("return ctx.success(ok=review.approvd)"))).toEqual([
      ".plue/workflows/t.py:6:34: prompt `CodeReview` declares no output `approvd` (did you mean `approved`?) (declared outputs: approved, summary, comments)",
    ]);
  });

  it("checks the call: inputs by name, known, required, of the declared type", () => {
    const cases: [string, string][] = [
      [`CodeReview("d")`, "prompt inputs are passed by name: CodeReview(diff=…, focus=…)"],
      [
        `CodeReview(dif="d")`,
        "prompt `CodeReview` has no input `dif` (did you mean `diff`?) (inputs: diff, focus)",
      ],
      [`CodeReview(focus="x")`, "prompt `CodeReview` needs the input `diff`"],
      [`CodeReview(diff=1)`, "input of `CodeReview`: diff: expected string, got integer"],
    ];
    for (const [code, message] of cases)
      expect(errorsOf(withReview(code)).join("\n")).toContain(`5:5: ${message}`);
  });

  it("names agent steps after the prompt unless told otherwise", () => {
    const names = planOf(
      withReview(`CodeReview(diff="a")\nCodeReview(diff="b")\nCodeReview(diff="c", name="third")`),
    ).steps.map((s) => s.name);
    expect(names).toEqual(["CodeReview", "CodeReview_2", "third"]);
  });

  const withPrompt = (text: string) =>
    errorsOf(
      `from plue import workflow, push\nfrom plue.prompts import P\n${HEADER.split("\n").slice(1).join("\n")}    P()\n`,
      {
        prompts: { P: text },
      },
    );

  it("reports problems in prompt files at their own line and column", () => {
    expect(errorsOf(`from plue.prompts import Missing\n${HEADER}    pass\n`)).toEqual([
      ".plue/workflows/t.py:1:26: prompt `Missing` not found: .plue/prompts/Missing.md does not exist",
    ]);
    expect(withPrompt("no front matter")).toEqual([
      ".plue/prompts/P.md:1:1: a prompt starts with front matter (--- … ---) declaring its inputs and output",
    ]);
    expect(withPrompt("---\nmodel: [unclosed\n---\nbody")[0]).toMatch(
      /^\.plue\/prompts\/P\.md:\d+:\d+: invalid YAML/,
    );
    expect(withPrompt("---\nmax_turns: 0\n---\nbody")).toEqual([
      ".plue/prompts/P.md:2:12: max_turns: Too small: expected number to be >=1",
    ]);
    expect(withPrompt("---\ninputs: [diff]\n---\nLook at {{diff}} and {{missing}}.")).toEqual([
      ".plue/prompts/P.md:4:22: the slot {{missing}} is not a declared input",
    ]);
    expect(withPrompt("---\ninputs: [needs]\n---\nbody")).toEqual([
      ".plue/prompts/P.md:2:9: `needs` is reserved for the step; rename the input",
    ]);
    expect(withPrompt("---\noutput:\n  type: string\n---\nbody")).toEqual([
      ".plue/prompts/P.md:3:3: `output` must be type object",
    ]);
    expect(
      withPrompt("---\noutput:\n  type: object\n  properties:\n    ok: { type: boolen }\n---\nx")[0],
    ).toMatch(/^\.plue\/prompts\/P\.md:5:\d+: output\.properties\.ok\.type: Invalid option/);
  });

  it("accepts minimal prompts: no inputs, no outputs, defaults", () => {
    const plan = planOf(
      `from plue import workflow, chat\nfrom plue.prompts import Hello\n@workflow(triggers=[chat()])\ndef w(ctx):\n    Hello()\n`,
      {
        prompts: { Hello: "---\n---\nSay hello." },
        event: { kind: "chat", message: "hi" },
      },
    );
    expect((plan.steps[0] as AgentStep).prompt).toEqual({
      name: "Hello",
      model: null,
      tools: [],
      max_turns: 20,
      template: "Say hello.",
      output_schema: { type: "object", properties: {} },
    });
  });
});

describe("workflow declarations and results", () => {
  it("reads name, timeout and concurrency; a file may hold several workflows", () => {
    const r = evaluate(`import plue
@plue.workflow(triggers=[plue.push(branches="main")], name="deploy-prod", timeout="1h30m", concurrency="deploy")
def deploy(ctx):
    return ctx.failure(f"not yet: {ctx.event.branch}", code=3)

@plue.workflow(triggers=[plue.push(tags=["v*"])])
def release(ctx):
    pass
`);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.workflows.map((w) => [w.name, w.timeout_seconds, w.concurrency, w.result])).toEqual([
      [
        "deploy-prod",
        5400,
        { group: "deploy", cancel_in_progress: false },
        { status: "failure", message: "not yet: main", outputs: { code: 3 } },
      ],
    ]);
  });

  it("rejects malformed declarations", () => {
    const decl = (d: string, body = "pass") =>
      `from plue import *\n`.replace("*", "workflow, push, pull_request, issue, manual, mention") +
      `${d}\ndef w(ctx):\n    ${body}\n`;
    const cases: [string, string][] = [
      ["@workflow", "2:2: write @workflow(triggers=[...]): a workflow needs triggers"],
      ["@workflow(triggers=[])", "triggers= is a non-empty list such as [push()]"],
      ["@workflow(triggers=[push])", "triggers= holds triggers like push(), not builtin_function"],
      [
        "@workflow(triggers=[push(branches=[])])",
        "branches=[] matches nothing; leave it out to match everything",
      ],
      [
        '@workflow(triggers=[pull_request(types=["opend"])])',
        'unknown pull_request type "opend" (did you mean `opened`?)',
      ],
      ['@workflow(triggers=[issue(types=["created"])])', 'unknown issue type "created"'],
      [
        '@workflow(triggers=[manual(inputs={"env": [1]})])',
        'the default of input "env" must be a str, number, bool or None (required)',
      ],
      ['@workflow(triggers=[push()], name="no spaces")', 'name= "no spaces": workflow names use'],
      [
        '@workflow(triggers=[push()], concurrency={"group": "g", "cancel": True})',
        "concurrency= is a group name or",
      ],
      ['@workflow(triggers=[push()], timeout="7h")', "timeout= must be between 1 second and 6 hours"],
    ];
    for (const [d, message] of cases) expect(errorsOf(decl(d)).join("\n")).toContain(message);
    expect(
      errorsOf(
        `from plue import workflow, push\n@workflow(triggers=[push()])\ndef w(ctx, extra):\n    pass\n`,
      ),
    ).toEqual([".plue/workflows/t.py:3:5: a workflow function takes one parameter, ctx (`w` takes 2)"]);
    expect(
      errorsOf(
        `from plue import workflow, push\n@workflow(triggers=[push()])\ndef w(ctx):\n    pass\n@workflow(triggers=[push()], name="w")\ndef v(ctx):\n    pass\n`,
      ),
    ).toEqual(['.plue/workflows/t.py:6:5: a workflow named "w" is already defined in this file']);
    expect(errorsOf(`from plue import workflow, pusj\n`)).toEqual([
      ".plue/workflows/t.py:1:28: `plue` has no `pusj` (did you mean `push`?)",
    ]);
  });

  it("requires a result from ctx.success or ctx.failure, or nothing", () => {
    expect(errorsOf(inBody("return 1"))).toEqual([
      ".plue/workflows/t.py:3:5: a workflow returns ctx.success(...) or ctx.failure(...) (or nothing), not a int",
    ]);
    expect(errorsOf(inBody("return ctx.success(1)"))).toEqual([
      ".plue/workflows/t.py:4:12: ctx.success() takes outputs by name: ctx.success(approved=review.approved)",
    ]);
    expect(errorsOf(inBody("return ctx.failure()"))[0]).toContain(
      'ctx.failure() takes a message: ctx.failure("why", **outputs)',
    );
    expect(errorsOf(inBody('return ctx.success(**{"bad key": 1})'))[0]).toContain(
      'output names are identifiers, not "bad key"',
    );
  });

  it("keeps prompts and steps inside workflow functions", () => {
    expect(
      errorsOf(
        `from plue import workflow, push\nfrom plue.prompts import CodeReview\nCodeReview(diff="x")\n`,
      ),
    ).toEqual([".plue/workflows/t.py:3:1: CodeReview() can only be called inside a workflow function"]);
  });
});

describe("ctx.event", () => {
  const event = (
    expr: string,
    ev: object,
    triggers = "push(), pull_request(), issue(), manual(inputs={'env': 'staging', 'n': 1}), mention(), chat()",
  ) =>
    planOf(
      `from plue import *\n`.replace("*", "workflow, push, pull_request, issue, manual, mention, chat") +
        `@workflow(triggers=[${triggers}])\ndef w(ctx):\n    return ctx.success(v=${expr})\n`,
      { event: ev as never },
    ).result.outputs.v;

  it("exposes the concrete event of each kind", () => {
    expect(
      event(
        "[ctx.event.kind, ctx.event.branch, ctx.event.tag, ctx.event.sha, ctx.event.pull_request]",
        PUSH_MAIN,
      ),
    ).toEqual(["push", "main", null, PUSH_MAIN.after, null]);
    expect(
      event("[ctx.event.pull_request.number, ctx.event.pull_request.head, ctx.event.action]", PR_OPENED),
    ).toEqual([7, "feature/x", "opened"]);
    expect(event("ctx.event.issue.labels", { kind: "issue", action: "opened", labels: ["bug"] })).toEqual([
      "bug",
    ]);
    expect(
      event('[ctx.event.inputs["env"], ctx.event.inputs.n]', { kind: "manual", inputs: { n: "5" } }),
    ).toEqual(["staging", 5]);
    expect(event("ctx.event.body", { kind: "mention", handle: "plue", body: "@plue fix it" })).toBe(
      "@plue fix it",
    );
    expect(event('"extra" in ctx.event and ctx.event["extra"]', { kind: "chat", extra: "kept" })).toBe(
      "kept",
    );
  });

  it("is read-only", () => {
    expect(errorsOf(inBody("ctx.event.ref = 'x'"))).toEqual([
      ".plue/workflows/t.py:4:5: attributes cannot be assigned",
    ]);
  });
});

describe("two phases: load once, plan per event", () => {
  const file = (source: string, prompts: Record<string, string> = {}): WorkflowFile => ({
    path: ".plue/workflows/t.py",
    source,
    readPrompt: (n) => prompts[n] ?? examplePrompt(n),
  });
  const two = `from plue import workflow, push, pull_request
@workflow(triggers=[push(branches=["main"])])
def good(ctx):
    ctx.run(name="a", cmd="echo " + ctx.event.ref)
@workflow(triggers=[push(), pull_request()])
def broken(ctx):
    return ctx.success(v=1 / 0)
`;

  it("matches triggers from the headers without running any body", () => {
    const loaded = loadWorkflows(file(two));
    if (!loaded.ok) throw new Error(loaded.errors.map(formatError).join("\n"));
    expect(loaded.file.workflows).toEqual([
      {
        name: "good",
        triggers: [{ kind: "push", branches: ["main"] }],
        timeout_seconds: 3600,
        concurrency: null,
        source: { path: ".plue/workflows/t.py", line: 3, col: 5 },
      },
      {
        name: "broken",
        triggers: [{ kind: "push" }, { kind: "pull_request" }],
        timeout_seconds: 3600,
        concurrency: null,
        source: { path: ".plue/workflows/t.py", line: 6, col: 5 },
      },
    ]);
    expect(loaded.file.workflows.map((w) => matchTriggers(w, PR_OPENED).matched)).toEqual([false, true]);
  });

  it("keeps a failing workflow from affecting the others, and reuses the module across events", () => {
    const loaded = loadWorkflows(file(two));
    if (!loaded.ok) throw new Error("load failed");
    const results = loaded.file.plansFor(PUSH_MAIN);
    expect(results.map((r) => [r.name, r.outcome.ok])).toEqual([
      ["good", true],
      ["broken", false],
    ]);
    expect(results[1]!.outcome.ok ? [] : results[1]!.outcome.errors.map(formatError)).toEqual([
      ".plue/workflows/t.py:7:28: division by zero",
    ]);
    const other = loaded.file.plan("good", { ...PUSH_MAIN, ref: "refs/heads/other" });
    expect(other.ok && (other.plan.steps[0] as RunStep).cmd).toBe("echo refs/heads/other");
  });

  it("without an event, checks every trigger with a sample event", () => {
    const r = evaluate(
      `from plue import workflow, push, issue\n@workflow(triggers=[push(), issue(labels=["bug"])])\ndef w(ctx):\n    ctx.run(name="a", cmd=ctx.event.issue.title)\n`,
      { event: undefined },
    );
    expect(r.ok ? [] : r.errors.map(formatError)).toEqual([
      ".plue/workflows/t.py:4:43: `ctx.event.issue` is None, so it has no attribute `title` (evaluated with a sample push event)",
    ]);
  });

  it("caches loads by blob id and notices prompt changes", () => {
    const cache = new WorkflowCache(2);
    let prompt = "---\ninputs: [diff]\n---\n{{diff}}";
    const src = file(
      `from plue import workflow, push\nfrom plue.prompts import R\n@workflow(triggers=[push()])\ndef w(ctx):\n    R(diff="x")\n`,
    );
    const f: WorkflowFile = { ...src, readPrompt: (n) => (n === "R" ? prompt : undefined) };
    const first = cache.load("blob1", f);
    expect(cache.load("blob1", f)).toBe(first);
    expect([cache.hits, cache.misses]).toEqual([1, 1]);
    prompt = "---\ninputs: [diff]\n---\nchanged {{diff}}";
    const second = cache.load("blob1", f);
    expect(second).not.toBe(first);
    expect(second.ok && second.file.plan("w", PUSH_MAIN)).toMatchObject({ ok: true });
    cache.load("blob2", f);
    cache.load("blob3", f);
    expect(cache.size).toBe(2);
    cache.load("blob1", f);
    expect(cache.misses).toBe(5); // blob1 was evicted
    const broken = cache.load("bad", file("x = (\n"));
    expect(cache.load("bad", file("x = (\n"))).toBe(broken);
  });
});
