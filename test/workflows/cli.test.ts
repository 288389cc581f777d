/** `plue workflow check`: plans as JSON, errors as path:line:col, exit codes. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { jest } from "@jest/globals";
import { main as plue } from "../../app/cli/main";
import { run } from "../../app/cli/workflow";
import type { Plan } from "../../app/wire/plan";
import { EXAMPLES, PR_OPENED } from "./helpers";

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-workflow-cli-"));
  fs.cpSync(EXAMPLES, path.join(dir, ".plue"), { recursive: true });
  fs.writeFileSync(
    path.join(dir, ".plue/workflows/broken.py"),
    "from plue import workflow, push\nfrom plue.prompts import Nope\n@workflow(triggers=[push()])\ndef w(ctx):\n    while True:\n        pass\n",
  );
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function check(...args: string[]) {
  let out = "";
  let err = "";
  const code = run(["check", ...args], { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err, plans: out ? (JSON.parse(out) as Plan[]) : [] };
}
const file = (name: string) => path.join(dir, ".plue/workflows", name);

describe("plue workflow check", () => {
  it("prints the plans of valid files, reading prompts from .plue/prompts", () => {
    const r = check(file("hello.py"), file("ci.py"));
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(r.plans.map((p) => [p.name, p.steps.map((s) => s.name)])).toEqual([
      ["hello", ["hello"]],
      ["ci", ["install", "test", "git_diff", "CodeReview"]],
    ]);
  });

  it("evaluates with a sample event of the kind asked for, or an event from a file", () => {
    const pr = check(file("ci.py"), "--event", "pull_request");
    expect(pr.code).toBe(0);
    expect(pr.plans[0]!.steps[2]).toMatchObject({ kind: "git_diff", base: "main" });
    const none = check(file("hello.py"), "--event", "issue");
    expect(none).toMatchObject({ code: 0, out: "[]\n" });
    expect(none.err).toBe(`${file("hello.py")}: no workflow is triggered by this issue event\n`);
    const eventFile = path.join(dir, "event.json");
    fs.writeFileSync(eventFile, JSON.stringify({ ...PR_OPENED, base: "release" }));
    expect(check(file("ci.py"), "--event-file", eventFile).plans[0]!.steps[2]).toMatchObject({
      base: "release",
    });
  });

  it("prints errors as path:line:col: message and exits 1", () => {
    const r = check(file("broken.py"), file("hello.py"));
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toBe(
      `${file("broken.py")}:5:5: \`while\` loops are not allowed: loop with \`for\` over a list or range()\n`,
    );
    const missing = check(file("missing.py"));
    expect(missing).toMatchObject({ code: 1, err: `${file("missing.py")}: cannot read: ENOENT\n` });
    fs.writeFileSync(
      file("noprompt.py"),
      "from plue import workflow, push\nfrom plue.prompts import Nope\n@workflow(triggers=[push()])\ndef w(ctx):\n    pass\n",
    );
    expect(check(file("noprompt.py")).err).toBe(
      `${file("noprompt.py")}:2:26: prompt \`Nope\` not found: ${path.join(dir, ".plue/prompts/Nope.md")} does not exist\n`,
    );
  });

  it("explains its usage", () => {
    let err = "";
    expect(run([], { out: () => {}, err: (s) => (err += s) })).toBe(2);
    expect(err).toMatch(/^usage: plue workflow check <file>/);
    expect(check(file("hello.py"), "--event", "deploy")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/unknown event kind "deploy"/),
    });
    expect(check(file("hello.py"), "--bogus").code).toBe(2);
  });

  it("is reachable as `plue workflow`", async () => {
    const writes: string[] = [];
    const spy = jest.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      expect(await plue(["workflow", "check", file("hello.py")])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect((JSON.parse(writes.join("")) as Plan[])[0]!.name).toBe("hello");
  });
});
