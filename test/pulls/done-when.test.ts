import type { ApiClient } from "../helpers/agents";
import { type FakeAnthropic, startFakeModelForRunners } from "../helpers/fake-anthropic";
import { designExample } from "../runs/helpers";
import {
  type Json,
  newRepo,
  openPull,
  type Rig,
  startRig,
  synced,
  until,
  usernameOf,
  type Work,
} from "./helpers";

const DOCS = `from plue import workflow, pull_request

@workflow(triggers=[pull_request(paths=["docs/**"])])
def docs(ctx):
    ctx.run(name="lint", cmd="echo docs ok")
`;

let fake: FakeAnthropic;
let rig: Rig;
let carol: ApiClient;
let work: Work;

beforeAll(async () => {
  fake = await startFakeModelForRunners(); // the runners inherit its URL
  fake.respond(() => ({
    content: [{ type: "tool_use", name: "submit_output", input: { approved: true, summary: "looks right" } }],
  }));
  rig = await startRig({ realRunners: true });
  carol = await rig.p.user(`carol${process.pid}`);
  work = await newRepo(
    rig,
    "shop",
    designExample("shop", {
      "src/cart.js": "export const total = (items) => items.reduce((s, i) => s + i.price, 0);\n",
      ".plue/workflows/docs.py": DOCS,
    }),
  );
  await rig.alice.ok("PUT", `${work.api}/collaborators/${await usernameOf(carol)}`, { permission: "write" });
}, 60_000);

afterAll(async () => {
  await rig.close();
  await fake.close();
});

const checksOf = (sha: string): Promise<Json> => rig.alice.ok("GET", `${work.api}/commits/${sha}/checks`);
const check = (view: Json, name: string) => view.checks.find((c: Json) => c.name === name);
const ciPassed = (sha: string) =>
  until(
    `the ci check at ${sha}`,
    async () => {
      const v = await checksOf(sha);
      return check(v, "ci")?.status === "success" && v;
    },
    120_000,
  );

it("protected main: direct push refused; pull request → checks → review → fix → squash merge closes the issue and deploys once", async () => {
  await rig.alice.ok("POST", `${work.api}/branch-protections`, {
    pattern: "main",
    required_checks: ["ci", "docs"],
    required_approvals: 1,
    dismiss_stale_approvals: true,
    push_allowlist: [],
  });
  const mainBefore = await work.sha("main");

  // A protected branch refuses a direct push with a message git prints, and keeps its ref.
  await work.commit({ "src/cart.js": "// direct\n" }, "a direct change");
  const direct = await work.pushResult("HEAD:refs/heads/main");
  expect(direct.code).not.toBe(0);
  expect(direct.stderr).toMatch(/remote: .*main is protected/);
  expect((await work.remoteLog("main"))[0]!.sha).toBe(mainBefore);
  await work.git(["reset", "-q", "--hard", mainBefore]);

  const issue = await rig.alice.ok("POST", `${work.api}/issues`, { title: "total() ignores quantities" });
  const pull = await openPull(
    work,
    "qty",
    {
      "src/cart.js":
        "export const total = (items) => items.reduce((s, i) => s + i.price * (i.qty ?? 1), 0);\n",
    },
    { title: "Count quantities", body: `Fixes #${issue.number}` },
  );
  expect(pull).toMatchObject({ number: issue.number + 1, state: "open", base: { ref: "main" } });

  // The example ci.py runs on the pull request; its check carries the CodeReview verdict, and the
  // docs workflow (paths=docs/**) is satisfied as skipped.
  const first = await ciPassed(pull.head.sha);
  expect(check(first, "ci")).toMatchObject({ source: "workflow", outputs: { approved: true } });
  expect(check(first, "docs")).toMatchObject({ source: "skipped", status: "skipped" });
  expect(check(first, "docs").description).toBe("skipped: no changed path matches docs/**");

  // carol approves, bob requests changes: the merge is refused, naming bob.
  const pulls = `${work.api}/pulls/${pull.number}`;
  await carol.ok("POST", `${pulls}/reviews`, { event: "APPROVE" });
  await rig.bob.ok("POST", `${pulls}/reviews`, { event: "REQUEST_CHANGES", body: "negative qty?" });
  const blocked = await rig.alice.request("PUT", `${pulls}/merge`, { method: "squash" });
  expect(blocked.status).toBe(409);
  expect(blocked.body.error.reasons.join("\n")).toContain(
    `changes requested by ${await usernameOf(rig.bob)}`,
  );

  // A fix is pushed: carol's approval is stale and dismissed; ci runs again at the new head.
  await work.checkout("qty");
  const head = await work.commit(
    {
      "src/cart.js":
        "export const total = (items) => items.reduce((s, i) => s + i.price * Math.max(0, i.qty ?? 1), 0);\n",
    },
    "total() ignores negative quantities",
  );
  await work.push("qty");
  await synced(work, "qty", head);
  const reviews: Json[] = await rig.alice.ok("GET", `${pulls}/reviews`);
  const carolName = await usernameOf(carol);
  expect(reviews.find((r) => r.user.username === carolName)).toMatchObject({
    state: "approved",
    dismissed: true,
  });
  await ciPassed(head);

  await rig.bob.ok("POST", `${pulls}/reviews`, { event: "APPROVE" });
  const runs = async (): Promise<Json[]> =>
    (await rig.alice.ok("GET", `/api/repos/${work.slug}/runs?limit=100`)).runs;
  const merged = await rig.alice.ok("PUT", `${pulls}/merge`, { method: "squash", sha: head });
  expect(merged).toMatchObject({ merged: true, method: "squash" });

  // The linked issue closed; main's push workflow ran exactly once, at the squash commit.
  expect(await rig.alice.ok("GET", `${work.api}/issues/${issue.number}`)).toMatchObject({
    state: "closed",
    state_reason: "completed",
  });
  await until("ci on the squash commit", async () =>
    (await runs()).some((r) => r.event === "push" && r.commit === merged.sha),
  );
  await new Promise((r) => setTimeout(r, 500));
  const onMain = (await runs()).filter((r) => r.event === "push" && r.commit === merged.sha);
  expect(onMain).toHaveLength(1);
  expect(onMain[0]).toMatchObject({ workflow: "ci", ref: "refs/heads/main" });
  // One squash commit on top of the old main.
  const [squash] = await work.remoteLog("main");
  expect(squash).toMatchObject({
    sha: merged.sha,
    subject: `Count quantities (#${pull.number})`,
    parents: [mainBefore],
  });
}, 300_000);
