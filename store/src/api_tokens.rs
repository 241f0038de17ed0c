//! The API tokens aggregate: scoped bearer tokens a user makes for their programs. Stored as
//! SHA-256 (like stream keys), named by a public id (`tok_...`) for listing and revocation, with
//! the time they were last used. Revocation deletes the row, so it takes effect on the next
//! request: nothing caches a token.

use sqlx::{AnyPool, Row};

use crate::page::{Page, PageRequest};
use crate::secret::hash_secret;
use crate::users::User;
use crate::{Scopes, Secret, StoreError};

/// How often `last_used_at` is written for a busy token (a write per request would be wasteful).
const LAST_USED_RESOLUTION_SECONDS: i64 = 60;

/// A token as its owner sees it in a list (the secret itself is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: String,
    pub user_id: String,
    /// The owner's label ("CI upload", "OBS plugin").
    pub name: String,
    pub scopes: Scopes,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

fn token_from_row(row: &sqlx::any::AnyRow) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        scopes: Scopes::from_stored(&row.try_get::<String, _>("scopes")?)?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

/// API tokens (see [`crate::Store::api_tokens`]).
#[derive(Debug, Clone, Copy)]
pub struct ApiTokens<'a> {
    pool: &'a AnyPool,
    dialect: crate::Dialect,
}

impl<'a> ApiTokens<'a> {
    pub(crate) fn new(pool: &'a AnyPool, dialect: crate::Dialect) -> Self {
        Self { pool, dialect }
    }

    /// Makes a token for `user` with `scopes` (not empty; `admin` only for admins).
    pub async fn create(&self, user: &User, name: &str, scopes: &Scopes) -> Result<(ApiToken, Secret), StoreError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(StoreError::Invalid(
                "token name must be 1 to 100 characters without control characters".into(),
            ));
        }
        if scopes.is_empty() {
            return Err(StoreError::Invalid("a token needs at least one scope".into()));
        }
        if scopes.contains(crate::Scope::Admin) && user.role != crate::Role::Admin {
            return Err(StoreError::Invalid("only admins can hold the admin scope".into()));
        }
        let secret = Secret::api_token();
        let token = ApiToken {
            id: Secret::id("tok_"),
            user_id: user.id.clone(),
            name: name.to_owned(),
            scopes: scopes.clone(),
            created_at: oxcast_media::clock::unix_seconds(),
            last_used_at: None,
        };
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&token.id)
        .bind(&token.user_id)
        .bind(&token.name)
        .bind(hash_secret(secret.as_str()))
        .bind(token.scopes.to_stored())
        .bind(token.created_at)
        .execute(self.pool)
        .await?;
        Ok((token, secret))
    }

    /// A user's tokens, oldest first, a page at a time.
    pub async fn list(&self, user_id: &str, page: &PageRequest) -> Result<Page<ApiToken>, StoreError> {
        let limit = page.limit()?;
        // The cursor is "created_at:id" of the last token seen.
        let (after_time, after_id) = match page.after()? {
            Some(key) => {
                let (t, id) = key
                    .split_once(':')
                    .ok_or_else(|| StoreError::Invalid("cursor is not one this server gave".into()))?;
                (
                    t.parse::<i64>().map_err(|_| StoreError::Invalid("cursor is not one this server gave".into()))?,
                    id.to_owned(),
                )
            }
            None => (i64::MIN, String::new()),
        };
        let rows = sqlx::query(
            "SELECT id, user_id, name, scopes, created_at, last_used_at FROM api_tokens \
             WHERE user_id = $1 AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
             ORDER BY created_at, id LIMIT $4",
        )
        .bind(user_id)
        .bind(after_time)
        .bind(after_id)
        .bind(i64::from(limit) + 1)
        .fetch_all(self.pool)
        .await?;
        let tokens = rows.iter().map(token_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(tokens, limit, |t| format!("{}:{}", t.created_at, t.id)))
    }

    /// Revokes one of `user_id`'s tokens; false if they have none with that id.
    pub async fn revoke(&self, user_id: &str, token_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
            .bind(token_id)
            .bind(user_id)
            .execute(self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The token a bearer secret is, with its user; records the use.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<(ApiToken, User)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, user_id, name, scopes, created_at, last_used_at FROM api_tokens WHERE token_hash = $1",
        )
        .bind(hash_secret(secret))
        .fetch_optional(self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut token = token_from_row(&row)?;
        let Some(user) = crate::Users::new(self.pool, self.dialect).by_id(&token.user_id).await? else {
            return Ok(None);
        };
        let now = oxcast_media::clock::unix_seconds();
        if token.last_used_at.is_none_or(|t| now - t >= LAST_USED_RESOLUTION_SECONDS) {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&token.id)
                .execute(self.pool)
                .await?;
            token.last_used_at = Some(now);
        }
        Ok(Some((token, user)))
    }
}
