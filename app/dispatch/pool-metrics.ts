/** Warm-pool metrics in the process registry (`/metrics`). */
import client from "prom-client";
import type { Queryable } from "../db";
import { registry } from "../metrics";

let source: Queryable | undefined;

/** The database the pool-size gauge counts from (the last pool started in this process). */
export function setPoolMetricsSource(db: Queryable | undefined): void {
  source = db;
}

export const poolRunners = new client.Gauge({
  name: "plue_runner_pool_runners",
  help: "Runners in the warm pool by status (terminated: within the last hour)",
  labelNames: ["status"],
  registers: [registry],
  async collect() {
    if (!source) return;
    this.reset();
    for (const status of ["available", "claimed", "terminated"]) this.set({ status }, 0);
    try {
      const r = await source.query<{ status: string; n: number }>(
        "SELECT status, count(*)::int AS n FROM runner_pool GROUP BY status",
      );
      for (const row of r.rows) this.set({ status: row.status }, row.n);
    } catch {
      // A scrape during shutdown finds the database closed; the next scrape counts again.
    }
  },
});

export const claimLatency = new client.Histogram({
  name: "plue_runner_claim_seconds",
  help: "From dispatch to the runner holding its assignment, by path: warm (claimed at once), queued (waited for a free runner), cold (a runner started for it)",
  labelNames: ["path"],
  buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers: [registry],
});

export const coldStarts = new client.Counter({
  name: "plue_runner_cold_starts_total",
  help: "Runners started for one workload because no pool runner was free",
  labelNames: ["backend"],
  registers: [registry],
});

export const reapedRunners = new client.Counter({
  name: "plue_runner_reaped_total",
  help: "Runners the reaper gave up on (silent), stopped (overdue) or deleted (orphaned)",
  labelNames: ["reason"],
  registers: [registry],
});
