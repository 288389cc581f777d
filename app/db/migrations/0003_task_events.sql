-- Event log and task-token lookups (issue 4). Indexes only: safe during a rolling deploy.

-- Readers resume a workload's stream with `workload_id = $1 AND id > $2 ORDER BY id`.
CREATE INDEX task_events_workload_id ON task_events (workload_id, id);

-- Runner callbacks and git reads find the live workload of a task token by its hash.
CREATE UNIQUE INDEX workloads_token_hash ON workloads (token_hash) WHERE token_hash IS NOT NULL;
