//! The one generator of secrets: stream keys (`sk_`), chat tokens (`ct_`) and the admin token
//! (`adm_`), each 160 random bits in hex behind its prefix.
//!
//! Keys and tokens are stored only as SHA-256 hashes: high-entropy secrets need no slow password
//! hash, and a deterministic hash lets a presented secret be looked up directly. The prefix tells
//! a person (and a secret scanner) what a leaked value is.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A secret as handed to its holder; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Publishes to one stream (RTMP key, SRT streamid, WHIP bearer token).
    pub fn stream_key() -> Self {
        Self::with_prefix("sk_")
    }

    /// Speaks in chat under a name given by the admin.
    pub fn chat_token() -> Self {
        Self::with_prefix("ct_")
    }

    /// The bootstrap admin bearer token.
    pub fn admin_token() -> Self {
        Self::with_prefix("adm_")
    }

    /// A program's scoped API token.
    pub fn api_token() -> Self {
        Self::with_prefix("oxt_")
    }

    /// A one-time direct-upload URL's secret.
    pub fn direct_upload() -> Self {
        Self::with_prefix("dup_")
    }

    /// A web session's cookie value.
    pub fn session() -> Self {
        Self::with_prefix("ses_")
    }

    /// A public id for a row that must not be guessable (`u_`, `tok_`...): 64 random bits.
    pub fn id(prefix: &str) -> String {
        let mut bytes = [0u8; 8];
        rand::rng().fill_bytes(&mut bytes);
        format!("{prefix}{}", hex::encode(bytes))
    }

    /// A public id that is the only thing between a stranger and an unlisted resource (videos):
    /// 128 random bits.
    pub(crate) fn long_id(prefix: &str) -> String {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        format!("{prefix}{}", hex::encode(bytes))
    }

    /// A CSRF token for one session.
    pub(crate) fn csrf() -> String {
        Self::with_prefix("csrf_").0
    }

    fn with_prefix(prefix: &str) -> Self {
        let mut bytes = [0u8; 20];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("{prefix}{}", hex::encode(bytes)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What the database keeps of a secret.
pub(crate) fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_hidden_from_debug() {
        let (a, b) = (Secret::stream_key(), Secret::stream_key());
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("sk_") && a.as_str().len() == 43);
        assert!(Secret::chat_token().as_str().starts_with("ct_"));
        assert!(Secret::admin_token().as_str().starts_with("adm_"));
        assert!(!format!("{a:?}").contains(&a.as_str()[3..]));
        assert_eq!(hash_secret(a.as_str()).len(), 64);
        assert_ne!(hash_secret(a.as_str()), hash_secret(b.as_str()));
    }
}
