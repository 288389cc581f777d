-- Warm pool (issue 7). Additive only: safe during a rolling deploy.

-- A claim carries its assignment, sealed (AES-256-GCM under a key derived from the pool secret, so
-- the task token is never stored readable), until the runner's long-poll takes it.
ALTER TABLE runner_pool ADD COLUMN assignment bytea;
-- When the workload was handed to the pool: claim latency runs from here to delivered_at.
ALTER TABLE runner_pool ADD COLUMN dispatched_at timestamptz;
ALTER TABLE runner_pool ADD COLUMN delivered_at timestamptz;
-- claimed_at + the workload's wall time + a grace: past it the reaper stops the runner.
ALTER TABLE runner_pool ADD COLUMN deadline_at timestamptz;
-- Started for one workload (a cold Job or process) rather than kept in the pool.
ALTER TABLE runner_pool ADD COLUMN cold boolean;
ALTER TABLE runner_pool ADD COLUMN terminated_at timestamptz;
ALTER TABLE runner_pool ADD COLUMN terminated_reason text;

-- No workload is ever held by two live runners.
CREATE UNIQUE INDEX runner_pool_one_per_task ON runner_pool (claimed_by_task_id) WHERE status = 'claimed';
-- The reaper finds silent runners by their last heartbeat.
CREATE INDEX runner_pool_heartbeat ON runner_pool (last_heartbeat) WHERE status <> 'terminated';

-- Workloads waiting for a runner: no pool runner was free when they were dispatched. A runner that
-- becomes free (or the cold start made for it) takes the oldest with FOR UPDATE SKIP LOCKED.
CREATE TABLE runner_queue (
  workload_id      uuid PRIMARY KEY REFERENCES workloads(id) ON DELETE CASCADE,
  assignment       bytea NOT NULL,              -- sealed like runner_pool.assignment
  queued_at        timestamptz NOT NULL DEFAULT now(),
  cold_started_at  timestamptz                  -- a cold start was asked for it
);
CREATE INDEX runner_queue_order ON runner_queue (queued_at);
