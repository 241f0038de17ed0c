//! Copying every object of one [`Storage`] into another (local files into S3, for
//! `oxcast migrate`), resumably, and checking the copy byte for byte.
//!
//! Keys mean the same in every storage (uploads in progress are part objects, renditions and
//! posters are plain objects), so a copy is object by object under the same key. An object the
//! destination already holds with the same size is skipped, which is what makes a cut-off run
//! resumable: a put appears only once its body ended well, so a present object is a whole one.
//! [`verify_objects`] then reads both sides of every object and compares SHA-256 digests.

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::{ObjectMeta, Storage, StorageError};

/// What [`copy_objects`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub copied: u64,
    /// Already in the destination with the same size (an earlier run's work).
    pub skipped: u64,
    /// Bytes copied by this run.
    pub bytes: u64,
}

/// What [`verify_objects`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Objects in the source, and their bytes.
    pub objects: u64,
    pub bytes: u64,
    /// Source keys the destination lacks.
    pub missing: Vec<String>,
    /// Keys whose bytes differ.
    pub different: Vec<String>,
}

impl VerifyReport {
    pub fn matches(&self) -> bool {
        self.missing.is_empty() && self.different.is_empty()
    }
}

/// Copies every object of `from` missing from `to` (or there with another size); `on_object`
/// hears of each object as it is done, with whether it was copied.
pub async fn copy_objects(
    from: &dyn Storage,
    to: &dyn Storage,
    mut on_object: impl FnMut(&ObjectMeta, bool),
) -> Result<CopyReport, StorageError> {
    let mut report = CopyReport::default();
    for object in from.list("").await? {
        let present = to.head(&object.key).await?;
        if present.is_some_and(|p| p.size == object.size) {
            report.skipped += 1;
            on_object(&object, false);
            continue;
        }
        let written = to.put(&object.key, from.get(&object.key).await?).await?;
        if written != object.size {
            return Err(StorageError::Io {
                key: object.key.to_string(),
                source: std::io::Error::other(format!(
                    "wrote {written} bytes of an object of {} (did it change while it was copied?)",
                    object.size
                )),
            });
        }
        report.copied += 1;
        report.bytes += written;
        on_object(&object, true);
    }
    Ok(report)
}

/// Reads every object of `from` and its namesake in `to` and compares their digests.
pub async fn verify_objects(from: &dyn Storage, to: &dyn Storage) -> Result<VerifyReport, StorageError> {
    let mut report = VerifyReport::default();
    for object in from.list("").await? {
        report.objects += 1;
        report.bytes += object.size;
        if to.head(&object.key).await?.is_none() {
            report.missing.push(object.key.to_string());
            continue;
        }
        if digest(from, &object).await? != digest(to, &object).await? {
            report.different.push(object.key.to_string());
        }
    }
    Ok(report)
}

async fn digest(storage: &dyn Storage, object: &ObjectMeta) -> Result<[u8; 32], StorageError> {
    let mut body = storage.get(&object.key).await?;
    let mut hasher = Sha256::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|source| StorageError::Body { key: object.key.to_string(), source })?;
        hasher.update(&chunk);
    }
    Ok(hasher.finalize().into())
}
