//! Persistence for the whole product: one sqlx pool on SQLite (the embedded default) or
//! PostgreSQL, migrations for both dialects, and one module per aggregate.
//!
//! Why its own crate: the database is the system's source of truth, and every table to come
//! (users, videos, jobs, webhooks) must be born on both databases and checked on the way in. The
//! HTTP crate, the live registry and the chat all reach the data through this crate's types and
//! own no SQL.
//!
//! - [`Store`]: the handle; [`Store::open`] takes `sqlite://...` or `postgres://...`.
//! - `connect`: URL → dialect, pool options, migrations (`migrations/{sqlite,postgres}`), errors
//!   that name the URL without its password.
//! - `streams`, `users`, `api_tokens`, `sessions`, `chat_tokens`, `videos`: the aggregates, with `page`
//!   (cursor pagination) and `scopes` (what a token may do); `jobs`, the durable job queue
//!   (leases, heartbeats, retries with backoff; its module doc says why not apalis); `leases`,
//!   named leases that make "one at a time" hold across nodes (an upload's PATCH, a stream's
//!   publishing node). Queries are written once with `$N` placeholders and
//!   types both dialects accept (TEXT, BIGINT); where a dialect needs its own statement, the
//!   function that runs it picks by [`Dialect`].
//! - `access`: privacy and playback policy (shared by streams and videos); `signing_keys`
//!   (public halves of creators' playback signing keys), `server_secrets` (made once, shared by
//!   every node).
//! - `analytics`: playback sessions, views counted by rules one client cannot game, daily
//!   aggregates, retention, ratings.
//! - `recommendations`: co-watch pairs counted as views arrive (trimmed per video), histories,
//!   recent views for trending.
//! - `catalog`: the change log (an outbox) of what search shows, written in the transaction of
//!   each change, which every node's index follows.
//! - `webhooks`: endpoints, events written in the same transaction as the change they report
//!   (with one delivery job per endpoint), the attempts log.
//! - `copy`: an embedded install's SQLite rows into PostgreSQL, table by table in the
//!   destination's shape, resumable and checked by counts and checksums (`oxcast migrate`).
//! - `secret`: the one generator of secrets that are stored hashed (stream keys, chat tokens) and
//!   of the admin token.
//! - `names`, `profiles`: what the store checks before it stores. Rules that live elsewhere come
//!   in already checked: a [`ProfileName`] only exists once [`KnownProfiles`] (built from the
//!   configuration) accepted it, display names follow `oxcast_media::display_name`.
//!
//! This crate knows no HTTP, no REST JSON shapes (the one JSON it writes is the webhook events'
//! bodies, which must be fixed in the transaction of their change), no media and no protocol.

mod access;
mod analytics;
mod api_tokens;
mod broadcasts;
mod catalog;
mod chat_tokens;
mod connect;
mod copy;
mod direct_uploads;
mod error;
mod jobs;
mod leases;
mod names;
mod page;
mod profiles;
mod recommendations;
mod scopes;
mod secret;
mod server_secrets;
mod sessions;
mod signing_keys;
mod streams;
#[cfg(any(test, feature = "test-support"))]
mod test_db;
mod text;
mod users;
mod videos;
mod webhooks;

use sqlx::AnyPool;

