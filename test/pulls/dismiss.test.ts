/**
 * Branch rules and pull requests together (the rules themselves are app/pulls/protection.ts):
 * a push dismisses stale approvals when the base's rule says so, the merge is then refused with
 * the unmet rule named, and a new approval lets it merge.
 */
import { type Json, newRepo, openPull, type Rig, startRig, synced, timeline, type Work } from "./helpers";

let rig: Rig;
let work: Work;

beforeAll(async () => {
  rig = await startRig();
  work = await newRepo(rig, "ruled", { "README.md": "# ruled\n" });
  await rig.alice.ok("POST", `${work.api}/branch-protections`, {
    pattern: "main",
    required_approvals: 1,
    dismiss_stale_approvals: true,
  });
});
afterAll(() => rig.close());

it("dismisses a stale approval on push and blocks the merge until approved again", async () => {
  const pull = await openPull(work, "ruled-change", { "a.txt": "a\n" });
  const url = `${work.api}/pulls/${pull.number}`;
  const blocked = await rig.alice.ok("GET", url);
  expect(blocked.mergeable_state).toBe("blocked");
  expect(blocked.blockers.join(" ")).toMatch(/approv/);

  await rig.bob.ok("POST", `${url}/reviews`, { event: "APPROVE", commit_id: pull.head.sha });
  expect((await rig.alice.ok("GET", url)).mergeable_state).toBe("clean");

  await work.checkout("ruled-change");
  const next = await work.commit({ "a.txt": "a2\n" }, "more");
  await work.push("ruled-change");
  await work.checkout("main");
  await synced(work, "ruled-change", next);

  const reviews: Json[] = await rig.alice.ok("GET", `${url}/reviews`);
  expect(reviews).toEqual([expect.objectContaining({ state: "approved", dismissed: true, stale: true })]);
  const kinds = (await timeline(rig, work, pull.number)).map((e) => e.kind);
  expect(kinds).toContain("review_dismissed");
  const refused = await rig.alice.request("PUT", `${url}/merge`, {});
  expect(refused.status).toBe(409);
  expect(refused.body.error.code).toBe("not_mergeable");
  expect(refused.body.error.reasons.join(" ")).toMatch(/approv/);

  await rig.bob.ok("POST", `${url}/reviews`, { event: "APPROVE", commit_id: next });
  const merged = await rig.alice.request("PUT", `${url}/merge`, { sha: next });
  expect(merged.status).toBe(200);
});
