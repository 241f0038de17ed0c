//! Who is talking: roles, identities, the [`ChatAuth`] trait the binary implements, guest names.
//!
//! The chat does not know users or sessions; the binary does. It resolves the `?token=` of the
//! websocket URL (browsers cannot set headers on websockets) into an [`Identity`] for a given
//! stream, which also decides the role (the owner of a stream is `Owner` in its room only).
//! Guests choose their display name in `hello`; [`validate_display_name`] (the product-wide rule
//! from `oxcast-media`) keeps it sane.

use std::collections::HashMap;

use futures_util::future::BoxFuture;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// A participant's power in one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Moderator,
    Viewer,
    Guest,
}

impl Role {
    /// Owners and moderators may moderate, and are exempt from slow mode.
    pub fn can_moderate(self) -> bool {
        matches!(self, Role::Owner | Role::Moderator)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Moderator => "moderator",
            Role::Viewer => "viewer",
            Role::Guest => "guest",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "owner" => Role::Owner,
            "moderator" => Role::Moderator,
            "viewer" => Role::Viewer,
            "guest" => Role::Guest,
            _ => return None,
        })
    }
}

/// A resolved participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Stable id (also the presence key of a websocket). Guests get `guest-<random>`.
    pub id: String,
    pub name: String,
    pub role: Role,
}

impl Identity {
    pub fn new(id: impl Into<String>, name: impl Into<String>, role: Role) -> Self {
        Self { id: id.into(), name: name.into(), role }
    }

    /// A fresh guest: id `guest-<16 hex>`, default name `guest-XXXX` (first 4 hex of the id).
    pub fn guest() -> Self {
        let n: u64 = rand::rng().random();
        let hex = format!("{n:016x}");
        Identity { name: format!("guest-{}", &hex[..4]), id: format!("guest-{hex}"), role: Role::Guest }
    }

    pub fn is_guest(&self) -> bool {
        self.role == Role::Guest
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatAuthError {
    /// Unknown or expired token (HTTP 401).
    #[error("invalid token")]
    InvalidToken,
    /// Valid token, but not allowed in this room, or guests not allowed (HTTP 403).
    #[error("not allowed in this room")]
    Forbidden,
    /// The identity store could not be asked (HTTP 503).
    #[error("identity service unavailable: {0}")]
    Unavailable(String),
}

/// Resolves a websocket's token into an identity for one stream. Implemented by the binary.
pub trait ChatAuth: Send + Sync + 'static {
    /// `token` is `None` for a guest; return [`Identity::guest()`] to admit guests.
    fn identify(&self, stream: &str, token: Option<&str>) -> BoxFuture<'_, Result<Identity, ChatAuthError>>;
}

/// A fixed token → identity map, with guests admitted. For tests and small setups.
#[derive(Debug, Clone, Default)]
pub struct StaticAuth {
    tokens: HashMap<String, Identity>,
    deny_guests: bool,
}

impl StaticAuth {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a token.
    pub fn with(mut self, token: impl Into<String>, identity: Identity) -> Self {
        self.tokens.insert(token.into(), identity);
        self
    }

    /// Refuses connections without a token.
    pub fn deny_guests(mut self) -> Self {
        self.deny_guests = true;
        self
    }
}

impl ChatAuth for StaticAuth {
    fn identify(&self, _stream: &str, token: Option<&str>) -> BoxFuture<'_, Result<Identity, ChatAuthError>> {
        let result = match token {
            None if self.deny_guests => Err(ChatAuthError::Forbidden),
            None => Ok(Identity::guest()),
            Some(t) => self.tokens.get(t).cloned().ok_or(ChatAuthError::InvalidToken),
        };
        Box::pin(async move { result })
    }
}

// The display-name rule is the product's, not the chat's: it lives in `oxcast-media` so the
// store applies the same one to every name it keeps.
pub use oxcast_media::display_name::{
    DisplayNameError as NameError, MAX_DISPLAY_NAME_CHARS as MAX_NAME_CHARS, validate_display_name,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_names_follow_the_product_rule() {
        assert_eq!(validate_display_name("  Ann  ").unwrap(), "Ann");
        assert_eq!(validate_display_name(&"é".repeat(MAX_NAME_CHARS + 1)), Err(NameError::TooLong));
        assert_eq!(validate_display_name("a\u{202e}b"), Err(NameError::ControlChars));
    }

    #[test]
    fn guests_get_random_ids_and_default_names() {
        let a = Identity::guest();
        let b = Identity::guest();
        assert_ne!(a.id, b.id);
        assert!(a.id.starts_with("guest-") && a.id.len() == 6 + 16);
        assert!(a.name.starts_with("guest-") && a.name.len() == 10);
        assert_eq!(a.role, Role::Guest);
        validate_display_name(&a.name).unwrap();
    }

    #[tokio::test]
    async fn static_auth_maps_tokens() {
        let auth = StaticAuth::new().with("t1", Identity::new("u1", "Ann", Role::Owner));
        assert_eq!(auth.identify("s", Some("t1")).await.unwrap().role, Role::Owner);
        assert_eq!(auth.identify("s", Some("nope")).await, Err(ChatAuthError::InvalidToken));
        assert!(auth.identify("s", None).await.unwrap().is_guest());
        let strict = auth.deny_guests();
        assert_eq!(strict.identify("s", None).await, Err(ChatAuthError::Forbidden));
    }

    #[test]
    fn roles_parse_back() {
        for r in [Role::Owner, Role::Moderator, Role::Viewer, Role::Guest] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert!(Role::Owner.can_moderate() && Role::Moderator.can_moderate());
        assert!(!Role::Viewer.can_moderate() && !Role::Guest.can_moderate());
    }
}
