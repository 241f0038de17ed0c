-- Named leases that nodes sharing this database take and renew: a tus upload's one running
-- PATCH ("upload:ID"), the one node a stream is live on ("stream:NAME", with that node's URL).
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    node_url TEXT,
    generation BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
