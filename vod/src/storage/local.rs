//! Objects as files under a root directory: the embedded default.
//!
//! A put streams into `ROOT/.incoming/RANDOM` and renames it into place when the body ended
//! without error, so readers never see half an object and a cut upload leaves nothing behind
//! (keys cannot start with `.`, so the incoming directory never collides with an object). Files
//! are written without fsync: a process crash loses nothing written, a power cut may lose the
//! last seconds (as with the SQLite default). Reads stream from the file in 64 KiB chunks.

use std::io::SeekFrom;
use std::ops::Range;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::{ByteStream, ObjectKey, ObjectMeta, Storage, StorageError, check_range};

const INCOMING: &str = ".incoming";
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    /// Objects under `root` (created if missing).
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        tokio::fs::create_dir_all(root.join(INCOMING))
            .await
            .map_err(|source| StorageError::Io { key: root.display().to_string(), source })?;
        Ok(Self { root })
    }

    fn path(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    async fn open_file(&self, key: &ObjectKey) -> Result<(tokio::fs::File, u64), StorageError> {
        let file = tokio::fs::File::open(self.path(key)).await.map_err(|e| not_found_or(key, e))?;
        let size = file.metadata().await.map_err(|source| io(key, source))?.len();
        Ok((file, size))
    }
}

fn io(key: &ObjectKey, source: std::io::Error) -> StorageError {
    if source.kind() == std::io::ErrorKind::StorageFull {
        return StorageError::Full(key.to_string());
    }
    StorageError::Io { key: key.to_string(), source }
}

fn not_found_or(key: &ObjectKey, e: std::io::Error) -> StorageError {
    if e.kind() == std::io::ErrorKind::NotFound { StorageError::NotFound(key.to_string()) } else { io(key, e) }
}

/// Every file under `dir`, as keys relative to `root`.
fn walk(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<ObjectMeta>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            if path.file_name().is_some_and(|n| n == INCOMING) {
                continue;
            }
            walk(root, &path, prefix, out)?;
        } else if file_type.is_file() {
            let Ok(relative) = path.strip_prefix(root) else { continue };
            let Some(key) = relative.to_str().map(|k| k.replace(std::path::MAIN_SEPARATOR, "/")) else { continue };
            if key.starts_with(prefix)
                && let Ok(key) = ObjectKey::new(key)
            {
                out.push(ObjectMeta { key, size: entry.metadata()?.len() });
            }
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl Storage for LocalStorage {
    async fn put(&self, key: &ObjectKey, mut body: ByteStream) -> Result<u64, StorageError> {
        let mut name = [0u8; 12];
        rand::rng().fill_bytes(&mut name);
        let incoming = self.root.join(INCOMING).join(hex::encode(name));
        let file = tokio::fs::File::create(&incoming).await.map_err(|e| io(key, e))?;
        // Each chunk is written by a blocking task straight from its buffer: tokio's `File`
        // would copy it into its own buffer and write it in 2 MiB pieces.
        let mut file = Some(file.into_std().await);
        let written = async {
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|source| StorageError::Body { key: key.to_string(), source })?;
                let len = chunk.len() as u64;
                let mut f = file.take().ok_or_else(|| io(key, std::io::Error::other("file gone")))?;
                let (f, result) = tokio::task::spawn_blocking(move || {
                    use std::io::Write;
                    let result = f.write_all(&chunk);
                    (f, result)
                })
                .await
                .map_err(|e| io(key, std::io::Error::other(e)))?;
                file = Some(f);
                result.map_err(|e| io(key, e))?;
                size += len;
            }
            Ok::<u64, StorageError>(size)
        }
        .await;
        drop(file);
        let size = match written {
            Ok(size) => size,
            Err(e) => {
                let _ = tokio::fs::remove_file(&incoming).await;
                return Err(e);
            }
        };
        let target = self.path(key);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|e| io(key, e))?;
        }
        if let Err(e) = tokio::fs::rename(&incoming, &target).await {
            let _ = tokio::fs::remove_file(&incoming).await;
            return Err(io(key, e));
        }
        Ok(size)
    }

    async fn get(&self, key: &ObjectKey) -> Result<ByteStream, StorageError> {
        let (file, _) = self.open_file(key).await?;
        Ok(ReaderStream::with_capacity(file, READ_CHUNK).boxed())
    }

    async fn get_range(&self, key: &ObjectKey, range: Range<u64>) -> Result<ByteStream, StorageError> {
        let (mut file, size) = self.open_file(key).await?;
        check_range(key, &range, size)?;
        file.seek(SeekFrom::Start(range.start)).await.map_err(|e| io(key, e))?;
        Ok(ReaderStream::with_capacity(file.take(range.end - range.start), READ_CHUNK).boxed())
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StorageError> {
        match tokio::fs::metadata(self.path(key)).await {
            Ok(m) if m.is_file() => Ok(Some(ObjectMeta { key: key.clone(), size: m.len() })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        // Start at the deepest directory the prefix names; the rest is a string match.
        let dir = match prefix.rfind('/') {
            Some(i) if ObjectKey::new(&prefix[..i]).is_ok() => self.root.join(&prefix[..i]),
            Some(_) => return Ok(Vec::new()),
            None => self.root.clone(),
        };
        let (root, prefix_owned) = (self.root.clone(), prefix.to_owned());
        let mut found = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            walk(&root, &dir, &prefix_owned, &mut out).map(|()| out)
        })
        .await
        .map_err(|e| StorageError::Io { key: prefix.to_owned(), source: std::io::Error::other(e) })?
        .map_err(|source| StorageError::Io { key: prefix.to_owned(), source })?;
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    async fn available_bytes(&self) -> Result<Option<u64>, StorageError> {
        let root = self.root.clone();
        let free = tokio::task::spawn_blocking(move || fs4::available_space(&root))
            .await
            .map_err(|e| StorageError::Io { key: self.root.display().to_string(), source: std::io::Error::other(e) })?
            .map_err(|source| StorageError::Io { key: self.root.display().to_string(), source })?;
        Ok(Some(free))
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(key, e)),
        }
        // Tidy empty directories up to the root (best effort: another put may be filling one).
        let mut dir = self.path(key).parent().map(Path::to_path_buf);
        while let Some(d) = dir {
            if d == self.root || tokio::fs::remove_dir(&d).await.is_err() {
                break;
            }
            dir = d.parent().map(Path::to_path_buf);
        }
        Ok(())
    }
}
