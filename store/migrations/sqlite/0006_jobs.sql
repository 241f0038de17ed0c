-- The durable job queue: video processing now, webhook deliveries and index updates later.
-- A worker claims a job by taking its lease (lease_owner, lease_until in Unix milliseconds) and
-- keeps it with heartbeats; a job whose lease ran out (its worker died) is claimed again. Failed
-- attempts are retried after a backoff until max_attempts; the reason of the last failure stays.
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY NOT NULL,
    kind         TEXT NOT NULL,
    -- What the job is about, as the kind's handler wrote it (JSON text; opaque to the queue).
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    -- Not before this time (Unix milliseconds): the backoff after a failure.
    run_at       INTEGER NOT NULL,
    lease_owner  TEXT,
    lease_until  INTEGER,
    -- 0 to 1, and when it last moved (a job that stops moving is stopped and retried).
    progress     REAL NOT NULL DEFAULT 0,
    progress_at  INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    finished_at  INTEGER
);
CREATE INDEX jobs_claimable ON jobs (kind, state, run_at);
