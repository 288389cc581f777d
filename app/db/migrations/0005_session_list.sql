-- A user's chats, newest first (GET /api/sessions). An index only: safe during a rolling deploy.
CREATE INDEX sessions_user_updated ON sessions (user_id, updated_at DESC, id DESC);
