//! Object keys: `/`-separated segments of ASCII letters, digits, `.`, `-` and `_`, none of them
//! `.` or `..`, at most 1024 bytes. Valid as a relative file path and as an S3 key, and never a
//! way out of the storage root.

use crate::storage::StorageError;

/// A checked key, e.g. `videos/v_3f2a/720p/seg-00001.m4s`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn new(key: impl Into<String>) -> Result<Self, StorageError> {
        let key = key.into();
        let invalid = |reason| Err(StorageError::InvalidKey { key: key.clone(), reason });
        if key.is_empty() || key.len() > 1024 {
            return invalid("must be 1 to 1024 bytes");
        }
        for segment in key.split('/') {
            if segment.is_empty() {
                return invalid("empty segment (leading, trailing or doubled '/')");
            }
            if segment.starts_with('.') {
                return invalid("segments may not start with '.' (no '..', no hidden names)");
            }
            if !segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')) {
                return invalid("use only letters, digits, '.', '-', '_' and '/'");
            }
        }
        Ok(Self(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_or_carry_odd_characters() {
        assert!(ObjectKey::new("videos/v_1/720p/seg-00001.m4s").is_ok());
        for bad in ["", "/abs", "a//b", "a/", "../x", "a/./b", ".incoming/x", "a b", "a\\b", "ü", &"x".repeat(1025)] {
            assert!(ObjectKey::new(bad).is_err(), "{bad:?}");
        }
    }
}
