//! The web sessions aggregate: what an HttpOnly cookie stands for. The cookie value is stored
//! hashed; each session has its own CSRF token, which pages send back in `X-CSRF-Token` with
//! every request that changes something. Expired sessions are refused and swept.

use std::time::Duration;

use sqlx::{AnyPool, Row};

use crate::secret::hash_secret;
use crate::users::User;
use crate::{Secret, StoreError};

/// A logged-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: String,
    pub csrf_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Sessions (see [`crate::Store::sessions`]).
#[derive(Debug, Clone, Copy)]
pub struct Sessions<'a> {
    pool: &'a AnyPool,
    dialect: crate::Dialect,
}

impl<'a> Sessions<'a> {
    pub(crate) fn new(pool: &'a AnyPool, dialect: crate::Dialect) -> Self {
        Self { pool, dialect }
    }

    /// Starts a session for `user` lasting `ttl`; returns the cookie value and the session.
    pub async fn create(&self, user: &User, ttl: Duration) -> Result<(Secret, Session), StoreError> {
        let secret = Secret::session();
        let now = oxcast_media::clock::unix_seconds();
        let session = Session {
            user_id: user.id.clone(),
            csrf_token: Secret::csrf(),
            expires_at: now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
        };
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash_secret(secret.as_str()))
        .bind(&session.user_id)
        .bind(&session.csrf_token)
        .bind(now)
        .bind(session.expires_at)
        .execute(self.pool)
        .await?;
        // Now and then, forget sessions that ran out.
        if rand::random::<u8>() < 8 {
            sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(now).execute(self.pool).await?;
        }
        Ok((secret, session))
    }

    /// The live session a cookie value names, with its user.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<(Session, User)>, StoreError> {
        let row = sqlx::query("SELECT user_id, csrf_token, expires_at FROM sessions WHERE id_hash = $1")
            .bind(hash_secret(secret))
            .fetch_optional(self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let session = Session {
            user_id: row.try_get("user_id")?,
            csrf_token: row.try_get("csrf_token")?,
            expires_at: row.try_get("expires_at")?,
        };
        if session.expires_at <= oxcast_media::clock::unix_seconds() {
            self.end(secret).await?;
            return Ok(None);
        }
        let user = crate::Users::new(self.pool, self.dialect).by_id(&session.user_id).await?;
        Ok(user.map(|u| (session, u)))
    }

    /// Ends the session a cookie value names (logout).
    pub async fn end(&self, secret: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(hash_secret(secret)).execute(self.pool).await?;
        Ok(())
    }
}
