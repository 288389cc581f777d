-- The whole data model of DESIGN.md §3. Later migrations only add (new columns nullable), so a
-- rolling deploy never needs downtime.

CREATE TABLE users (
  id          bigserial PRIMARY KEY,
  username    text NOT NULL UNIQUE,
  is_admin    boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
  id           bigserial PRIMARY KEY,
  user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name         text NOT NULL,
  token_hash   bytea NOT NULL UNIQUE,          -- sha256 of the token; the token itself is never stored
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at   timestamptz
);

CREATE TABLE repositories (
  id             bigserial PRIMARY KEY,
  owner          text NOT NULL,
  name           text NOT NULL,
  owner_id       bigint REFERENCES users(id) ON DELETE SET NULL,
  visibility     text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'private')),
  default_branch text NOT NULL DEFAULT 'main',
  created_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (owner, name)
);

CREATE TABLE push_events (
  id          bigserial PRIMARY KEY,
  repo_id     bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  ref         text NOT NULL,
  before_sha  text NOT NULL,
  after_sha   text NOT NULL,
  pusher_id   bigint REFERENCES users(id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_events_repo ON push_events (repo_id, id);

CREATE TABLE sessions (
  id          uuid PRIMARY KEY,
  user_id     bigint REFERENCES users(id) ON DELETE SET NULL,
  repo_id     bigint REFERENCES repositories(id) ON DELETE SET NULL,
  title       text,
  status      text NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'running', 'aborting', 'aborted', 'failed')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE messages (
  id           bigserial PRIMARY KEY,
  session_id   uuid NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  role         text NOT NULL CHECK (role IN ('user', 'assistant')),
  workload_id  uuid,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_session ON messages (session_id, id);

CREATE TABLE parts (
  id          bigserial PRIMARY KEY,
  message_id  bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  idx         integer NOT NULL,
  type        text NOT NULL CHECK (type IN ('text', 'tool_use', 'tool_result')),
  data        jsonb NOT NULL,
  UNIQUE (message_id, idx)
);

CREATE TABLE workflow_definitions (
  id          bigserial PRIMARY KEY,
  repo_id     bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  path        text NOT NULL,
  blob_sha    text NOT NULL,
  name        text,
  triggers    jsonb,
  plan        jsonb,
  error       text,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (repo_id, path, blob_sha)
);

CREATE TABLE workflow_runs (
  id               uuid PRIMARY KEY,
  repo_id          bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  definition_id    bigint REFERENCES workflow_definitions(id) ON DELETE SET NULL,
  workflow_name    text NOT NULL,
  workflow_path    text,
  trigger_event    text NOT NULL,
  trigger_context  jsonb NOT NULL DEFAULT '{}'::jsonb,
  status           text NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'running', 'success', 'failure', 'cancelled', 'error')),
  commit_sha       text,
  ref              text,
  session_id       uuid REFERENCES sessions(id) ON DELETE SET NULL,
  mode             text NOT NULL DEFAULT 'scripted' CHECK (mode IN ('scripted', 'agent')),
  plan             jsonb,
  error            text,
  outputs          jsonb,
  concurrency_group text,
  rerun_of         uuid,
  created_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  ended_at         timestamptz
);
CREATE INDEX workflow_runs_repo ON workflow_runs (repo_id, created_at DESC);

CREATE TABLE workflow_steps (
  id          bigserial PRIMARY KEY,
  run_id      uuid NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
  key         text NOT NULL,
  kind        text NOT NULL,
  needs       jsonb NOT NULL DEFAULT '[]'::jsonb,
  status      text NOT NULL DEFAULT 'pending'
              CHECK (status IN ('pending', 'running', 'success', 'failure', 'skipped', 'cancelled')),
  exit_code   integer,
  outputs     jsonb,
  error       text,
  attempts    integer NOT NULL DEFAULT 0,
  started_at  timestamptz,
  ended_at    timestamptz,
  UNIQUE (run_id, key)
);

CREATE TABLE workloads (
  id               uuid PRIMARY KEY,
  type             text NOT NULL CHECK (type IN ('agent', 'workflow')),
  session_id       uuid REFERENCES sessions(id) ON DELETE CASCADE,
  model            text,
  system_prompt    text,
  max_turns        integer,
  workflow_run_id  uuid REFERENCES workflow_runs(id) ON DELETE CASCADE,
  trigger_event    text,
  trigger_context  jsonb,
  status           text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'running', 'aborting', 'succeeded', 'failed', 'aborted')),
  token_hash       bytea,                        -- sha256 of the task token; cleared when it ends
  pod_name         text,
  failure_reason   text,
  started_at       timestamptz,
  ended_at         timestamptz,
  exit_code        integer,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workloads_session ON workloads (session_id, created_at DESC);
CREATE INDEX workloads_status ON workloads (status) WHERE status IN ('pending', 'running', 'aborting');

CREATE TABLE runner_pool (
  id                  uuid PRIMARY KEY,
  pod_name            text NOT NULL UNIQUE,
  pod_ip              text,
  token_hash          bytea NOT NULL,
  status              text NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'claimed', 'terminated')),
  claimed_at          timestamptz,
  claimed_by_task_id  uuid REFERENCES workloads(id) ON DELETE SET NULL,
  registered_at       timestamptz NOT NULL DEFAULT now(),
  last_heartbeat      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX runner_pool_available ON runner_pool (registered_at) WHERE status = 'available';

CREATE TABLE task_events (
  id           bigserial PRIMARY KEY,          -- the SSE id
  workload_id  uuid NOT NULL REFERENCES workloads(id) ON DELETE CASCADE,
  seq          integer NOT NULL,
  type         text NOT NULL,
  data         jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (workload_id, seq)
);

CREATE TABLE webhook_deliveries (
  id           bigserial PRIMARY KEY,
  delivery_id  text NOT NULL UNIQUE,
  kind         text NOT NULL,
  received_at  timestamptz NOT NULL DEFAULT now()
);
