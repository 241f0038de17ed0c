//! Streams and their secret keys, persisted with sqlx (SQLite by default).
//!
//! Keys are 160 random bits shown once at creation and stored as SHA-256: high-entropy
//! tokens need no slow password hash, and a deterministic hash lets a publisher's key be looked
//! up directly.

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid stream name: {0}")]
    InvalidName(String),
    #[error("invalid SRT passphrase: {0}")]
    InvalidPassphrase(String),
    #[error("stream {0} already exists")]
    NameTaken(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A stream's secret, as given to the streamer.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamKey(String);

impl StreamKey {
    fn generate() -> Self {
        Self::random("sk_")
    }

    /// 160 random bits in hex behind `prefix` (`sk_` stream keys, `ct_` chat tokens).
    fn random(prefix: &str) -> Self {
        let mut bytes = [0u8; 20];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("{prefix}{}", hex::encode(bytes)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamKey(..)")
    }
}

fn unix_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A stream as just created, with the only copy of its key.
#[derive(Debug, Clone)]
pub struct NewStream {
    pub name: String,
    pub key: StreamKey,
}

/// Names end up in URLs and file names: letters, digits, `-` and `_`, 1 to 64 of them.
pub fn validate_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > 64 {
        return Err(StoreError::InvalidName("must be 1 to 64 characters".into()));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(StoreError::InvalidName("use only letters, digits, '-' and '_'".into()));
    }
    Ok(())
}

/// A chat identity from `chat_tokens`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTokenHolder {
    /// Stable id for the chat (bans, rate limits): `user:` plus the first hex of the token hash.
    pub id: String,
    pub name: String,
    /// "viewer" or "moderator".
    pub role: String,
    /// The stream a moderator moderates.
    pub stream: Option<String>,
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

/// SRT's rule for passphrases (10 to 79 characters), checked before one is stored.
pub fn validate_srt_passphrase(passphrase: &str) -> Result<(), StoreError> {
    if !(10..=79).contains(&passphrase.chars().count()) {
        return Err(StoreError::InvalidPassphrase("must be 10 to 79 characters".into()));
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct StreamStore {
    pool: SqlitePool,
}

impl StreamStore {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?.create_if_missing(true).journal_mode(SqliteJournalMode::Wal);
        // Every connection to ":memory:" is its own database: keep one.
        let connections = if url.contains(":memory:") { 1 } else { 4 };
        let pool = SqlitePoolOptions::new().max_connections(connections).connect_with(options).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    pub async fn create(&self, name: &str) -> Result<NewStream, StoreError> {
        self.create_with_profile(name, None).await
    }

    /// Creates a stream with a transcoding profile (`None`: the server default).
    pub async fn create_with_profile(&self, name: &str, profile: Option<&str>) -> Result<NewStream, StoreError> {
        validate_name(name)?;
        let key = StreamKey::generate();
        let now = unix_seconds();
        let inserted = sqlx::query("INSERT INTO streams (name, key_hash, created_at, profile) VALUES (?, ?, ?, ?)")
            .bind(name)
            .bind(hash_key(key.as_str()))
            .bind(now)
            .bind(profile)
            .execute(&self.pool)
            .await;
        match inserted {
            Ok(_) => Ok(NewStream { name: name.to_owned(), key }),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::NameTaken(name.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces a stream's key; the old one stops working at once.
    pub async fn rotate_key(&self, name: &str) -> Result<Option<StreamKey>, StoreError> {
        let key = StreamKey::generate();
        let done = sqlx::query("UPDATE streams SET key_hash = ? WHERE name = ?")
            .bind(hash_key(key.as_str()))
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok((done.rows_affected() == 1).then_some(key))
    }

    /// The stream a publisher's key belongs to.
    pub async fn name_for_key(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.stream_for_key(key).await?.map(|s| s.name))
    }

    /// The stream a publisher's key belongs to, with its publishing settings.
    pub async fn stream_for_key(&self, key: &str) -> Result<Option<KeyedStream>, StoreError> {
        let row = sqlx::query("SELECT name, profile, srt_passphrase FROM streams WHERE key_hash = ?")
            .bind(hash_key(key))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| KeyedStream {
            name: r.get("name"),
            profile: r.get("profile"),
            srt_passphrase: r.get("srt_passphrase"),
        }))
    }

    /// Creates a chat token for `name` (a viewer everywhere, or the moderator of `stream`).
    pub async fn create_chat_token(&self, name: &str, moderator_of: Option<&str>) -> Result<StreamKey, StoreError> {
        if let Some(stream) = moderator_of
            && !self.exists(stream).await?
        {
            return Err(StoreError::InvalidName(format!("no stream named {stream}")));
        }
        let token = StreamKey::random("ct_");
        let now = unix_seconds();
        sqlx::query("INSERT INTO chat_tokens (token_hash, name, role, stream, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(hash_key(token.as_str()))
            .bind(name)
            .bind(if moderator_of.is_some() { "moderator" } else { "viewer" })
            .bind(moderator_of)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(token)
    }

    /// Who holds a chat token.
    pub async fn chat_token(&self, token: &str) -> Result<Option<ChatTokenHolder>, StoreError> {
        let hash = hash_key(token);
        let row = sqlx::query("SELECT name, role, stream FROM chat_tokens WHERE token_hash = ?")
            .bind(&hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| ChatTokenHolder {
            id: format!("user:{}", &hash[..16]),
            name: r.get("name"),
            role: r.get("role"),
            stream: r.get("stream"),
        }))
    }

    /// Sets (or with `None` clears) the SRT passphrase; false if there is no such stream.
    pub async fn set_srt_passphrase(&self, name: &str, passphrase: Option<&str>) -> Result<bool, StoreError> {
        if let Some(p) = passphrase {
            validate_srt_passphrase(p)?;
        }
        let done = sqlx::query("UPDATE streams SET srt_passphrase = ? WHERE name = ?")
            .bind(passphrase)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether a stream's SRT publishers must encrypt: `None` if the stream does not exist.
    pub async fn srt_encrypted(&self, name: &str) -> Result<Option<bool>, StoreError> {
        let row = sqlx::query("SELECT srt_passphrase IS NOT NULL AS enc FROM streams WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get::<bool, _>("enc")))
    }

    /// Sets (or with `None` clears) a stream's profile; false if there is no such stream.
    pub async fn set_profile(&self, name: &str, profile: Option<&str>) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE streams SET profile = ? WHERE name = ?")
            .bind(profile)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A stream's profile: `None` if the stream does not exist, `Some(None)` for the default.
    pub async fn profile(&self, name: &str) -> Result<Option<Option<String>>, StoreError> {
        let row =
            sqlx::query("SELECT profile FROM streams WHERE name = ?").bind(name).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.get::<Option<String>, _>("profile")))
    }

    pub async fn exists(&self, name: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM streams WHERE name = ?").bind(name).fetch_optional(&self.pool).await?;
        Ok(row.is_some())
    }

    pub async fn names(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT name FROM streams ORDER BY name").fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|r| r.get::<String, _>("name")).collect())
    }

    pub async fn count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM streams").fetch_one(&self.pool).await?.get("n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> StreamStore {
        StreamStore::open("sqlite::memory:").await.unwrap()
    }

    #[tokio::test]
    async fn keys_resolve_to_their_stream_and_are_not_stored_in_clear() {
        let s = store().await;
        let created = s.create("cam-1").await.unwrap();
        assert!(created.key.as_str().starts_with("sk_") && created.key.as_str().len() == 43);
        assert_eq!(s.name_for_key(created.key.as_str()).await.unwrap().as_deref(), Some("cam-1"));
        assert_eq!(s.name_for_key("sk_wrong").await.unwrap(), None);
        let stored: String = sqlx::query("SELECT key_hash FROM streams").fetch_one(&s.pool).await.unwrap().get(0);
        assert_ne!(stored, created.key.as_str());
        assert_eq!(s.names().await.unwrap(), ["cam-1"]);
    }

    #[tokio::test]
    async fn duplicate_and_bad_names_are_refused() {
        let s = store().await;
        s.create("a").await.unwrap();
        assert!(matches!(s.create("a").await, Err(StoreError::NameTaken(_))));
        for bad in ["", "a/b", "../x", "white space", &"x".repeat(65)] {
            assert!(matches!(s.create(bad).await, Err(StoreError::InvalidName(_))), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn rotation_invalidates_the_old_key() {
        let s = store().await;
        let old = s.create("a").await.unwrap().key;
        let new = s.rotate_key("a").await.unwrap().unwrap();
        assert_eq!(s.name_for_key(old.as_str()).await.unwrap(), None);
        assert_eq!(s.name_for_key(new.as_str()).await.unwrap().as_deref(), Some("a"));
        assert!(s.rotate_key("missing").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn profiles_are_stored_per_stream() {
        let s = store().await;
        let key = s.create_with_profile("a", Some("mobile")).await.unwrap().key;
        let found = s.stream_for_key(key.as_str()).await.unwrap().unwrap();
        assert_eq!((found.name.as_str(), found.profile.as_deref()), ("a", Some("mobile")));
        assert!(s.set_profile("a", None).await.unwrap());
        assert_eq!(s.profile("a").await.unwrap(), Some(None));
        assert!(!s.set_profile("nope", Some("x")).await.unwrap());
        assert_eq!(s.profile("nope").await.unwrap(), None);
    }

    #[tokio::test]
    async fn chat_tokens_name_a_viewer_or_a_moderator() {
        let s = store().await;
        s.create("main").await.unwrap();
        let viewer = s.create_chat_token("Ann", None).await.unwrap();
        let moderator = s.create_chat_token("Bob", Some("main")).await.unwrap();
        assert!(s.create_chat_token("Cy", Some("nope")).await.is_err());
        let a = s.chat_token(viewer.as_str()).await.unwrap().unwrap();
        assert_eq!((a.name.as_str(), a.role.as_str(), a.stream), ("Ann", "viewer", None));
        let b = s.chat_token(moderator.as_str()).await.unwrap().unwrap();
        assert_eq!((b.role.as_str(), b.stream.as_deref()), ("moderator", Some("main")));
        assert_ne!(a.id, b.id);
        assert!(s.chat_token("ct_nope").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn srt_passphrases_are_validated_and_stored() {
        let s = store().await;
        let key = s.create("a").await.unwrap().key;
        assert_eq!(s.stream_for_key(key.as_str()).await.unwrap().unwrap().srt_passphrase, None);
        assert!(matches!(s.set_srt_passphrase("a", Some("too-short")).await, Err(StoreError::InvalidPassphrase(_))));
        assert!(matches!(
            s.set_srt_passphrase("a", Some(&"x".repeat(80))).await,
            Err(StoreError::InvalidPassphrase(_))
        ));
        assert!(s.set_srt_passphrase("a", Some("ten-chars!")).await.unwrap());
        let found = s.stream_for_key(key.as_str()).await.unwrap().unwrap();
        assert_eq!(found.srt_passphrase.as_deref(), Some("ten-chars!"));
        assert!(!format!("{found:?}").contains("ten-chars"), "Debug hides the passphrase");
        assert_eq!(s.srt_encrypted("a").await.unwrap(), Some(true));
        assert!(s.set_srt_passphrase("a", None).await.unwrap());
        assert_eq!(s.srt_encrypted("a").await.unwrap(), Some(false));
        assert!(!s.set_srt_passphrase("nope", None).await.unwrap());
    }
}
