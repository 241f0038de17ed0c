//! The bytes of resumable uploads, kept as numbered part objects in [`Storage`]:
//! `uploads/ID/part-00000001`, `part-00000002`, ... An upload's offset is the sum of its parts'
//! sizes, so the storage is the only record of what arrived (a restart loses nothing), and object
//! stores, which cannot append, can hold it.
//!
//! [`UploadParts::append`] reads a request body into parts of at most [`PART_BYTES`] (memory per
//! upload is bounded by one part) and stores each part when full; when the body breaks off (the
//! client's connection was cut), the bytes already received are stored as a last, shorter part,
//! so the client resumes from exactly where its bytes stopped. With an expected SHA-1 (the tus
//! checksum extension), the parts of this request are removed again when the digest differs.
//! Callers make sure only one append per upload runs at a time.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use sha1::{Digest, Sha1};

use crate::storage::{ByteStream, ObjectKey, Storage, StorageError};

/// Largest part; also the most an upload in progress holds in memory.
pub const PART_BYTES: usize = 8 * 1024 * 1024;

/// Why an append stopped short.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("the body's SHA-1 is not the one announced")]
    ChecksumMismatch,
    #[error("invalid upload id {0:?}")]
    InvalidId(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What one append stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Bytes of this request that are now stored.
    pub bytes: u64,
    /// The body broke off (the bytes before the break are stored).
    pub interrupted: bool,
    /// The body went past `max_bytes`; what lay beyond was not stored.
    pub overflowed: bool,
}

/// Upload parts in a [`Storage`].
#[derive(Debug, Clone)]
pub struct UploadParts {
    storage: Arc<dyn Storage>,
}

fn prefix(id: &str) -> String {
    format!("uploads/{id}/")
}

fn part_key(id: &str, n: u64) -> Result<ObjectKey, AppendError> {
    ObjectKey::new(format!("uploads/{id}/part-{n:08}")).map_err(|_| AppendError::InvalidId(id.to_owned()))
}

impl UploadParts {
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }

    /// The storage the parts live in (a video's other objects live beside them).
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Bytes received so far, and how many parts hold them.
    pub async fn offset(&self, id: &str) -> Result<(u64, u64), AppendError> {
        ObjectKey::new(format!("uploads/{id}")).map_err(|_| AppendError::InvalidId(id.to_owned()))?;
        let parts = self.storage.list(&prefix(id)).await?;
        Ok((parts.iter().map(|p| p.size).sum(), parts.len() as u64))
    }

    /// Appends `body` (at most `max_bytes` of it) after the parts already stored.
    pub async fn append(
        &self,
        id: &str,
        mut body: ByteStream,
        max_bytes: u64,
        sha1: Option<[u8; 20]>,
    ) -> Result<Appended, AppendError> {
        let (_, mut next) = self.offset(id).await?;
        let first_new = next + 1;
        // Only when the client sent a checksum: hashing every upload would cost a core.
        let mut digest = sha1.map(|_| Sha1::new());
        let mut buffer = BytesMut::with_capacity(PART_BYTES.min(usize::try_from(max_bytes).unwrap_or(PART_BYTES)));
        let mut stored = 0u64;
        let (mut interrupted, mut overflowed) = (false, false);
        loop {
            let chunk = match body.next().await {
                Some(Ok(chunk)) => chunk,
                Some(Err(_)) => {
                    interrupted = true;
                    break;
                }
                None => break,
            };
            let room = max_bytes - stored - buffer.len() as u64;
            let take = chunk.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            if take < chunk.len() {
                overflowed = true;
            }
            let mut rest = chunk.slice(..take);
            while !rest.is_empty() {
                let fits = rest.len().min(PART_BYTES - buffer.len());
                buffer.extend_from_slice(&rest[..fits]);
                rest = rest.slice(fits..);
                if buffer.len() == PART_BYTES {
                    next += 1;
                    stored += self.put_part(id, next, &mut digest, buffer.split().freeze()).await?;
                }
            }
            if overflowed {
                break;
            }
        }
        if !buffer.is_empty() {
            next += 1;
            stored += self.put_part(id, next, &mut digest, buffer.split().freeze()).await?;
        }
        if let Some(expected) = sha1
            && !interrupted
            && digest.take().is_some_and(|d| d.finalize().as_slice() != expected)
        {
            for n in first_new..=next {
                self.storage.delete(&part_key(id, n)?).await?;
            }
            return Err(AppendError::ChecksumMismatch);
        }
        Ok(Appended { bytes: stored, interrupted, overflowed })
    }

    async fn put_part(&self, id: &str, n: u64, digest: &mut Option<Sha1>, part: Bytes) -> Result<u64, AppendError> {
        if let Some(digest) = digest.as_mut() {
            digest.update(&part);
        }
        Ok(self.storage.put_bytes(&part_key(id, n)?, part).await?)
    }

    /// The whole upload, parts in order, as one stream.
    pub async fn read(&self, id: &str) -> Result<ByteStream, AppendError> {
        let parts = self.storage.list(&prefix(id)).await?;
        let storage = self.storage.clone();
        let stream = futures_util::stream::iter(parts)
            .then(move |part| {
                let storage = storage.clone();
                async move { storage.get(&part.key).await.map_err(std::io::Error::other) }
            })
            .map(|opened| match opened {
                Ok(stream) => stream,
                Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
            })
            .flatten();
        Ok(stream.boxed())
    }

    /// Removes every byte of the upload.
    pub async fn discard(&self, id: &str) -> Result<u64, AppendError> {
        Ok(self.storage.delete_prefix(&prefix(id)).await?)
    }
}
