// The runner side of bench/claim.ts, in its own process as pods would be: standby runners (the real
// standby client, runner/standby.ts) with a trivial workload. Each reports over IPC the moment it
// holds its assignment, then waits to be released before it reports `done` and leaves.
// Started by bench/claim.ts; not meant to be run by hand.
import { ScriptedRunners } from "../test/helpers/standby-runner";

/** resize: keep `size` standing (start or stop some); size: refill up to `size` only from now on. */
type Command = { type: "resize" | "size"; size: number } | { type: "release" };

const [appUrl, secret] = process.argv.slice(2);
if (!appUrl || !secret || !process.send) throw new Error("usage: started by bench/claim.ts with IPC");

let release!: () => void;
let released = new Promise<void>((r) => (release = r));
const runners = new ScriptedRunners("bench", {
  size: 0,
  appUrl: () => appUrl,
  secret,
  script: async (r) => {
    process.send!({ type: "got", id: r.workloadId, at: performance.timeOrigin + performance.now() });
    await released;
    await r.event("done", { reason: "end_turn" });
  },
});
await runners.start(async () => {});
process.on("message", (m: Command) => {
  if (m.type === "resize") runners.resize(m.size);
  if (m.type === "size") runners.opts.size = m.size;
  if (m.type === "release") {
    release();
    released = new Promise<void>((r) => (release = r));
  }
});
process.on("disconnect", () => void runners.close().then(() => process.exit(0)));
process.send({ type: "ready" });
