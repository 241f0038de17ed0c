//! Rules for values the store keeps that have no other owner: names that end up in URLs and file
//! names (streams, profiles) and SRT passphrases.

use crate::StoreError;

/// Letters, digits, `-` and `_`, 1 to 64 of them: safe in a URL path segment and a file name.
pub fn validate_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > 64 {
        return Err(StoreError::InvalidName("must be 1 to 64 characters".into()));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(StoreError::InvalidName("use only letters, digits, '-' and '_'".into()));
    }
    Ok(())
}

/// SRT's rule for passphrases (10 to 79 characters), checked before one is stored.
pub fn validate_srt_passphrase(passphrase: &str) -> Result<(), StoreError> {
    if !(10..=79).contains(&passphrase.chars().count()) {
        return Err(StoreError::InvalidPassphrase("must be 10 to 79 characters".into()));
    }
    Ok(())
}
