/**
 * Issue events into workflows, natively (no webhook): opening, labelling, commenting and closing
 * an issue start the workflows whose `issue` triggers match, and `@handle` in a body or comment
 * starts `mention` workflows; a pull request's number starts no `issue` event.
 */
import { nextIssueNumber } from "../../app/issues/numbers";
import { GitClient } from "../git/client";
import { type AgentPlatform, type ApiClient, startAgentPlatform } from "../helpers/agents";
import { type Json, pushRepo, waitForRuns } from "../runs/helpers";

const WORKFLOWS = `from plue import workflow, issue, mention

@workflow(triggers=[issue(types=["opened"])])
def triage(ctx):
    ctx.run(name="t", cmd="echo " + str(ctx.event.issue.number))

@workflow(triggers=[issue(types=["labeled"], labels=["bug"])])
def bugs(ctx):
    ctx.run(name="b", cmd="true")

@workflow(triggers=[issue(types=["commented", "closed"])])
def talk(ctx):
    ctx.run(name="c", cmd="true")

@workflow(triggers=[mention(handle="helper")])
def helper(ctx):
    ctx.run(name="h", cmd="true")
`;

let p: AgentPlatform;
let alice: ApiClient;
const git = new GitClient();
const R = "/api/repos/alice/flows";

beforeAll(async () => {
  p = await startAgentPlatform();
  p.executor.script = async (r) => void (await r.event("done", { reason: "completed", outputs: {} }));
  alice = await p.user("alice");
  await pushRepo(git, p.url, alice, "alice", "flows", { ".plue/workflows/flows.py": WORKFLOWS });
  await alice.ok("POST", `${R}/labels`, { name: "bug", color: "ff0000" });
  await alice.ok("POST", `${R}/labels`, { name: "chore", color: "00ff00" });
});
afterAll(async () => {
  await p.close();
  git.cleanup();
});

/** The runs of `workflow` once `count` exist and have ended. */
async function runsOf(workflow: string, count: number): Promise<Json[]> {
  await p.ctx.issues.drain();
  return waitForRuns(alice, "alice/flows", count, { query: `?workflow=${workflow}&limit=100` });
}

describe("issue workflow events", () => {
  it("opening an issue starts the opened workflow with the issue in ctx.event", async () => {
    const issue = await alice.ok("POST", `${R}/issues`, { title: "first", labels: ["chore"] });
    const [run] = await runsOf("triage", 1);
    expect(run).toMatchObject({
      event: "issue",
      status: "success",
      trigger_context: {
        action: "opened",
        number: issue.number,
        title: "first",
        labels: ["chore"],
        sender: "alice",
      },
    });
  });

  it("labeling starts workflows filtered by that label, commenting and closing theirs", async () => {
    const issue = await alice.ok("POST", `${R}/issues`, { title: "second" });
    await alice.ok("PATCH", `${R}/issues/${issue.number}`, { labels: ["chore"] });
    await alice.ok("POST", `${R}/issues/${issue.number}/labels`, { labels: ["bug"] });
    const [bug] = await runsOf("bugs", 1);
    expect(bug.trigger_context).toMatchObject({ action: "labeled", label: "bug", labels: ["bug", "chore"] });
    await alice.ok("POST", `${R}/issues/${issue.number}/comments`, { body: "a plain comment" });
    await alice.ok("PATCH", `${R}/issues/${issue.number}`, { state: "closed" });
    const talk = await runsOf("talk", 2);
    expect(talk.map((r) => r.trigger_context.action).sort()).toEqual(["closed", "commented"]);
    expect(talk.find((r) => r.trigger_context.action === "commented").trigger_context.comment).toBe(
      "a plain comment",
    );
    expect(await runsOf("bugs", 1)).toHaveLength(1);
  });

  it("@handle in a comment or a new body starts a mention run", async () => {
    const issue = await alice.ok("POST", `${R}/issues`, { title: "third", body: "cc @helper" });
    await alice.ok("POST", `${R}/issues/${issue.number}/comments`, { body: "@Helper, and @nobody, look" });
    const runs = await runsOf("helper", 2);
    expect(runs.map((r) => r.trigger_context)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          handle: "helper",
          number: issue.number,
          body: "cc @helper",
          sender: "alice",
        }),
        expect.objectContaining({ handle: "helper", body: "@Helper, and @nobody, look" }),
      ]),
    );
  });

  it("a pull request's comment starts mentions but no issue event", async () => {
    const repo = (await p.ctx.git.repos.find("alice", "flows"))!;
    const number = await p.ctx.db.transaction(async (tx) => {
      const n = await nextIssueNumber(tx, repo.id);
      await tx.query("INSERT INTO issues (repo_id, number, is_pull, title) VALUES ($1, $2, true, 'a PR')", [
        repo.id,
        n,
      ]);
      return n;
    });
    const talkBefore = (await runsOf("talk", 0)).length;
    await alice.ok("POST", `${R}/issues/${number}/comments`, { body: "@helper on a pull request" });
    const helper = await runsOf("helper", 3);
    expect(helper.some((r) => r.trigger_context.number === number)).toBe(true);
    expect(await runsOf("talk", 0)).toHaveLength(talkBefore);
  });
});
