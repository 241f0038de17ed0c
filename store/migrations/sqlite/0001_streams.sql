-- Streams a publisher may push to. The key is stored only as its SHA-256 hash.
CREATE TABLE streams (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    key_hash   TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
