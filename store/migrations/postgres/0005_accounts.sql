-- Accounts: creators and admins who own streams (and, later, videos and webhooks).
-- The id is random and unguessable (it appears in URLs); the name is the login, lowercase.
CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    -- argon2id in PHC string form; NULL: this user cannot log in with a password (tokens only).
    password_hash TEXT,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'creator')),
    created_at    BIGINT NOT NULL
);

-- Every stream has an owner; streams made before accounts existed go to the first admin at
-- start-up (the store cannot know who that is while migrating).
ALTER TABLE streams ADD COLUMN owner_id TEXT REFERENCES users (id);
ALTER TABLE streams ADD COLUMN title TEXT NOT NULL DEFAULT '';
ALTER TABLE streams ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE streams ADD COLUMN category TEXT NOT NULL DEFAULT '';
CREATE INDEX streams_by_owner ON streams (owner_id, name);

-- Programs' credentials: scoped bearer tokens, stored as SHA-256 like stream keys. The id (tok_...)
-- names a token in lists and revocation without revealing it.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    -- Space-separated scopes, e.g. "streams:read streams:write".
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id, created_at, id);

-- People's credentials: web sessions behind an HttpOnly cookie. The cookie value is stored hashed;
-- the CSRF token is the one the pages send back in X-CSRF-Token.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