pub use analytics::{
    Analytics, BUCKETS, PlayerEvent, PlayerReport, Rating, Recorded, VIEW_AFTER_MS, VIEW_WINDOW_SECONDS,
    VIEWS_PER_ADDRESS, VideoStats,
};
pub use api_tokens::{ApiToken, ApiTokens};
pub use broadcasts::{Broadcast, Broadcasts};
pub use catalog::{CatalogChange, CatalogChanges, CatalogKind, GAP_GRACE_SECONDS, safe_position};
pub use chat_tokens::{ChatRole, ChatTokenHolder, ChatTokens, NewChatToken};
pub use connect::{Dialect, redact_url};
pub use copy::{Column, ColumnKind, DatabaseCopy, Table, TableCheck};
pub use direct_uploads::{DirectUpload, DirectUploads};
pub use error::StoreError;
pub use jobs::{FailOutcome, Job, JobState, Jobs, backoff};
pub use leases::{Lease, Leases};
pub use names::{validate_name, validate_srt_passphrase};
pub use page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest};
pub use profiles::{KnownProfiles, ProfileName};
pub use recommendations::{COWATCH_DAYS, COWATCH_HISTORY, COWATCH_KEEP, Recommendations};
pub use scopes::{Scope, Scopes};
pub use secret::Secret;
pub use server_secrets::ServerSecrets;
pub use sessions::{Session, Sessions};
pub use signing_keys::{SigningKey, SigningKeys};
pub use streams::{KeyedStream, NewStream, StreamDetails, StreamRecord, Streams};
#[cfg(any(test, feature = "test-support"))]
pub use test_db::TestDatabase;
pub use users::{NewUser, Role, User, Users};
pub use videos::{
    MAX_VIDEO_TITLE_CHARS, NewVideo, PlaybackPolicy, Privacy, Processed, Video, VideoDetails, VideoStatus, Videos,
    is_language_tag,
};
pub use webhooks::{Attempt, DELIVERY_JOB, Endpoint, Event, EventType, NewEndpoint, Webhooks};

/// The database handle: cheap to clone (a pool inside).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
}

impl Store {
    /// Opens the database at `url` (`sqlite://PATH`, `sqlite::memory:`, `postgres://...`),
    /// creating an SQLite file if needed, and applies the dialect's migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let (pool, dialect) = connect::open(url).await?;
        Ok(Self { pool, dialect })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Streams and their publishing keys.
    pub fn streams(&self) -> Streams<'_> {
        Streams::new(&self.pool, self.dialect)
    }

    /// Creators and admins.
    pub fn users(&self) -> Users<'_> {
        Users::new(&self.pool, self.dialect)
    }

    /// Users' scoped API tokens.
    pub fn api_tokens(&self) -> ApiTokens<'_> {
        ApiTokens::new(&self.pool, self.dialect)
    }

    /// Web sessions.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions::new(&self.pool, self.dialect)
    }

    /// The video catalog.
    pub fn videos(&self) -> Videos<'_> {
        Videos::new(&self.pool)
    }

    /// Live sessions as broadcasts, with their viewers and recordings.
    pub fn broadcasts(&self) -> Broadcasts<'_> {
        Broadcasts::new(&self.pool)
    }

    /// Playback sessions, views, watch time, retention and ratings.
    pub fn analytics(&self) -> Analytics<'_> {
        Analytics::new(&self.pool)
    }

    /// Co-watch counts, viewers' histories and recent views, for recommendations.
    pub fn recommendations(&self) -> Recommendations<'_> {
        Recommendations::new(&self.pool)
    }

    /// The catalog's change log, which the search index follows.
    pub fn catalog_changes(&self) -> CatalogChanges<'_> {
        CatalogChanges::new(&self.pool)
    }

    /// One-time direct-upload URLs.
    pub fn direct_uploads(&self) -> DirectUploads<'_> {
        DirectUploads::new(&self.pool)
    }

    /// Creators' signing keys for signed playback.
    pub fn signing_keys(&self) -> SigningKeys<'_> {
        SigningKeys::new(&self.pool)
    }

    /// Secrets every node of the server shares.
    pub fn server_secrets(&self) -> ServerSecrets<'_> {
        ServerSecrets::new(&self.pool)
    }

    /// Webhook endpoints, events and the delivery log.
    pub fn webhooks(&self) -> Webhooks<'_> {
        Webhooks::new(&self.pool)
    }

    /// The durable job queue.
    pub fn jobs(&self) -> Jobs<'_> {
        Jobs::new(&self.pool, self.dialect)
    }

    /// Named leases nodes take and renew (uploads' running PATCH, streams' publishing node).
    pub fn leases(&self) -> Leases<'_> {
        Leases::new(&self.pool)
    }

    /// Chat identities handed out by the admin.
    pub fn chat_tokens(&self) -> ChatTokens<'_> {
        ChatTokens::new(&self.pool, self.dialect)
    }

    /// Whether the database answers now (one `SELECT 1`), for the server's health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection (waits for checked-out ones to come back).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests;
