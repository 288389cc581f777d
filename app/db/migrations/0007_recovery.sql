-- Crash recovery (docs/dispatch.md, "Recovery"). Additive only.
--
-- Each server process is an instance (`<boot>-<pid>-<start>`, app/dispatch/instance.ts) with a
-- heartbeat row; the workloads it dispatched name it, so those of a server that died (a crash, an
-- OOM kill, a reboot) are recognised and failed once no queue or live pool runner holds them.
CREATE TABLE IF NOT EXISTS app_instances (
  id              text PRIMARY KEY,
  hostname        text NOT NULL,
  pid             integer NOT NULL,
  started_at      timestamptz NOT NULL DEFAULT now(),
  last_heartbeat  timestamptz NOT NULL DEFAULT now()
);

-- NULL for workloads created before this migration (recovered by inactivity instead).
ALTER TABLE workloads ADD COLUMN IF NOT EXISTS owner_instance text;
CREATE INDEX IF NOT EXISTS workloads_live_owner ON workloads (owner_instance)
  WHERE status IN ('pending', 'running', 'aborting');
