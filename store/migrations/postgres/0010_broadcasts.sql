-- Live to VOD. streams.record: 1 record, 0 do not, NULL the server's default ([live] record).
ALTER TABLE streams ADD COLUMN record BIGINT;

-- One row per broadcast: a stream from its first publish until it ends after the offline grace
-- (reconnects within the grace are the same broadcast). Its recording is a video in the catalog;
-- viewers are sampled while it is live (peak, and sum/count for the average).
CREATE TABLE broadcasts (
    id             TEXT PRIMARY KEY NOT NULL,
    stream_name    TEXT NOT NULL,
    owner_id       TEXT,
    started_at     BIGINT NOT NULL,
    ended_at       BIGINT,
    peak_viewers   BIGINT NOT NULL DEFAULT 0,
    viewer_sum     BIGINT NOT NULL DEFAULT 0,
    viewer_samples BIGINT NOT NULL DEFAULT 0,
    video_id       TEXT
);
CREATE INDEX broadcasts_by_stream ON broadcasts (stream_name, started_at, id);
