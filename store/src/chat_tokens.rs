//! The chat tokens aggregate: names the admin hands out, as viewers everywhere or as the
//! moderator of one stream's room. Tokens are stored hashed, like stream keys; names follow the
//! product's display-name rule.

use oxcast_media::display_name::validate_display_name;
use sqlx::{AnyPool, Row};

use crate::secret::hash_secret;
use crate::{Secret, StoreError};

/// What a chat token makes its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    Viewer,
    Moderator,
}

impl ChatRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatRole::Viewer => "viewer",
            ChatRole::Moderator => "moderator",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(ChatRole::Viewer),
            "moderator" => Some(ChatRole::Moderator),
            _ => None,
        }
    }
}

/// A chat identity from `chat_tokens`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTokenHolder {
    /// Stable id for the chat (bans, rate limits): `user:` plus the first hex of the token hash.
    pub id: String,
    pub name: String,
    pub role: ChatRole,
    /// The stream a moderator moderates.
    pub stream: Option<String>,
}

/// A token as just created, with the only copy of the secret.
#[derive(Debug, Clone)]
pub struct NewChatToken {
    pub token: Secret,
    /// The name as stored (trimmed).
    pub name: String,
    pub role: ChatRole,
    pub moderator_of: Option<String>,
}

/// Chat tokens (see [`crate::Store::chat_tokens`]).
#[derive(Debug, Clone, Copy)]
pub struct ChatTokens<'a> {
    pool: &'a AnyPool,
    dialect: crate::Dialect,
}

impl<'a> ChatTokens<'a> {
    pub(crate) fn new(pool: &'a AnyPool, dialect: crate::Dialect) -> Self {
        Self { pool, dialect }
    }

    /// Creates a token for `name`: a viewer everywhere, or the moderator of `moderator_of`.
    pub async fn create(&self, name: &str, moderator_of: Option<&str>) -> Result<NewChatToken, StoreError> {
        let name = validate_display_name(name)?;
        if let Some(stream) = moderator_of
            && !crate::Streams::new(self.pool, self.dialect).exists(stream).await?
        {
            return Err(StoreError::UnknownStream(stream.to_owned()));
        }
        let role = if moderator_of.is_some() { ChatRole::Moderator } else { ChatRole::Viewer };
        let token = Secret::chat_token();
        sqlx::query("INSERT INTO chat_tokens (token_hash, name, role, stream, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(hash_secret(token.as_str()))
            .bind(&name)
            .bind(role.as_str())
            .bind(moderator_of)
            .bind(oxcast_media::clock::unix_seconds())
            .execute(self.pool)
            .await?;
        Ok(NewChatToken { token, name, role, moderator_of: moderator_of.map(str::to_owned) })
    }

    /// Who holds a chat token.
    pub async fn holder(&self, token: &str) -> Result<Option<ChatTokenHolder>, StoreError> {
        let hash = hash_secret(token);
        let row = sqlx::query("SELECT name, role, stream FROM chat_tokens WHERE token_hash = $1")
            .bind(&hash)
            .fetch_optional(self.pool)
            .await?;
        let Some(r) = row else { return Ok(None) };
        let role: String = r.try_get("role")?;
        let role =
            ChatRole::parse(&role).ok_or_else(|| sqlx::Error::Decode(format!("chat_tokens.role {role:?}").into()))?;
        Ok(Some(ChatTokenHolder {
            id: format!("user:{}", &hash[..16]),
            name: r.try_get("name")?,
            role,
            stream: r.try_get("stream")?,
        }))
    }
}
