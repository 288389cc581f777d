-- Issues and pull requests (docs/pulls.md): issues, labels, comments and their timeline; pull
-- requests with reviews and line comments; commit statuses and skipped checks; branch
-- protection rules. Only additions: a rolling deploy keeps serving.
--
-- A pull request is an issue (as on GitHub and Gitea): one `issues` row, `is_pull` set, with a
-- `pull_requests` row beside it. So both share one number sequence per repository, comments,
-- labels, assignees, reactions and the timeline.

-- The last number given to an issue or pull request of the repository (app/issues/numbers.ts).
ALTER TABLE repositories ADD COLUMN last_issue_number integer NOT NULL DEFAULT 0;

CREATE TABLE labels (
  id          bigserial PRIMARY KEY,
  repo_id     bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  name        text NOT NULL,
  color       text NOT NULL CHECK (color ~ '^[0-9a-f]{6}$'),
  description text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX labels_repo_name ON labels (repo_id, lower(name));

CREATE TABLE issues (
  id           bigserial PRIMARY KEY,
  repo_id      bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  number       integer NOT NULL,
  is_pull      boolean NOT NULL DEFAULT false,
  title        text NOT NULL,
  body         text NOT NULL DEFAULT '',
  author_id    bigint REFERENCES users(id) ON DELETE SET NULL,
  state        text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
  -- Why it was closed (GitHub's words): completed | not_planned | merged; 'reopened' once reopened.
  state_reason text CHECK (state_reason IN ('completed', 'not_planned', 'merged', 'reopened')),
  closed_at    timestamptz,
  closed_by_id bigint REFERENCES users(id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (repo_id, number)
);
CREATE INDEX issues_list ON issues (repo_id, is_pull, state, number DESC);
CREATE INDEX issues_author ON issues (author_id);

CREATE TABLE issue_labels (
  issue_id bigint NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
  label_id bigint NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
  PRIMARY KEY (issue_id, label_id)
);
CREATE INDEX issue_labels_label ON issue_labels (label_id);

CREATE TABLE issue_assignees (
  issue_id bigint NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
  user_id  bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  PRIMARY KEY (issue_id, user_id)
);

-- Conversation comments of an issue or pull request (line comments are review_comments).
CREATE TABLE issue_comments (
  id         bigserial PRIMARY KEY,
  issue_id   bigint NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
  author_id  bigint REFERENCES users(id) ON DELETE SET NULL,
  body       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX issue_comments_issue ON issue_comments (issue_id, id);

-- The timeline: every change to an issue or pull request (wire/pulls.ts TIMELINE_KINDS), in order.
CREATE TABLE issue_events (
  id         bigserial PRIMARY KEY,
  issue_id   bigint NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
  actor_id   bigint REFERENCES users(id) ON DELETE SET NULL,
  kind       text NOT NULL,
  data       jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX issue_events_issue ON issue_events (issue_id, id);

-- Reactions on an issue (comment_id NULL) or one of its comments.
CREATE TABLE reactions (
  id         bigserial PRIMARY KEY,
  issue_id   bigint NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
  comment_id bigint REFERENCES issue_comments(id) ON DELETE CASCADE,
  user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  content    text NOT NULL CHECK (content IN ('+1', '-1', 'laugh', 'confused', 'heart', 'hooray', 'rocket', 'eyes')),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX reactions_once ON reactions (issue_id, COALESCE(comment_id, 0), user_id, content);

CREATE TABLE pull_requests (
  issue_id         bigint PRIMARY KEY REFERENCES issues(id) ON DELETE CASCADE,
  -- The base repository (the issue's). head_repo_id is the same one until forks exist.
  repo_id          bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  head_repo_id     bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  head_branch      text NOT NULL,
  base_branch      text NOT NULL,
  -- The commits the pull request was last computed at: head_sha moves with every push to the
  -- head branch (synchronize); base_sha is the base branch's head then; merge_base between them.
  head_sha         text NOT NULL,
  base_sha         text NOT NULL,
  merge_base       text,
  draft            boolean NOT NULL DEFAULT false,
  -- Mergeability at (base_sha, head_sha): unknown until computed, then clean or conflict.
  mergeable        text NOT NULL DEFAULT 'unknown' CHECK (mergeable IN ('unknown', 'clean', 'conflict')),
  conflict_files   text[] NOT NULL DEFAULT '{}',
  merged_at        timestamptz,
  merged_by_id     bigint REFERENCES users(id) ON DELETE SET NULL,
  merge_commit_sha text,
  merge_method     text CHECK (merge_method IN ('merge', 'squash', 'rebase', 'fast-forward')),
  head_deleted_at  timestamptz
);
CREATE INDEX pull_requests_head ON pull_requests (head_repo_id, head_branch);
CREATE INDEX pull_requests_base ON pull_requests (repo_id, base_branch);

CREATE TABLE pull_reviews (
  id           bigserial PRIMARY KEY,
  pull_id      bigint NOT NULL REFERENCES pull_requests(issue_id) ON DELETE CASCADE,
  author_id    bigint REFERENCES users(id) ON DELETE SET NULL,
  state        text NOT NULL CHECK (state IN ('approved', 'changes_requested', 'commented')),
  body         text NOT NULL DEFAULT '',
  -- The head the review was given on: an approval of an older head is stale.
  commit_sha   text NOT NULL,
  dismissed_at timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pull_reviews_pull ON pull_reviews (pull_id, id);

-- Line comments on the diff. `line` is where the comment sits on the current head (NULL and
-- outdated once its line is gone); the original_* columns keep where it was written.
CREATE TABLE review_comments (
  id                  bigserial PRIMARY KEY,
  pull_id             bigint NOT NULL REFERENCES pull_requests(issue_id) ON DELETE CASCADE,
  review_id           bigint REFERENCES pull_reviews(id) ON DELETE SET NULL,
  in_reply_to_id      bigint REFERENCES review_comments(id) ON DELETE CASCADE,
  author_id           bigint REFERENCES users(id) ON DELETE SET NULL,
  body                text NOT NULL,
  path                text NOT NULL,
  -- LEFT: a line of the base side (removed or context); RIGHT: of the head side.
  side                text NOT NULL CHECK (side IN ('LEFT', 'RIGHT')),
  line                integer,
  commit_sha          text NOT NULL,
  original_line       integer NOT NULL,
  original_commit_sha text NOT NULL,
  outdated            boolean NOT NULL DEFAULT false,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX review_comments_pull ON review_comments (pull_id, id);

-- Commit statuses posted by outside systems (and by nothing else): the latest per context.
CREATE TABLE commit_statuses (
  id          bigserial PRIMARY KEY,
  repo_id     bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  sha         text NOT NULL,
  context     text NOT NULL,
  state       text NOT NULL CHECK (state IN ('pending', 'success', 'failure', 'error')),
  target_url  text,
  description text NOT NULL DEFAULT '',
  creator_id  bigint REFERENCES users(id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (repo_id, sha, context)
);

-- Workflows that exist at a commit but whose triggers did not match a pull request's event
-- (a paths or branches filter): a required check of that name is satisfied as skipped.
CREATE TABLE check_skips (
  repo_id    bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  sha        text NOT NULL,
  workflow   text NOT NULL,
  reason     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (repo_id, sha, workflow)
);

-- Branch protection, per branch pattern (glob; the most specific matching rule applies).
CREATE TABLE branch_protections (
  id                      bigserial PRIMARY KEY,
  repo_id                 bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  pattern                 text NOT NULL,
  -- Workflow names or commit-status contexts that must succeed (or be skipped) to merge.
  required_checks         text[] NOT NULL DEFAULT '{}',
  required_approvals      integer NOT NULL DEFAULT 0 CHECK (required_approvals BETWEEN 0 AND 20),
  dismiss_stale_approvals boolean NOT NULL DEFAULT false,
  block_force_push        boolean NOT NULL DEFAULT true,
  block_deletion          boolean NOT NULL DEFAULT true,
  -- NULL: anyone with write may push directly; otherwise only these users and "org/team"s
  -- ('{}': nobody: every change arrives through a pull request).
  push_allowlist          text[],
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX branch_protections_pattern ON branch_protections (repo_id, pattern);
