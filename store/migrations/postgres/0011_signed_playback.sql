-- Signed playback. A playback policy beside privacy: 'public' (the URL is enough) or 'signed'
-- (the URL needs a playback token signed with one of the owner's keys). Streams get a privacy
-- too (public: listed; unlisted: by URL only; private: their owner only).
ALTER TABLE videos ADD COLUMN playback_policy TEXT NOT NULL DEFAULT 'public';
ALTER TABLE direct_uploads ADD COLUMN playback_policy TEXT NOT NULL DEFAULT 'public';
ALTER TABLE streams ADD COLUMN privacy TEXT NOT NULL DEFAULT 'public';
ALTER TABLE streams ADD COLUMN playback_policy TEXT NOT NULL DEFAULT 'public';

-- Creators' signing keys: only the public half (PEM) is kept. expires_at is set when a key is
-- rotated out (it keeps working until then); revoked_at when it is revoked (refused at once).
CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY NOT NULL,
    owner_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    algorithm   TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    public_key  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX signing_keys_by_owner ON signing_keys (owner_id, created_at, id);

-- Secrets the server makes once and every node shares (the media-token HMAC key, the key that
-- signs the tokens the API mints).
CREATE TABLE server_secrets (
    name        TEXT PRIMARY KEY NOT NULL,
    value       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
