-- Chat identities handed out by the admin: a viewer token works in every room; a moderator
-- token moderates one stream's room (and is a viewer elsewhere). Stored hashed, like stream keys.
CREATE TABLE chat_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'moderator')),
    stream TEXT REFERENCES streams (name) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
