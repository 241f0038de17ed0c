-- The video catalog: uploads and (later) live recordings, whatever their state. The id is random
-- and unguessable (it is the URL of unlisted videos). source and renditions are JSON written by
-- the vod crate after probing and processing; the store keeps them as text.
CREATE TABLE videos (
    id             TEXT PRIMARY KEY NOT NULL,
    owner_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title          TEXT NOT NULL DEFAULT '',
    description    TEXT NOT NULL DEFAULT '',
    -- One tag per line (tags may not contain control characters).
    tags           TEXT NOT NULL DEFAULT '',
    category       TEXT NOT NULL DEFAULT '',
    -- A BCP 47 language tag ("en", "pt-BR") or empty.
    language       TEXT NOT NULL DEFAULT '',
    privacy        TEXT NOT NULL CHECK (privacy IN ('public', 'unlisted', 'private')),
    status         TEXT NOT NULL CHECK (status IN ('uploading', 'processing', 'ready', 'failed')),
    -- Why processing failed, for a person.
    error          TEXT,
    profile        TEXT,
    -- The size the uploader announced (NULL until known) and what has arrived.
    upload_size    INTEGER,
    bytes_received INTEGER NOT NULL DEFAULT 0,
    stage          TEXT,
    progress       REAL NOT NULL DEFAULT 0,
    source         TEXT,
    renditions     TEXT,
    poster_key     TEXT,
    storyboard_key TEXT,
    duration_ms    INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    published_at   INTEGER
);
CREATE INDEX videos_by_owner ON videos (owner_id, created_at, id);
