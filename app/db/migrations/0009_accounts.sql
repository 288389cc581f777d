-- Accounts for a team (docs/accounts.md): people and organizations, how they sign in, what their
-- tokens may do, who may do what to a repository, and the audit log. Only additions: new columns
-- are nullable or defaulted, so a rolling deploy keeps serving.

-- An organization is a row in `users` with kind 'org': it owns repositories under its name the
-- same way a user does, so owner names stay one namespace. An org never signs in.
ALTER TABLE users
  ADD COLUMN kind          text NOT NULL DEFAULT 'user' CHECK (kind IN ('user', 'org')),
  ADD COLUMN full_name     text NOT NULL DEFAULT '',
  ADD COLUMN email         text,
  ADD COLUMN password_hash text,               -- Argon2id PHC string; NULL: no password set
  ADD COLUMN suspended_at  timestamptz,        -- set: every token and browser session stops at once
  ADD COLUMN oidc_issuer   text,
  ADD COLUMN oidc_sub      text;
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
CREATE UNIQUE INDEX users_oidc ON users (oidc_issuer, oidc_sub) WHERE oidc_sub IS NOT NULL;

-- NULL scopes: every scope (the first-start admin token, tokens made before scopes existed).
ALTER TABLE api_tokens
  ADD COLUMN scopes     text[],
  ADD COLUMN expires_at timestamptz;
CREATE INDEX api_tokens_user ON api_tokens (user_id, id);

ALTER TABLE repositories ADD COLUMN description text NOT NULL DEFAULT '';

CREATE TABLE org_members (
  org_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role       text NOT NULL CHECK (role IN ('owner', 'member')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user ON org_members (user_id);

-- A team holds one permission on a set of its organization's repositories.
CREATE TABLE teams (
  id         bigserial PRIMARY KEY,
  org_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name       text NOT NULL,
  permission text NOT NULL CHECK (permission IN ('read', 'write', 'admin')),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX teams_org_name ON teams (org_id, lower(name));

CREATE TABLE team_members (
  team_id bigint NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE team_repos (
  team_id bigint NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  repo_id bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  PRIMARY KEY (team_id, repo_id)
);
CREATE INDEX team_repos_repo ON team_repos (repo_id);

CREATE TABLE collaborators (
  repo_id    bigint NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  permission text NOT NULL CHECK (permission IN ('read', 'write', 'admin')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (repo_id, user_id)
);
CREATE INDEX collaborators_user ON collaborators (user_id);

-- Single-use links, stored hashed like tokens. With user_id NULL it invites a new person
-- (PLUE_SIGNUP=invite); with user_id set it lets that existing user set a password.
CREATE TABLE invites (
  id         bigserial PRIMARY KEY,
  token_hash bytea NOT NULL UNIQUE,
  user_id    bigint REFERENCES users(id) ON DELETE CASCADE,
  created_by bigint REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at    timestamptz,
  used_by    bigint REFERENCES users(id) ON DELETE SET NULL
);

-- Browser sign-ins. The cookie holds a random secret; only its sha256 is stored. Sign-out deletes
-- the row, so the cookie is dead server-side at once.
CREATE TABLE browser_sessions (
  id_hash      bytea PRIMARY KEY,
  user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  ip           text,
  user_agent   text
);
CREATE INDEX browser_sessions_user ON browser_sessions (user_id);

-- Failed sign-ins per account and per address: rate-limiter-flexible's RateLimiterPostgres table,
-- created here so it runs with tableCreated (app/http/rate-limit.ts keeps its own rate_limits).
CREATE TABLE signin_limits (
  key    varchar(255) PRIMARY KEY,
  points integer NOT NULL DEFAULT 0,
  expire bigint
);

-- Who did what, when, from where. Never a secret: no token, password, cookie or link.
CREATE TABLE audit_log (
  id         bigserial PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  actor_id   bigint REFERENCES users(id) ON DELETE SET NULL,
  actor      text,                            -- the username as it was (kept if the user goes)
  action     text NOT NULL,
  target     text,
  ip         text,
  details    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_action ON audit_log (action, id);
