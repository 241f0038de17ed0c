//! Creators' signing keys for signed playback: the public half only (PEM), the algorithm, and
//! the key's life. A key works from creation until it is revoked (at once) or, after a rotation,
//! until the expiry the rotation gave it, so tokens already handed out keep playing for a while.
//! The store does not read the PEM: the signing crate checks it before it is stored.

use sqlx::{AnyPool, Row};

use crate::page::{NewestFirst, Page, PageRequest, newest_first};
use crate::{Secret, StoreError};

/// A stored signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// `key_` + 16 hex: the `kid` in token headers.
    pub id: String,
    pub owner_id: String,
    /// `RS256` or `EdDSA`.
    pub algorithm: String,
    pub name: String,
    /// SubjectPublicKeyInfo PEM.
    pub public_key: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Set by a rotation: the key is refused from then on.
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl SigningKey {
    /// Whether tokens signed with it are accepted at `now` (Unix seconds).
    pub fn usable_at(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| now < t)
    }
}

const COLUMNS: &str = "id, owner_id, algorithm, name, public_key, created_at, expires_at, revoked_at";
pub const MAX_KEY_NAME_CHARS: usize = 64;

fn from_row(row: &sqlx::any::AnyRow) -> Result<SigningKey, StoreError> {
    Ok(SigningKey {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        algorithm: row.try_get("algorithm")?,
        name: row.try_get("name")?,
        public_key: row.try_get("public_key")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// Signing keys (see [`crate::Store::signing_keys`]).
#[derive(Debug, Clone, Copy)]
pub struct SigningKeys<'a> {
    pool: &'a AnyPool,
}

impl<'a> SigningKeys<'a> {
    pub(crate) fn new(pool: &'a AnyPool) -> Self {
        Self { pool }
    }

    /// Stores the public half of a new key of `owner_id`.
    pub async fn create(
        &self,
        owner_id: &str,
        algorithm: &str,
        name: &str,
        public_key: &str,
    ) -> Result<SigningKey, StoreError> {
        let name = crate::text::one_line(name, "name", MAX_KEY_NAME_CHARS)?;
        let key = SigningKey {
            id: Secret::id("key_"),
            owner_id: owner_id.to_owned(),
            algorithm: algorithm.to_owned(),
            name,
            public_key: public_key.to_owned(),
            created_at: oxcast_media::clock::unix_seconds(),
            expires_at: None,
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO signing_keys (id, owner_id, algorithm, name, public_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.id)
        .bind(&key.owner_id)
        .bind(&key.algorithm)
        .bind(&key.name)
        .bind(&key.public_key)
        .bind(key.created_at)
        .execute(self.pool)
        .await?;
        Ok(key)
    }

    pub async fn get(&self, id: &str) -> Result<Option<SigningKey>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM signing_keys WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Keys newest first, a page at a time: `owner`'s only, or everyone's with `None`.
    pub async fn page(&self, owner: Option<&str>, page: &PageRequest) -> Result<Page<SigningKey>, StoreError> {
        let query = NewestFirst {
            table: "signing_keys",
            columns: COLUMNS,
            time_column: "created_at",
            filter: owner.map(|o| ("owner_id", o)),
        };
        newest_first(self.pool, query, page, from_row, |k| (k.created_at, &k.id)).await
    }

    /// Refuses the key from now on (idempotent); false if there is no such key.
    pub async fn revoke(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE signing_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
            .bind(oxcast_media::clock::unix_seconds())
            .bind(id)
            .execute(self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The key stops working at `at` (Unix seconds), or earlier if it was already due to;
    /// false if there is no such key or it is revoked.
    pub async fn expire_at(&self, id: &str, at: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE signing_keys SET expires_at = CASE WHEN expires_at IS NULL OR expires_at > $1 THEN $2 \
             ELSE expires_at END WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(at)
        .bind(id)
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
