//! The streams aggregate: names (one namespace for all users), owners, what viewers see
//! (title, description, category), hashed publishing keys, profile choice, SRT passphrase.

use sqlx::{AnyPool, Row};

use crate::access::{PlaybackPolicy, Privacy};
use crate::catalog::{CatalogKind, note};
use crate::page::{Page, PageRequest};
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
    /// Record broadcasts into the catalog; `None` for the server default.
    pub record: Option<bool>,
    /// The owner (who a recording belongs to) and the title a recording gets.
    pub owner_id: Option<String>,
    pub title: String,
    /// What a recording inherits: who may find it and whether it needs a signed token.
    pub privacy: Privacy,
    pub playback: PlaybackPolicy,
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
    /// The owning user's id (`None` only between a migration and the next start-up).
    pub owner_id: Option<String>,
    pub details: StreamDetails,
    /// Transcoding profile; `None` for the server default.
    pub profile: Option<String>,
    /// SRT publishers must encrypt with the stream's passphrase.
    pub srt_encrypted: bool,
    /// Broadcasts are recorded into the catalog; `None` for the server default.
    pub record: Option<bool>,
    /// Who may find and watch it, and whether its URLs need a signed playback token.
    pub privacy: Privacy,
    pub playback: PlaybackPolicy,
    /// Unix seconds.
    pub created_at: i64,
}

/// What viewers see of a stream: the player page, and later search and recordings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamDetails {
    /// Up to [`MAX_TITLE_CHARS`] characters, one line.
    pub title: String,
    /// Up to [`MAX_DESCRIPTION_CHARS`] characters; line breaks allowed.
    pub description: String,
    /// Up to [`MAX_CATEGORY_CHARS`] characters, one line ("Gaming", "Music"...).
    pub category: String,
}

pub const MAX_TITLE_CHARS: usize = 140;
pub const MAX_DESCRIPTION_CHARS: usize = 5000;
pub const MAX_CATEGORY_CHARS: usize = 64;

impl StreamDetails {
    /// Trims each field and checks its length and characters.
    pub fn checked(self) -> Result<Self, StoreError> {
        use crate::text::{multi_line, one_line};
        Ok(Self {
            title: one_line(&self.title, "title", MAX_TITLE_CHARS)?,
            description: multi_line(&self.description, "description", MAX_DESCRIPTION_CHARS)?,
            category: one_line(&self.category, "category", MAX_CATEGORY_CHARS)?,
        })
    }
}

const RECORD_COLUMNS: &str = "name, owner_id, title, description, category, profile, srt_passphrase, record, privacy, playback_policy, created_at";

impl StreamRecord {
    fn from_row(row: &sqlx::any::AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            name: row.try_get("name")?,
            owner_id: row.try_get("owner_id")?,
            details: StreamDetails {
                title: row.try_get("title")?,
                description: row.try_get("description")?,
                category: row.try_get("category")?,
            },
            profile: row.try_get("profile")?,
            srt_encrypted: row.try_get::<Option<String>, _>("srt_passphrase")?.is_some(),
            record: row.try_get::<Option<i64>, _>("record")?.map(|r| r != 0),
            privacy: Privacy::parse(&row.try_get::<String, _>("privacy")?)?,
            playback: PlaybackPolicy::parse(&row.try_get::<String, _>("playback_policy")?)?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// Streams and their publishing keys (see [`crate::Store::streams`]).
#[derive(Debug, Clone, Copy)]
pub struct Streams<'a> {
    pool: &'a AnyPool,
    dialect: crate::Dialect,
}

impl<'a> Streams<'a> {
    pub(crate) fn new(pool: &'a AnyPool, dialect: crate::Dialect) -> Self {
        Self { pool, dialect }
    }

