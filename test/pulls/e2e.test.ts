/**
 * A change from branch to merge with real runner processes (the local executor and its sandbox):
 * a pushed branch opened as a pull request runs its `pull_request` workflow; a squash merge
 * closes the issue it fixes, and the base branch's push workflow runs exactly once, at the
 * squash commit.
 */
import { type Json, newRepo, openPull, type Rig, startRig, until, type Work } from "./helpers";

const CI = `from plue import workflow, push, pull_request

@workflow(triggers=[pull_request()])
def review(ctx):
    ctx.run(name="check", cmd='echo "checked $PLUE_SHA"')

@workflow(triggers=[push(branches=["main"])])
def deploy(ctx):
    ctx.run(name="ship", cmd='echo "shipped $PLUE_SHA"')
`;

let rig: Rig;
let work: Work;

beforeAll(async () => {
  rig = await startRig({ realRunners: true });
  work = await newRepo(rig, "e2e", { "README.md": "# e2e\n", ".plue/workflows/ci.py": CI });
}, 60_000);
afterAll(() => rig.close());

const runs = async (): Promise<Json[]> =>
  (await rig.alice.ok("GET", `/api/repos/${work.slug}/runs?limit=100`)).runs;
const ended = (r: Json) => ["success", "failure", "cancelled", "error"].includes(r.status);

it("runs the pull request's workflow, and after a squash merge closes the issue and deploys once", async () => {
  const issue = await rig.alice.ok("POST", `${work.api}/issues`, { title: "Ship it" });
  const pull = await openPull(
    work,
    "ship",
    { "ship.txt": "ship\n" },
    { body: `Fixes #${issue.number}` },
    rig.bob,
  );
  const review = await until(
    "the review run",
    async () => (await runs()).find((r) => r.workflow === "review" && ended(r)),
    90_000,
  );
  expect(review).toMatchObject({ status: "success", event: "pull_request", commit: pull.head.sha });

  const deploysBefore = (await runs()).filter((r) => r.workflow === "deploy").length;
  const merged = await rig.alice.ok("PUT", `${work.api}/pulls/${pull.number}/merge`, { method: "squash" });
  const deploy = await until(
    "the deploy run of the merge",
    async () => (await runs()).find((r) => r.workflow === "deploy" && r.commit === merged.sha && ended(r)),
    90_000,
  );
  expect(deploy).toMatchObject({ status: "success", event: "push", ref: "refs/heads/main" });
  const log = await (
    await fetch(`${rig.p.url}/api/runs/${deploy.id}/log`, {
      headers: { authorization: `Bearer ${rig.alice.token}` },
    })
  ).text();
  expect(log).toContain(`shipped ${merged.sha}`);
  await new Promise((r) => setTimeout(r, 500));
  expect((await runs()).filter((r) => r.workflow === "deploy").length).toBe(deploysBefore + 1);
  expect(await rig.alice.ok("GET", `${work.api}/issues/${issue.number}`)).toMatchObject({ state: "closed" });
}, 200_000);
