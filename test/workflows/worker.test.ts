/** The workflow pool: real worker threads, one deadline per batch, a stuck worker terminated. */
import { WorkflowPool } from "../../app/workflows/pool";
import { PUSH_MAIN } from "./helpers";

const OK = `from plue import workflow, push\n@workflow(triggers=[push()])\ndef ci(ctx):\n    ctx.run(name="a", cmd="true")\n`;
/** One comparison of 10^8 shared items: a single interpreter step, so only the kill stops it. */
const STUCK = `a = [[1] * 10000] * 10000\nb = [[1] * 10000] * 10000\nc = a == b\n${OK}`;
/** A body that runs out of its own 1 s budget (each step is a 800 000-character count). */
const SLOW = `from plue import workflow, push\ns = "ab" * 400000\n@workflow(triggers=[push()])\ndef slow(ctx):\n    for i in range(9000):\n        n = s.count("b")\n`;

const file = (path: string, source: string) => ({ path, blobId: `${path}:${source.length}`, source });
const pools: WorkflowPool[] = [];
function pool(threads: number, deadlineMs: number): WorkflowPool {
  const p = new WorkflowPool({ threads, deadlineMs, memoryMb: 128 });
  pools.push(p);
  return p;
}
afterAll(async () => {
  for (const p of pools) await p.close();
});

describe("the workflow pool", () => {
  it("evaluates in a worker and returns plain headers and plans", async () => {
    const p = pool(1, 5000);
    const res = await p.run({
      files: [file(".plue/workflows/ci.py", OK)],
      prompts: new Map(),
      event: PUSH_MAIN,
    });
    expect(res.files).toHaveLength(1);
    const [f] = res.files;
    expect(f!.result.ok && f!.result.workflows.map((w) => w.name)).toEqual(["ci"]);
    expect(f!.plans.map((x) => [x.name, x.outcome.ok])).toEqual([["ci", true]]);
  });

  it("terminates a worker stuck past the deadline, reports the limit, and evaluates the next batch", async () => {
    const p = pool(1, 300);
    const started = Date.now();
    const stuck = await p.run({
      files: [file(".plue/workflows/x.py", STUCK)],
      prompts: new Map(),
      event: PUSH_MAIN,
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(p.killed).toBe(1);
    expect(stuck.files[0]!.result).toEqual({
      ok: false,
      retryable: true,
      errors: [
        {
          path: ".plue/workflows/x.py",
          line: 1,
          col: 1,
          message:
            "evaluating the workflow files of this event took longer than the limit of 300 ms for all files together (PLUE_WORKFLOW_DEADLINE_MS)",
        },
      ],
    });
    const next = await p.run({
      files: [file(".plue/workflows/ci.py", OK)],
      prompts: new Map(),
      event: PUSH_MAIN,
    });
    expect(next.files[0]!.plans[0]!.outcome.ok).toBe(true);
  });

  it("shares one deadline among all the files of a batch", async () => {
    const p = pool(1, 1500);
    const res = await p.run({
      files: [file("a.py", SLOW), file("b.py", SLOW.replace("slow", "slow2")), file("c.py", OK)],
      prompts: new Map(),
      event: PUSH_MAIN,
    });
    const messages = res.files.map((f) =>
      f.plans.map((x) => (x.outcome.ok ? "ok" : x.outcome.errors[0]!.message)),
    );
    expect(messages[0]).toEqual(["evaluation took longer than 1000 ms"]);
    expect(messages[1]![0]).toMatch(/longer than the limit of 1500 ms for all files together/);
    expect(messages[2]![0]).toMatch(/longer than the limit of 1500 ms for all files together/);
    expect(p.killed).toBe(0); // the interpreter stopped itself
  });

  it("evaluates other keys while one is stuck, and one key's batches in order", async () => {
    const p = pool(2, 3000); // room for the other key's worker on a loaded machine
    const order: string[] = [];
    const batch = (source: string) => ({
      files: [file("x.py", source)],
      prompts: new Map(),
      event: PUSH_MAIN,
    });
    const stuck = p.serial("repo-a", async () => {
      await p.run(batch(STUCK));
      order.push("a1");
    });
    const second = p.serial("repo-a", async () => {
      await p.run(batch(OK));
      order.push("a2");
    });
    const other = p.serial("repo-b", async () => {
      const r = await p.run(batch(OK));
      order.push("b");
      return r;
    });
    expect((await other).files[0]!.plans[0]!.outcome.ok).toBe(true);
    await Promise.all([stuck, second]);
    expect(order).toEqual(["b", "a1", "a2"]);
  });
});
