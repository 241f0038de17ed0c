//! The `Storage` trait: media objects by key, with the operations object stores have.
//!
//! Shaped for S3 and its kind, so nothing above it may assume a filesystem:
//! - [`Storage::put`] takes the body as a stream and the object appears only when the stream
//!   ended without error (a failed or cut upload leaves no half object). Bodies are never held
//!   whole in memory by the local implementation.
//! - [`Storage::get`] and [`Storage::get_range`] stream the body back (players ask for ranges).
//! - [`Storage::list`] lists by key prefix (a string prefix, not a directory), sorted by key.
//! - [`Storage::delete`] is idempotent; [`Storage::delete_prefix`] removes a video's objects.
//!
//! [`copy_objects`] and [`verify_objects`] move a whole storage into another (`oxcast migrate`).
//!
//! Keys are `/`-separated segments of letters, digits, `.`, `-` and `_` ([`ObjectKey`]), so they
//! are safe as file paths and as S3 keys alike. The shared behaviour is tested against every
//! implementation (`tests/storage.rs`), S3 against a real S3-compatible server.

mod copy;
mod key;
mod local;
mod memory;
mod s3;

use std::ops::Range;

use bytes::Bytes;
use futures_util::stream::BoxStream;

pub use copy::{CopyReport, VerifyReport, copy_objects, verify_objects};
pub use key::ObjectKey;
pub use local::LocalStorage;
pub use memory::MemoryStorage;
pub use s3::{S3Settings, S3Storage};

/// A body, as a stream of chunks.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// What storage knows of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: ObjectKey,
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("no object {0}")]
    NotFound(String),
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("range {start}..{end} is outside object {key} of {size} bytes")]
    InvalidRange { key: String, start: u64, end: u64, size: u64 },
    /// The body stream failed; nothing was stored.
    #[error("reading the body of {key}: {source}")]
    Body {
        key: String,
        #[source]
        source: std::io::Error,
    },
    /// The storage is full (the disk ran out of space while writing).
    #[error("storage is full while writing {0}")]
    Full(String),
    #[error("storage I/O on {key}: {source}")]
    Io {
        key: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where media objects live.
#[async_trait::async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug + 'static {
    /// Stores `body` under `key`, replacing what was there, once the stream has ended without
    /// error; returns the object's size.
    async fn put(&self, key: &ObjectKey, body: ByteStream) -> Result<u64, StorageError>;

    /// The whole object.
    async fn get(&self, key: &ObjectKey) -> Result<ByteStream, StorageError>;

    /// Bytes `range` of the object (`start < end <= size`).
    async fn get_range(&self, key: &ObjectKey, range: Range<u64>) -> Result<ByteStream, StorageError>;

    /// The object's size, or `None` when there is no such object.
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StorageError>;

    /// Objects whose key starts with `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError>;

    /// Removes the object; removing one that is not there is not an error.
    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError>;

    /// Bytes that can still be stored, when the storage has a limit it can tell (a disk);
    /// `None` when it cannot (memory, object stores).
    async fn available_bytes(&self) -> Result<Option<u64>, StorageError> {
        Ok(None)
    }

    /// A URL that reads the object directly from the storage for `valid_for` (an S3 presigned
    /// URL), or `None` when the storage has no such thing (local, memory).
    async fn signed_url(
        &self,
        _key: &ObjectKey,
        _valid_for: std::time::Duration,
    ) -> Result<Option<String>, StorageError> {
        Ok(None)
    }

    /// Stores `data`, already in memory (playlists, small media objects), under `key`.
    async fn put_bytes(&self, key: &ObjectKey, data: Bytes) -> Result<u64, StorageError> {
        self.put(key, Box::pin(futures_util::stream::once(async move { Ok(data) }))).await
    }

    /// The whole object in memory (for small objects: playlists, indexes), or `None` when
    /// there is no such object.
    async fn get_bytes(&self, key: &ObjectKey) -> Result<Option<Bytes>, StorageError> {
        use futures_util::StreamExt;
        let mut body = match self.get(key).await {
            Ok(body) => body,
            Err(StorageError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut out = bytes::BytesMut::new();
        while let Some(chunk) = body.next().await {
            out.extend_from_slice(&chunk.map_err(|source| StorageError::Io { key: key.to_string(), source })?);
        }
        Ok(Some(out.freeze()))
    }

    /// Removes every object under `prefix`; returns how many there were.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        let objects = self.list(prefix).await?;
        for object in &objects {
            self.delete(&object.key).await?;
        }
        Ok(objects.len() as u64)
    }
}

/// Checks a requested range against an object's size.
pub(crate) fn check_range(key: &ObjectKey, range: &Range<u64>, size: u64) -> Result<(), StorageError> {
    if range.start >= range.end || range.end > size {
        return Err(StorageError::InvalidRange { key: key.to_string(), start: range.start, end: range.end, size });
    }
    Ok(())
}
