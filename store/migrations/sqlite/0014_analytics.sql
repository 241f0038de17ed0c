-- View analytics. A playback session is one player on one video (its id made by the player);
-- it counts as a view once it has really watched (10 s, or the whole of a shorter video), at
-- most once per viewer per video per day and a few times per address, and it marks which
-- twentieths of the video it watched (the retention curve).
CREATE TABLE playback_sessions (
    id               TEXT PRIMARY KEY NOT NULL,
    video_id         TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    -- The player's viewer id, or 'user:ID' for a signed-in viewer.
    viewer           TEXT NOT NULL,
    -- The client address (IPv6 by /64), for the per-address cap.
    address          TEXT NOT NULL,
    started_at       BIGINT NOT NULL,
    last_at          BIGINT NOT NULL,
    watched_ms       BIGINT NOT NULL DEFAULT 0,
    -- Bit i set: the session watched some of [i*5%, (i+1)*5%) of the video.
    buckets          BIGINT NOT NULL DEFAULT 0,
    counted          BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX playback_sessions_by_viewer ON playback_sessions (video_id, viewer, started_at);
CREATE INDEX playback_sessions_by_address ON playback_sessions (video_id, address, started_at);
CREATE INDEX playback_sessions_by_time ON playback_sessions (last_at);

-- Per video and UTC day (days since 1970-01-01): views counted, milliseconds watched.
CREATE TABLE video_daily (
    video_id    TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    day         BIGINT NOT NULL,
    views       BIGINT NOT NULL DEFAULT 0,
    watch_ms    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (video_id, day)
);

-- Per video and twentieth of its duration: how many counted views watched some of it.
CREATE TABLE video_retention (
    video_id    TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    bucket      BIGINT NOT NULL,
    views       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (video_id, bucket)
);

-- Likes (1) and dislikes (-1) of signed-in users, one each per video, changeable.
CREATE TABLE video_ratings (
    video_id    TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rating      BIGINT NOT NULL,
    rated_at    BIGINT NOT NULL,
    PRIMARY KEY (video_id, user_id)
);
ALTER TABLE videos ADD COLUMN likes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN dislikes BIGINT NOT NULL DEFAULT 0;
