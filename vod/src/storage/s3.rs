//! Objects in an S3-compatible bucket (AWS S3, Garage, Ceph RGW, s3s...), through the
//! `object_store` crate: the scale-out default, shared by every node.
//!
//! Why `object_store` rather than an S3 client of our own or aws-sdk-s3: it signs requests
//! (SigV4), retries with backoff, streams multipart uploads and presigns URLs behind one small
//! trait, on the reqwest and rustls the rest of oxcast already builds; the AWS SDK is several
//! times larger.
//!
//! How the contract is kept on a store that cannot append or rename:
//! - [`Storage::put`] buffers up to [`PART_BYTES`]; a body that ends within it is one `PUT`,
//!   a longer one becomes a multipart upload (S3 parts are 5 MiB at least), completed only when
//!   the body ended without error and aborted otherwise, so a cut body never leaves an object.
//!   Memory per put: one part being filled and at most two in flight.
//! - Listing by string prefix lists the deepest "directory" the prefix names and filters by the
//!   rest, as the local implementation does.
//! - A range past the end is [`StorageError::InvalidRange`], told from the size S3 returns with
//!   the range (one request in the common case).

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::signer::Signer;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use super::{ByteStream, ObjectKey, ObjectMeta, Storage, StorageError, check_range};

/// Multipart part size: S3's minimum is 5 MiB (except the last part).
pub const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts of one put sent at once.
const PARTS_IN_FLIGHT: usize = 2;

/// Where the bucket is and how to sign for it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// `http(s)://host:port` of an S3-compatible server; `None`: AWS S3 in `region`.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    /// Keys are stored under this prefix (`oxcast/`), so one bucket can hold several installs.
    pub prefix: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// A bucket (or a prefix of one) as [`Storage`].
#[derive(Debug, Clone)]
pub struct S3Storage {
    store: Arc<dyn ObjectStore>,
    /// Presigns URLs for direct reads; keys passed to it carry the prefix.
    signer: Arc<object_store::aws::AmazonS3>,
    prefix: String,
}

impl S3Storage {
    /// Connects lazily: the first request reaches the server. Fails on settings that cannot
    /// work (no bucket, a malformed endpoint).
    pub fn new(settings: &S3Settings) -> Result<Self, StorageError> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(&settings.secret_access_key);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let s3 = Arc::new(builder.build().map_err(|e| backend(&settings.bucket, e))?);
        let prefix = settings.prefix.trim_matches('/').to_owned();
        let store: Arc<dyn ObjectStore> =
            if prefix.is_empty() { s3.clone() } else { Arc::new(PrefixStore::new(s3.clone(), prefix.as_str())) };
        Ok(Self { store, signer: s3, prefix })
    }

    /// Checks that the bucket answers (and the credentials are accepted): a startup check.
    pub async fn check(&self) -> Result<(), StorageError> {
        self.store.list(None).take(1).try_collect::<Vec<_>>().await.map_err(|e| backend("the bucket", e))?;
        Ok(())
    }
}

fn path(key: &ObjectKey) -> Path {
    // Keys are `/`-separated segments of letters, digits, `.`, `-` and `_`: valid paths as is.
    Path::from(key.as_str())
}

fn backend(key: &str, e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { .. } => StorageError::NotFound(key.to_owned()),
        other => StorageError::Io { key: key.to_owned(), source: std::io::Error::other(other) },
    }
}

fn stream_of(key: &ObjectKey, result: object_store::GetResult) -> ByteStream {
    let key = key.to_string();
    result.into_stream().map_err(move |e| std::io::Error::other(format!("reading {key}: {e}"))).boxed()
}

