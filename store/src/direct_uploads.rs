//! One-time direct-upload URLs (what Mux and Cloudflare Stream call direct uploads): a token
//! holder mints one with the video's details, hands its URL to a browser, and the browser
//! uploads with tus without ever seeing a token. The secret (`dup_...`) is stored as SHA-256;
//! [`DirectUploads::redeem`] takes it once, atomically, before it expires; after that it
//! authorizes only the upload of the video it created ([`DirectUploads::for_video`]).

use sqlx::{AnyPool, Row};

use crate::secret::hash_secret;
use crate::videos::{VideoDetails, details_from_row};
use crate::{ProfileName, Secret, StoreError};

/// A minted direct upload.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectUpload {
    pub id: String,
    pub owner_id: String,
    pub details: VideoDetails,
    pub profile: Option<String>,
    /// Largest file the URL takes.
    pub max_bytes: i64,
    /// Unix seconds.
    pub expires_at: i64,
    pub used_at: Option<i64>,
    /// The video it created, once used.
    pub video_id: Option<String>,
    pub created_at: i64,
}

const COLUMNS: &str = "id, owner_id, title, description, tags, category, language, privacy, playback_policy, profile, max_bytes, \
     expires_at, used_at, video_id, created_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<DirectUpload, StoreError> {
    Ok(DirectUpload {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        details: details_from_row(row)?,
        profile: row.try_get("profile")?,
        max_bytes: row.try_get("max_bytes")?,
        expires_at: row.try_get("expires_at")?,
        used_at: row.try_get("used_at")?,
        video_id: row.try_get("video_id")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Direct uploads (see [`crate::Store::direct_uploads`]).
#[derive(Debug, Clone, Copy)]
pub struct DirectUploads<'a> {
    pool: &'a AnyPool,
}

impl<'a> DirectUploads<'a> {
    pub(crate) fn new(pool: &'a AnyPool) -> Self {
        Self { pool }
    }

    /// Mints a URL secret for `owner` that creates one video with `details`, valid for
    /// `valid_seconds`, taking files up to `max_bytes`.
    pub async fn create(
        &self,
        owner_id: &str,
        details: VideoDetails,
        profile: Option<&ProfileName>,
        max_bytes: i64,
        valid_seconds: i64,
    ) -> Result<(DirectUpload, Secret), StoreError> {
        let d = details.checked()?;
        if max_bytes <= 0 || valid_seconds <= 0 {
            return Err(StoreError::Invalid("max_bytes and the validity must be positive".into()));
        }
        let now = oxcast_media::clock::unix_seconds();
        let secret = Secret::direct_upload();
        let upload = DirectUpload {
            id: Secret::id("du_"),
            owner_id: owner_id.to_owned(),
            details: d,
            profile: profile.map(|p| p.as_str().to_owned()),
            max_bytes,
            expires_at: now.saturating_add(valid_seconds),
            used_at: None,
            video_id: None,
            created_at: now,
        };
        sqlx::query(
            "INSERT INTO direct_uploads (id, token_hash, owner_id, title, description, tags, category, language, \
             privacy, playback_policy, profile, max_bytes, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&upload.id)
        .bind(hash_secret(secret.as_str()))
        .bind(&upload.owner_id)
        .bind(&upload.details.title)
        .bind(&upload.details.description)
        .bind(upload.details.tags.join("\n"))
        .bind(&upload.details.category)
        .bind(&upload.details.language)
        .bind(upload.details.privacy.as_str())
        .bind(upload.details.playback.as_str())
        .bind(upload.profile.as_deref())
        .bind(upload.max_bytes)
        .bind(upload.expires_at)
        .bind(upload.created_at)
        .execute(self.pool)
        .await?;
        Ok((upload, secret))
    }

    /// A direct upload by id.
    pub async fn get(&self, id: &str) -> Result<Option<DirectUpload>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM direct_uploads WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The URL `secret` if it can still be used (not used, not expired), without taking it.
    pub async fn usable(&self, secret: &str) -> Result<Option<DirectUpload>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM direct_uploads WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash_secret(secret))
            .bind(oxcast_media::clock::unix_seconds())
            .fetch_optional(self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Takes the URL `secret`: `Some` only the first time, before it expires. Atomic: of two
    /// requests racing with the same secret, one gets it.
    pub async fn redeem(&self, secret: &str) -> Result<Option<DirectUpload>, StoreError> {
        let now = oxcast_media::clock::unix_seconds();
        let sql = format!(
            "UPDATE direct_uploads SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $3 \
             RETURNING {COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(hash_secret(secret))
            .bind(now)
            .fetch_optional(self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Records the video a redeemed URL created.
    pub async fn set_video(&self, id: &str, video_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE direct_uploads SET video_id = $1 WHERE id = $2")
            .bind(video_id)
            .bind(id)
            .execute(self.pool)
            .await?;
        Ok(())
    }

    /// Moves every expiry `seconds` into the past (tests of expiry).
    #[cfg(any(test, feature = "test-support"))]
    pub async fn age_for_tests(&self, seconds: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE direct_uploads SET expires_at = expires_at - $1").bind(seconds).execute(self.pool).await?;
        Ok(())
    }

    /// Whether `secret` is the URL that created `video_id` and has not expired: what lets a
    /// browser send that upload's bytes (HEAD, PATCH, DELETE) without a token.
    pub async fn authorizes(&self, secret: &str, video_id: &str) -> Result<bool, StoreError> {
        let row =
            sqlx::query("SELECT id FROM direct_uploads WHERE token_hash = $1 AND video_id = $2 AND expires_at > $3")
                .bind(hash_secret(secret))
                .bind(video_id)
                .bind(oxcast_media::clock::unix_seconds())
                .fetch_optional(self.pool)
                .await?;
        Ok(row.is_some())
    }
}
