-- Webhooks. Endpoints a user registers (URL, the events they want, the signing secret);
-- events as they were sent (the Standard Webhooks message: id, type, the JSON body), written in
-- the same transaction as the change they report; one delivery job per endpoint and event in
-- the job queue; every attempt with its status code (or error) and duration.
CREATE TABLE webhook_endpoints (
    id          TEXT PRIMARY KEY NOT NULL,
    owner_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    -- Space-separated event types, with a space before and after (' video.ready stream.started ');
    -- ' * ' for every type.
    events      TEXT NOT NULL,
    -- The Standard Webhooks secret ('whsec_' + base64): the server signs with it, so it is kept.
    secret      TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled     BIGINT NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_by_owner ON webhook_endpoints (owner_id, created_at, id);

CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY NOT NULL,
    owner_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    -- The body every delivery sends, byte for byte (the signature covers it).
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE webhook_attempts (
    id          TEXT PRIMARY KEY NOT NULL,
    endpoint_id TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    -- Unix milliseconds.
    started_at  BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    status_code BIGINT,
    error       TEXT,
    -- 1: the receiver answered 2xx.
    delivered   BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (endpoint_id, started_at, id);
