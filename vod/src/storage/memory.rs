//! Objects in a map in memory: for tests, and to prove the [`Storage`] contract holds without a
//! filesystem underneath.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use super::{ByteStream, ObjectKey, ObjectMeta, Storage, StorageError, check_range};

#[derive(Debug, Default)]
pub struct MemoryStorage {
    objects: Mutex<BTreeMap<ObjectKey, Bytes>>,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ObjectKey, Bytes>> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn object(&self, key: &ObjectKey) -> Result<Bytes, StorageError> {
        self.lock().get(key).cloned().ok_or_else(|| StorageError::NotFound(key.to_string()))
    }
}

fn once(body: Bytes) -> ByteStream {
    futures_util::stream::once(async move { Ok(body) }).boxed()
}

#[async_trait::async_trait]
impl Storage for MemoryStorage {
    async fn put(&self, key: &ObjectKey, mut body: ByteStream) -> Result<u64, StorageError> {
        let mut buffer = BytesMut::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|source| StorageError::Body { key: key.to_string(), source })?;
            buffer.extend_from_slice(&chunk);
        }
        let size = buffer.len() as u64;
        self.lock().insert(key.clone(), buffer.freeze());
        Ok(size)
    }

    async fn get(&self, key: &ObjectKey) -> Result<ByteStream, StorageError> {
        Ok(once(self.object(key)?))
    }

    async fn get_range(&self, key: &ObjectKey, range: Range<u64>) -> Result<ByteStream, StorageError> {
        let object = self.object(key)?;
        check_range(key, &range, object.len() as u64)?;
        Ok(once(object.slice(range.start as usize..range.end as usize)))
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StorageError> {
        Ok(self.lock().get(key).map(|b| ObjectMeta { key: key.clone(), size: b.len() as u64 }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        Ok(self
            .lock()
            .iter()
            .filter(|(k, _)| k.as_str().starts_with(prefix))
            .map(|(k, b)| ObjectMeta { key: k.clone(), size: b.len() as u64 })
            .collect())
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        self.lock().remove(key);
        Ok(())
    }
}
