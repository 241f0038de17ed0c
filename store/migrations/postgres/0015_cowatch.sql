-- Co-watch counts: how many viewers counted a view of both videos (within 30 days of each
-- other), kept in both directions and trimmed to the strongest pairs per video, so the table
-- stays bounded (videos x the kept count) however many views arrive.
CREATE TABLE cowatch (
    video_id    TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    other_id    TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    viewers     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (video_id, other_id)
);
CREATE INDEX cowatch_by_weight ON cowatch (video_id, viewers);
-- A viewer's counted views, newest first (history and co-watch pairs).
CREATE INDEX playback_sessions_counted_by_viewer ON playback_sessions (viewer, counted, started_at);
