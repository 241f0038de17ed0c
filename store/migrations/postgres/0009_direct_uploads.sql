-- One-time upload URLs a creator's backend mints so a browser can upload without a token: the
-- secret is stored hashed; the video's details are fixed at minting; video_id is set when the
-- URL is used (once), and from then on the secret only reaches that video's upload.
CREATE TABLE direct_uploads (
    id          TEXT PRIMARY KEY NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    owner_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    tags        TEXT NOT NULL DEFAULT '',
    category    TEXT NOT NULL DEFAULT '',
    language    TEXT NOT NULL DEFAULT '',
    privacy     TEXT NOT NULL,
    profile     TEXT,
    max_bytes   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    video_id    TEXT,
    created_at  BIGINT NOT NULL
);
