-- Where each playback session last was, for "continue watching".
ALTER TABLE playback_sessions ADD COLUMN position_ms BIGINT NOT NULL DEFAULT 0;