#[async_trait::async_trait]
impl Storage for S3Storage {
    async fn put(&self, key: &ObjectKey, mut body: ByteStream) -> Result<u64, StorageError> {
        let location = path(key);
        let body_error = |source| StorageError::Body { key: key.to_string(), source };
        // The first part's worth: a body that ends within it is one PUT.
        let mut first: Vec<Bytes> = Vec::new();
        let mut size = 0u64;
        let mut buffered = 0usize;
        while buffered < PART_BYTES {
            match body.next().await {
                None => {
                    let payload: PutPayload = first.into_iter().collect();
                    self.store.put(&location, payload).await.map_err(|e| backend(key.as_str(), e))?;
                    return Ok(size);
                }
                Some(Err(source)) => return Err(body_error(source)),
                Some(Ok(chunk)) => {
                    size += chunk.len() as u64;
                    buffered += chunk.len();
                    first.push(chunk);
                }
            }
        }
        let upload = self.store.put_multipart(&location).await.map_err(|e| backend(key.as_str(), e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        for chunk in first {
            writer.put(chunk);
        }
        let failure = loop {
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                break backend(key.as_str(), e);
            }
            match body.next().await {
                None => {
                    writer.finish().await.map_err(|e| backend(key.as_str(), e))?;
                    return Ok(size);
                }
                Some(Err(source)) => break body_error(source),
                Some(Ok(chunk)) => {
                    size += chunk.len() as u64;
                    writer.put(chunk);
                }
            }
        };
        // Nothing becomes visible: the parts sent so far are discarded.
        if let Err(e) = writer.abort().await {
            tracing::warn!(key = %key, error = %e, "aborting a multipart upload failed; the bucket's lifecycle rule must clean it");
        }
        Err(failure)
    }

    async fn get(&self, key: &ObjectKey) -> Result<ByteStream, StorageError> {
        let result = self.store.get(&path(key)).await.map_err(|e| backend(key.as_str(), e))?;
        Ok(stream_of(key, result))
    }

    async fn get_range(&self, key: &ObjectKey, range: Range<u64>) -> Result<ByteStream, StorageError> {
        if range.start >= range.end {
            let size = self.head(key).await?.ok_or_else(|| StorageError::NotFound(key.to_string()))?.size;
            check_range(key, &range, size)?;
        }
        let options = GetOptions { range: Some(GetRange::Bounded(range.clone())), ..GetOptions::default() };
        match self.store.get_opts(&path(key), options).await {
            Ok(result) => {
                // S3 answers a range that runs past the end with what there is: not the contract.
                check_range(key, &range, result.meta.size)?;
                Ok(stream_of(key, result))
            }
            Err(object_store::Error::NotFound { .. }) => Err(StorageError::NotFound(key.to_string())),
            Err(e) => {
                // A range starting past the end is refused by S3 (416): tell it as such.
                if let Some(meta) = self.head(key).await? {
                    check_range(key, &range, meta.size)?;
                }
                Err(backend(key.as_str(), e))
            }
        }
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StorageError> {
        match self.store.head(&path(key)).await {
            Ok(meta) => Ok(Some(ObjectMeta { key: key.clone(), size: meta.size })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend(key.as_str(), e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        // Start at the deepest "directory" the prefix names; the rest is a string match.
        let dir = match prefix.rfind('/') {
            Some(i) if ObjectKey::new(&prefix[..i]).is_ok() => Some(Path::from(&prefix[..i])),
            Some(_) => return Ok(Vec::new()),
            None => None,
        };
        let mut found: Vec<ObjectMeta> = self
            .store
            .list(dir.as_ref())
            .map_err(|e| backend(prefix, e))
            .try_filter_map(|meta| async move {
                let key = meta.location.as_ref();
                Ok(match ObjectKey::new(key) {
                    Ok(key) if key.as_str().starts_with(prefix) => Some(ObjectMeta { key, size: meta.size }),
                    _ => None,
                })
            })
            .try_collect()
            .await?;
        found.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
        Ok(found)
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        match self.store.delete(&path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(key.as_str(), e)),
        }
    }

    async fn signed_url(&self, key: &ObjectKey, valid_for: Duration) -> Result<Option<String>, StorageError> {
        let full =
            if self.prefix.is_empty() { path(key) } else { Path::from(format!("{}/{}", self.prefix, key.as_str())) };
        let url = self
            .signer
            .signed_url(object_store::signer::Method::GET, &full, valid_for)
            .await
            .map_err(|e| backend(key.as_str(), e))?;
        Ok(Some(url.to_string()))
    }
}
