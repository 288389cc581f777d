/** Trigger matching and its glob filters. */
import type { Trigger } from "../../app/wire/plan";
import {
  matchGlob,
  matchPatterns,
  matchTriggers,
  sampleEvent,
  type WorkflowEventInput,
} from "../../app/workflows/index";
import { PR_OPENED, PUSH_MAIN, SHA_A } from "./helpers";

describe("globs", () => {
  it.each([
    ["main", "main", true],
    ["main", "main2", false],
    ["release/*", "release/1.2", true],
    ["release/*", "release/1/hotfix", false],
    ["release/**", "release/1/hotfix", true],
    ["**", "any/thing/at/all", true],
    ["feat?", "feat1", true],
    ["feat?", "feat/", false],
    ["v[0-9].*", "v1.2", true],
    ["v[!0-9]*", "vx", true],
    ["v[!0-9]*", "v1", false],
    ["docs/**", "docs/a/b.md", true],
    ["**/*.md", "README.md", true],
    ["**/*.md", "docs/deep/x.md", true],
    ["**/*.md", "docs/deep/x.mdx", false],
    ["src/**/test/*.ts", "src/test/a.ts", true],
    ["*.js", "dir/a.js", false],
    ["a+b(c)", "a+b(c)", true],
    ["a\\*", "a*", true],
    ["a\\*", "ab", false],
    ["**/b.md", "ab.md", false],
    ["**/b.md", "a/b.md", true],
    ["a/**/b", "a/b", true],
    ["a/**/b", "a/x/y/b", true],
    ["a/**/b", "a/xb", false],
    ["[a-c]x", "bx", true],
    ["[a-c]x", "dx", false],
    ["[abc", "[abc", true],
  ])("%s ~ %s → %s", (glob, value, expected) => {
    expect(matchGlob(glob, value)).toBe(expected);
  });

  it("stays fast on patterns that make backtracking matchers explode", () => {
    const started = performance.now();
    // A backtracking matcher needs about 500^12 steps for these; the automaton needs 500 × 25.
    expect(matchGlob(`${"**a".repeat(12)}**b`, "a".repeat(500))).toBe(false);
    expect(matchGlob(`${"*a".repeat(12)}*b`, "a".repeat(500))).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("applies exclusions in order, the last match deciding", () => {
    expect(matchPatterns(["release/*", "!release/old"], "release/new")).toBe(true);
    expect(matchPatterns(["release/*", "!release/old"], "release/old")).toBe(false);
    expect(matchPatterns(["!release/old", "release/*"], "release/old")).toBe(true);
    expect(matchPatterns(["!docs/**"], "src/a.ts")).toBe(true);
    expect(matchPatterns(["!docs/**"], "docs/a.md")).toBe(false);
  });
});

const match = (trigger: Trigger, event: WorkflowEventInput) =>
  matchTriggers({ name: "w", triggers: [trigger] }, event);
const matched = (trigger: Trigger, event: WorkflowEventInput) => match(trigger, event).matched;
const push = (ref: string, extra: object = {}) => ({ ...PUSH_MAIN, ref, ...extra });

describe("matchTriggers", () => {
  it("push: branches, tags and paths", () => {
    expect(matched({ kind: "push" }, push("refs/heads/anything"))).toBe(true);
    expect(matched({ kind: "push" }, push("refs/tags/v1"))).toBe(true);
    expect(matched({ kind: "push", branches: ["main", "release/*"] }, push("refs/heads/release/2"))).toBe(
      true,
    );
    expect(match({ kind: "push", branches: ["main"] }, push("refs/heads/dev"))).toEqual({
      matched: false,
      reason: "branch dev does not match main",
    });
    expect(match({ kind: "push", branches: ["main"] }, push("refs/tags/v1"))).toEqual({
      matched: false,
      reason: "the trigger is for branches",
    });
    expect(matched({ kind: "push", tags: ["v*"] }, push("refs/tags/v1.0"))).toBe(true);
    expect(matched({ kind: "push", tags: ["v*"] }, push("refs/heads/main"))).toBe(false);
    expect(matched({ kind: "push", branches: ["main"], tags: ["v*"] }, push("refs/tags/v2"))).toBe(true);
    const paths: Trigger = { kind: "push", paths: ["src/**", "!src/**/*.md"] };
    expect(matched(paths, push("refs/heads/main", { paths: ["src/a.ts"] }))).toBe(true);
    expect(match(paths, push("refs/heads/main", { paths: ["src/README.md", "docs/x"] }))).toEqual({
      matched: false,
      reason: "no changed path matches src/**, !src/**/*.md",
    });
    expect(matched(paths, push("refs/heads/main"))).toBe(true); // change set unknown: run
    const many = Array.from({ length: 1001 }, (_, i) => `docs/${i}.md`);
    expect(matched(paths, push("refs/heads/main", { paths: many }))).toBe(true); // too many to filter: run
    expect(matched(paths, push("refs/tags/v1", { paths: ["docs/x"] }))).toBe(true); // tags ignore paths
    expect(match({ kind: "push" }, push("refs/heads/gone", { after: "0".repeat(40) }))).toEqual({
      matched: false,
      reason: "the push deleted refs/heads/gone",
    });
    expect(matched({ kind: "push" }, push("refs/notes/x"))).toBe(false);
  });

  it("pull_request: default types, base branch, paths", () => {
    expect(matched({ kind: "pull_request" }, PR_OPENED)).toBe(true);
    expect(matched({ kind: "pull_request" }, { ...PR_OPENED, action: "synchronize" })).toBe(true);
    expect(match({ kind: "pull_request" }, { ...PR_OPENED, action: "closed" })).toEqual({
      matched: false,
      reason: "action closed is not one of opened, synchronize, reopened",
    });
    expect(matched({ kind: "pull_request", types: ["closed"] }, { ...PR_OPENED, action: "closed" })).toBe(
      true,
    );
    expect(
      matched({ kind: "pull_request", branches: ["main"] }, { ...PR_OPENED, base: "refs/heads/main" }),
    ).toBe(true);
    expect(matched({ kind: "pull_request", branches: ["release/*"] }, PR_OPENED)).toBe(false);
    expect(matched({ kind: "pull_request", paths: ["docs/**"] }, { ...PR_OPENED, paths: ["src/a"] })).toBe(
      false,
    );
  });

  it("issue: types and labels", () => {
    const issue: WorkflowEventInput = { kind: "issue", action: "labeled", labels: ["bug", "p1"] };
    expect(matched({ kind: "issue" }, issue)).toBe(true);
    expect(matched({ kind: "issue", types: ["opened"] }, issue)).toBe(false);
    expect(matched({ kind: "issue", labels: ["p1", "p0"] }, issue)).toBe(true);
    expect(match({ kind: "issue", labels: ["docs"] }, { kind: "issue", action: "opened" })).toEqual({
      matched: false,
      reason: "the issue has none of the labels docs",
    });
  });

  it("manual: the workflow asked for, inputs checked, converted and defaulted", () => {
    const trigger: Trigger = {
      kind: "manual",
      inputs: {
        env: { type: "string", default: "staging" },
        dry: { type: "boolean" },
        n: { type: "number", default: 1 },
      },
    };
    expect(match(trigger, { kind: "manual", inputs: { dry: "true", n: "3" } })).toEqual({
      matched: true,
      trigger,
      event: { kind: "manual", inputs: { env: "staging", dry: true, n: 3 } },
    });
    expect(match(trigger, { kind: "manual", inputs: {} })).toEqual({
      matched: false,
      reason: "input dry is required",
    });
    expect(match(trigger, { kind: "manual", inputs: { dry: "maybe" } })).toEqual({
      matched: false,
      reason: "input dry must be a boolean",
    });
    expect(match(trigger, { kind: "manual", inputs: { dry: false, other: 1 } })).toEqual({
      matched: false,
      reason: "unknown input other (inputs: env, dry, n)",
    });
    expect(match(trigger, { kind: "manual", workflow: "deploy", inputs: { dry: true } })).toEqual({
      matched: false,
      reason: "the dispatch is for workflow deploy",
    });
  });

  it("chat and mention", () => {
    expect(matched({ kind: "chat" }, { kind: "chat", message: "hi" })).toBe(true);
    expect(matched({ kind: "mention" }, { kind: "mention", handle: "anyone" })).toBe(true);
    expect(matched({ kind: "mention", handle: "plue" }, { kind: "mention", handle: "@Plue" })).toBe(true);
    expect(matched({ kind: "mention", handle: "plue" }, { kind: "mention", handle: "other" })).toBe(false);
  });

  it("tries each trigger and says why none matched", () => {
    const w = {
      name: "w",
      triggers: [
        { kind: "push", branches: ["main"] },
        { kind: "push", tags: ["v*"] },
      ] as Trigger[],
    };
    expect(matchTriggers(w, push("refs/tags/v1")).matched).toBe(true);
    expect(matchTriggers(w, PR_OPENED)).toEqual({
      matched: false,
      reason: "the workflow has no pull_request trigger",
    });
    expect(() =>
      matchTriggers(w, { kind: "push", ref: "main", before: SHA_A, after: SHA_A } as never),
    ).toThrow(/invalid event: ref/);
  });

  it("makes sample events that match their trigger", () => {
    const triggers: Trigger[] = [
      { kind: "push", branches: ["release/*", "stable"] },
      { kind: "push", tags: ["v*"] },
      { kind: "pull_request", types: ["closed"], branches: ["develop"] },
      { kind: "issue", types: ["labeled"], labels: ["bug"] },
      { kind: "manual", inputs: { env: { type: "string" } } },
      { kind: "mention", handle: "bot" },
      { kind: "chat" },
    ];
    for (const t of triggers) expect(match(t, sampleEvent(t))).toMatchObject({ matched: true });
  });
});
