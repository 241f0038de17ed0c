//! Named leases in the shared database: what makes "one at a time" hold across nodes.
//!
//! A lease is a row: its name (`upload:ID`, `stream:NAME`), its holder (an id the taker chose),
//! an optional URL where the holder's node answers, a generation bumped on every change of hand,
//! and an expiry in Unix milliseconds (the nodes' clocks, like the job queue's leases: nodes are
//! expected to run NTP; a skew shortens or lengthens a lease by as much). A holder keeps its lease
//! by renewing it before it expires; one that dies simply stops renewing, and the lease is free
//! again at its expiry.
//!
//! Two ways to take one: [`Leases::try_acquire`] only when nobody else holds it (an upload's
//! PATCH: a second one gets 423), [`Leases::take_over`] always (a publisher with the right key
//! takes its stream from whichever node had it). Both are one upsert, so two nodes racing for a
//! lease get one winner from the database; renewals and releases name the generation they hold,
//! so a holder that lost the lease cannot renew or release its successor's.

use std::time::Duration;

use sqlx::{AnyPool, Row};

use crate::StoreError;

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    /// Where the holder's node answers HTTP (for a stream: where its LL-HLS is served).
    pub node_url: Option<String>,
    pub generation: i64,
    /// Unix milliseconds.
    pub expires_at: i64,
}

fn now_ms() -> i64 {
    i64::try_from(oxcast_media::clock::unix_millis()).unwrap_or(i64::MAX)
}

fn until(ttl: Duration) -> i64 {
    now_ms().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
}

/// The leases (see [`crate::Store::leases`]).
#[derive(Debug, Clone, Copy)]
pub struct Leases<'a> {
    pool: &'a AnyPool,
}

impl<'a> Leases<'a> {
    pub(crate) fn new(pool: &'a AnyPool) -> Self {
        Self { pool }
    }

    /// Takes `name` for `holder` for `ttl` if nobody holds it (it is new or expired); the new
    /// generation, or `None` while someone else (or `holder` itself, earlier) holds it.
    pub async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        node_url: Option<&str>,
        ttl: Duration,
    ) -> Result<Option<i64>, StoreError> {
        self.take(name, holder, node_url, ttl, now_ms()).await
    }

    /// Takes `name` for `holder` for `ttl` whoever holds it; the new generation. The one it
    /// was taken from finds out at its next renewal.
    pub async fn take_over(
        &self,
        name: &str,
        holder: &str,
        node_url: Option<&str>,
        ttl: Duration,
    ) -> Result<i64, StoreError> {
        // Every lease expires before the end of time: the update always applies.
        self.take(name, holder, node_url, ttl, i64::MAX)
            .await?
            .ok_or_else(|| StoreError::Invalid("a lease take-over was refused".into()))
    }

    /// The one upsert behind both ways of taking a lease: a held lease changes hands only if it
    /// expires by `expired_by` (Unix milliseconds).
    async fn take(
        &self,
        name: &str,
        holder: &str,
        node_url: Option<&str>,
        ttl: Duration,
        expired_by: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "INSERT INTO leases (name, holder, node_url, generation, expires_at) VALUES ($1, $2, $3, 1, $4) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, node_url = excluded.node_url, \
             generation = leases.generation + 1, expires_at = excluded.expires_at \
             WHERE leases.expires_at <= $5 RETURNING generation",
        )
        .bind(name)
        .bind(holder)
        .bind(node_url)
        .bind(until(ttl))
        .bind(expired_by)
        .fetch_optional(self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("generation")).transpose()?)
    }

    /// Extends `holder`'s lease of generation `generation` to `ttl` from now; false when it is
    /// no longer theirs (taken over, or expired and taken).
    pub async fn renew(&self, name: &str, holder: &str, generation: i64, ttl: Duration) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE leases SET expires_at = $1 WHERE name = $2 AND holder = $3 AND generation = $4")
            .bind(until(ttl))
            .bind(name)
            .bind(holder)
            .bind(generation)
            .execute(self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the lease up (it expires now); false when it was no longer `holder`'s.
    pub async fn release(&self, name: &str, holder: &str, generation: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2 AND generation = $3")
            .bind(name)
            .bind(holder)
            .bind(generation)
            .execute(self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The lease on `name` while someone holds it (`None` when free or expired).
    pub async fn current(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        let row = sqlx::query(
            "SELECT name, holder, node_url, generation, expires_at FROM leases WHERE name = $1 AND expires_at > $2",
        )
        .bind(name)
        .bind(now_ms())
        .fetch_optional(self.pool)
        .await?;
        row.map(|r| {
            Ok(Lease {
                name: r.try_get("name")?,
                holder: r.try_get("holder")?,
                node_url: r.try_get("node_url")?,
                generation: r.try_get("generation")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }
}
