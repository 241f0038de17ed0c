//! Secrets the server makes once and every node shares: the first node to need one stores it,
//! the others read the same row (the insert does nothing when the name exists).

use sqlx::{AnyPool, Row};

use crate::StoreError;

/// Server secrets (see [`crate::Store::server_secrets`]).
#[derive(Debug, Clone, Copy)]
pub struct ServerSecrets<'a> {
    pool: &'a AnyPool,
}

impl<'a> ServerSecrets<'a> {
    pub(crate) fn new(pool: &'a AnyPool) -> Self {
        Self { pool }
    }

    /// The secret `name`; made with `make` and stored if there is none yet. Two nodes racing
    /// both get the value that was stored first.
    pub async fn get_or_create(&self, name: &str, make: impl FnOnce() -> String) -> Result<String, StoreError> {
        if let Some(value) = self.get(name).await? {
            return Ok(value);
        }
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(make())
        .bind(oxcast_media::clock::unix_seconds())
        .execute(self.pool)
        .await?;
        self.get(name).await?.ok_or_else(|| StoreError::Invalid(format!("server secret {name} vanished")))
    }

    async fn get(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool)
            .await?;
        Ok(row.map(|r| r.try_get::<String, _>("value")).transpose()?)
    }
}
