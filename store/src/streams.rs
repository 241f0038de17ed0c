//! The streams aggregate: names, hashed publishing keys, profile choice, SRT passphrase.

use sqlx::{AnyPool, Row};

use crate::secret::hash_secret;
use crate::{ProfileName, Secret, StoreError, validate_name, validate_srt_passphrase};

/// A stream as just created, with the only copy of its key.
#[derive(Debug, Clone)]
pub struct NewStream {
    pub name: String,
    pub key: Secret,
}

/// What a publisher's key unlocks.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyedStream {
    pub name: String,
    /// Transcoding profile; `None` for the server default.
    pub profile: Option<String>,
    pub srt_passphrase: Option<String>,
}

impl std::fmt::Debug for KeyedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedStream")
            .field("name", &self.name)
            .field("profile", &self.profile)
            .field("srt_passphrase", &self.srt_passphrase.as_ref().map(|_| ".."))
            .finish()
    }
}

/// A stream's stored settings, without secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    pub name: String,
    /// Transcoding profile; `None` for the server default.
    pub profile: Option<String>,
    /// SRT publishers must encrypt with the stream's passphrase.
    pub srt_encrypted: bool,
    /// Unix seconds.
    pub created_at: i64,
}

impl StreamRecord {
    fn from_row(row: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            name: row.try_get("name")?,
            profile: row.try_get("profile")?,
            srt_encrypted: row.try_get::<Option<String>, _>("srt_passphrase")?.is_some(),
            created_at: row.try_get("created_at")?,
        })
    }
}

/// Streams and their publishing keys (see [`crate::Store::streams`]).
#[derive(Debug, Clone, Copy)]
pub struct Streams<'a> {
    pool: &'a AnyPool,
}

impl<'a> Streams<'a> {
    pub(crate) fn new(pool: &'a AnyPool) -> Self {
        Self { pool }
    }

    /// Creates a stream with a transcoding profile (`None`: the server default).
    pub async fn create(&self, name: &str, profile: Option<&ProfileName>) -> Result<NewStream, StoreError> {
        validate_name(name)?;
        let key = Secret::stream_key();
        let inserted = sqlx::query("INSERT INTO streams (name, key_hash, created_at, profile) VALUES ($1, $2, $3, $4)")
            .bind(name)
            .bind(hash_secret(key.as_str()))
            .bind(oxcast_media::clock::unix_seconds())
            .bind(profile.map(ProfileName::as_str))
            .execute(self.pool)
            .await;
        match inserted {
            Ok(_) => Ok(NewStream { name: name.to_owned(), key }),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::NameTaken(name.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces a stream's key; the old one stops working at once. `None`: no such stream.
    pub async fn rotate_key(&self, name: &str) -> Result<Option<Secret>, StoreError> {
        let key = Secret::stream_key();
        let done = sqlx::query("UPDATE streams SET key_hash = $1 WHERE name = $2")
            .bind(hash_secret(key.as_str()))
            .bind(name)
            .execute(self.pool)
            .await?;
        Ok((done.rows_affected() == 1).then_some(key))
    }

    /// The stream a publisher's key belongs to, with its publishing settings.
    pub async fn by_key(&self, key: &str) -> Result<Option<KeyedStream>, StoreError> {
        let row = sqlx::query("SELECT name, profile, srt_passphrase FROM streams WHERE key_hash = $1")
            .bind(hash_secret(key))
            .fetch_optional(self.pool)
            .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(KeyedStream {
            name: r.try_get("name")?,
            profile: r.try_get("profile")?,
            srt_passphrase: r.try_get("srt_passphrase")?,
        }))
    }

    /// One stream's settings.
    pub async fn get(&self, name: &str) -> Result<Option<StreamRecord>, StoreError> {
        let row = sqlx::query("SELECT name, profile, srt_passphrase, created_at FROM streams WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool)
            .await?;
        Ok(row.as_ref().map(StreamRecord::from_row).transpose()?)
    }

    /// Every stream, by name.
    pub async fn list(&self) -> Result<Vec<StreamRecord>, StoreError> {
        let rows = sqlx::query("SELECT name, profile, srt_passphrase, created_at FROM streams ORDER BY name")
            .fetch_all(self.pool)
            .await?;
        Ok(rows.iter().map(StreamRecord::from_row).collect::<Result<_, _>>()?)
    }

    pub async fn exists(&self, name: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT name FROM streams WHERE name = $1").bind(name).fetch_optional(self.pool).await?;
        Ok(row.is_some())
    }

    pub async fn count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM streams").fetch_one(self.pool).await?.try_get("n")?)
    }

    /// Sets (or with `None` clears) a stream's profile; false if there is no such stream.
    pub async fn set_profile(&self, name: &str, profile: Option<&ProfileName>) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE streams SET profile = $1 WHERE name = $2")
            .bind(profile.map(ProfileName::as_str))
            .bind(name)
            .execute(self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets (or with `None` clears) the SRT passphrase; false if there is no such stream.
    pub async fn set_srt_passphrase(&self, name: &str, passphrase: Option<&str>) -> Result<bool, StoreError> {
        if let Some(p) = passphrase {
            validate_srt_passphrase(p)?;
        }
        let done = sqlx::query("UPDATE streams SET srt_passphrase = $1 WHERE name = $2")
            .bind(passphrase)
            .bind(name)
            .execute(self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The stored key hash (tests check that no key is stored in clear).
    #[cfg(test)]
    pub(crate) async fn key_hash(&self, name: &str) -> Result<String, StoreError> {
        Ok(sqlx::query("SELECT key_hash FROM streams WHERE name = $1")
            .bind(name)
            .fetch_one(self.pool)
            .await?
            .try_get(0)?)
    }
}
