-- The task token of an ended workload, kept (as its sha256, like token_hash) so that its own
-- runner's late retries can still be told apart from strangers: POST /internal/tasks/:id/events
-- authenticates before it says anything about a workload, and only that runner may learn that
-- the workload ended and what was stored (409 workload_ended with `ack`, after a lost final ack).
-- It grants nothing: every grant of a task token reads token_hash of a live workload.
-- Filled by a trigger wherever token_hash is cleared, so no code path that ends a workload can
-- forget it. Additive (a nullable column): older replicas keep working during a rolling deploy.
ALTER TABLE workloads ADD COLUMN ended_token_hash bytea;
CREATE INDEX workloads_ended_token_hash ON workloads (ended_token_hash) WHERE ended_token_hash IS NOT NULL;

CREATE FUNCTION workloads_keep_ended_token() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.token_hash IS NOT NULL AND NEW.token_hash IS NULL THEN
    NEW.ended_token_hash := OLD.token_hash;
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER workloads_keep_ended_token BEFORE UPDATE OF token_hash ON workloads
  FOR EACH ROW EXECUTE FUNCTION workloads_keep_ended_token();