    /// Creates a stream owned by `owner_id` with a transcoding profile (`None`: the server
    /// default). Names are one namespace across all users, like channel names.
    pub async fn create(
        &self,
        name: &str,
        owner_id: &str,
        profile: Option<&ProfileName>,
    ) -> Result<NewStream, StoreError> {
        validate_name(name)?;
        let key = Secret::stream_key();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO streams (name, owner_id, key_hash, created_at, profile) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(name)
        .bind(owner_id)
        .bind(hash_secret(key.as_str()))
        .bind(oxcast_media::clock::unix_seconds())
        .bind(profile.map(ProfileName::as_str))
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::NameTaken(name.to_owned()));
            }
            Err(e) => return Err(e.into()),
        }
        note(&mut tx, CatalogKind::Stream, name).await?;
        tx.commit().await?;
        Ok(NewStream { name: name.to_owned(), key })
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
        let row = sqlx::query(
            "SELECT name, profile, srt_passphrase, record, owner_id, title, privacy, playback_policy FROM streams \
             WHERE key_hash = $1",
        )
        .bind(hash_secret(key))
        .fetch_optional(self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(KeyedStream {
            name: r.try_get("name")?,
            profile: r.try_get("profile")?,
            record: r.try_get::<Option<i64>, _>("record")?.map(|v| v != 0),
            owner_id: r.try_get("owner_id")?,
            title: r.try_get("title")?,
            privacy: Privacy::parse(&r.try_get::<String, _>("privacy")?)?,
            playback: PlaybackPolicy::parse(&r.try_get::<String, _>("playback_policy")?)?,
            srt_passphrase: r.try_get("srt_passphrase")?,
        }))
    }

    /// One stream's settings.
    pub async fn get(&self, name: &str) -> Result<Option<StreamRecord>, StoreError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM streams WHERE name = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(name).fetch_optional(self.pool).await?;
        row.as_ref().map(StreamRecord::from_row).transpose()
    }

    /// Every stream, by name.
    pub async fn list(&self) -> Result<Vec<StreamRecord>, StoreError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM streams ORDER BY name{}", self.dialect.bytewise());
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(self.pool).await?;
        rows.iter().map(StreamRecord::from_row).collect()
    }

    /// Streams by name, a page at a time: `owner`'s only, or everyone's with `None`.
    pub async fn page(&self, owner: Option<&str>, page: &PageRequest) -> Result<Page<StreamRecord>, StoreError> {
        let limit = page.limit()?;
        let after = page.after()?.unwrap_or_default();
        let c = self.dialect.bytewise();
        let rows = match owner {
            Some(owner) => {
                let sql = format!(
                    "SELECT {RECORD_COLUMNS} FROM streams WHERE owner_id = $1 AND name{c} > $2 ORDER BY name{c} LIMIT $3"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(owner).bind(after).bind(i64::from(limit) + 1)
            }
            None => {
                let sql = format!("SELECT {RECORD_COLUMNS} FROM streams WHERE name{c} > $1 ORDER BY name{c} LIMIT $2");
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after).bind(i64::from(limit) + 1)
            }
        }
        .fetch_all(self.pool)
        .await?;
        let records = rows.iter().map(StreamRecord::from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(records, limit, |r| r.name.clone()))
    }

    /// Sets title, description and category (checked); false if there is no such stream.
    pub async fn set_details(&self, name: &str, details: StreamDetails) -> Result<bool, StoreError> {
        let d = details.checked()?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE streams SET title = $1, description = $2, category = $3 WHERE name = $4")
            .bind(&d.title)
            .bind(&d.description)
            .bind(&d.category)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        note(&mut tx, CatalogKind::Stream, name).await?;
        tx.commit().await?;
        Ok(true)
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

    /// Whether the stream's broadcasts are recorded (`None`: the server's default); false if
    /// there is no such stream.
    pub async fn set_record(&self, name: &str, record: Option<bool>) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE streams SET record = $1 WHERE name = $2")
            .bind(record.map(i64::from))
            .bind(name)
            .execute(self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets who may find and watch the stream and what its URLs need; false if there is no such
    /// stream.
    pub async fn set_access(&self, name: &str, privacy: Privacy, playback: PlaybackPolicy) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE streams SET privacy = $1, playback_policy = $2 WHERE name = $3")
            .bind(privacy.as_str())
            .bind(playback.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        note(&mut tx, CatalogKind::Stream, name).await?;
        tx.commit().await?;
        Ok(true)
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
