-- The catalog's change log (an outbox): one row per change to what search and recommendations
-- show (a video's details, state or privacy; a stream's details, access or live state; a
-- deletion), written in the same transaction as the change. It carries only what changed, not
-- how: a follower (each node's search index) reads the row as it is now. Followers keep their own
-- position (seq); rows are pruned after some days, and a follower that fell behind the oldest
-- row rebuilds from the tables.
CREATE TABLE catalog_changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- 'video' (item = video id) or 'stream' (item = stream name).
    kind        TEXT NOT NULL,
    item        TEXT NOT NULL,
    changed_at  BIGINT NOT NULL
);
CREATE INDEX catalog_changes_by_time ON catalog_changes (changed_at);

-- How many views a video has (counted by analytics); search sorts by it.
ALTER TABLE videos ADD COLUMN view_count BIGINT NOT NULL DEFAULT 0;
