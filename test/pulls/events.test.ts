/**
 * Pull request events into workflows, natively: the seed's example ci.py (CodeReview on the diff
 * against `ctx.event.pull_request.base`) runs when a pull request is opened, and a `paths` filter
 * sees the pull request's changed paths.
 */
import fs from "node:fs";
import path from "node:path";
import { type Json, newRepo, openPull, type Rig, startRig, until, type Work } from "./helpers";

const EXAMPLE = path.resolve(import.meta.dirname, "../../examples/workflows/.plue");
const DOCS_ONLY = `from plue import workflow, pull_request

@workflow(triggers=[pull_request(paths=["docs/**"])])
def docs(ctx):
    ctx.run(name="lint", cmd="echo docs")
`;

let rig: Rig;
let work: Work;

beforeAll(async () => {
  rig = await startRig();
  work = await newRepo(rig, "events", {
    "README.md": "# events\n",
    ".plue/workflows/ci.py": fs.readFileSync(path.join(EXAMPLE, "workflows/ci.py"), "utf8"),
    ".plue/prompts/CodeReview.md": fs.readFileSync(path.join(EXAMPLE, "prompts/CodeReview.md"), "utf8"),
    ".plue/workflows/docs.py": DOCS_ONLY,
  });
});
afterAll(() => rig.close());

const runsOf = async (): Promise<Json[]> =>
  (await rig.alice.ok("GET", `/api/repos/${work.slug}/runs?event=pull_request`)).runs;

it("runs the example ci workflow when a pull request is opened, with the pull request's facts", async () => {
  const pull = await openPull(work, "src-change", { "src/main.ts": "export {};\n" });
  const [ci] = await until("the ci run", async () => {
    const runs = (await runsOf()).filter((r) => r.workflow === "ci" && r.status === "success");
    return runs.length > 0 && runs;
  });
  expect(ci).toMatchObject({ event: "pull_request", commit: pull.head.sha });
  const run = await rig.alice.ok("GET", `/api/runs/${ci.id}`);
  expect(run.trigger_context).toMatchObject({
    kind: "pull_request",
    action: "opened",
    number: pull.number,
    base: "main",
    head: "src-change",
    base_sha: pull.base.sha,
    head_sha: pull.head.sha,
    paths: ["src/main.ts"],
  });
  expect(run.steps.map((s: Json) => s.name)).toEqual(expect.arrayContaining(["install", "test"]));
  // The paths filter saw src/main.ts only: the docs workflow did not start.
  expect((await runsOf()).filter((r) => r.workflow === "docs")).toEqual([]);
});

it("starts a paths-filtered workflow when the pull request touches its paths", async () => {
  const pull = await openPull(work, "docs-change", { "docs/guide.md": "# guide\n" });
  const [docs] = await until("the docs run", async () => {
    const runs = (await runsOf()).filter((r) => r.workflow === "docs" && r.commit === pull.head.sha);
    return runs.length > 0 && runs;
  });
  expect(docs.event).toBe("pull_request");
});
