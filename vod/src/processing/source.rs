//! An upload's part objects as one [`FileSource`]: the parts are listed once (an upload that is
//! processing no longer changes), and a read at any offset becomes ranged gets on the parts it
//! covers. GStreamer calls this from its own threads, so it blocks on the runtime's handle.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use oxcast_transcode::file::FileSource;
use tokio::runtime::Handle;

use crate::storage::{ObjectMeta, Storage};

/// A read that takes longer than this fails (and with it the attempt, which is retried): a
/// storage that hangs must not hang the pipeline, which could then never be stopped.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

pub(crate) struct UploadSource {
    storage: Arc<dyn Storage>,
    /// The parts in order, with the offset each starts at.
    parts: Vec<(u64, ObjectMeta)>,
    size: u64,
    runtime: Handle,
}

impl UploadSource {
    pub(crate) async fn open(storage: Arc<dyn Storage>, upload_id: &str) -> Result<Self, crate::StorageError> {
        let listed = storage.list(&format!("uploads/{upload_id}/")).await?;
        let mut parts = Vec::with_capacity(listed.len());
        let mut offset = 0;
        for part in listed {
            let size = part.size;
            parts.push((offset, part));
            offset += size;
        }
        Ok(Self { storage, parts, size: offset, runtime: Handle::current() })
    }
}

impl FileSource for UploadSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&mut self, offset: u64, len: usize) -> std::io::Result<Bytes> {
        let end = offset.saturating_add(len as u64).min(self.size);
        if offset >= end {
            return Ok(Bytes::new());
        }
        let storage = self.storage.clone();
        let wanted: Vec<(ObjectMeta, std::ops::Range<u64>)> = self
            .parts
            .iter()
            .filter(|(start, part)| *start < end && start + part.size > offset)
            .map(|(start, part)| {
                let from = offset.saturating_sub(*start);
                let to = (end - start).min(part.size);
                (part.clone(), from..to)
            })
            .collect();
        let read = async move {
            let mut out = BytesMut::with_capacity((end - offset) as usize);
            for (part, range) in wanted {
                let mut body = storage.get_range(&part.key, range).await.map_err(std::io::Error::other)?;
                while let Some(chunk) = body.next().await {
                    out.extend_from_slice(&chunk?);
                }
            }
            Ok::<Bytes, std::io::Error>(out.freeze())
        };
        self.runtime.block_on(async move {
            tokio::time::timeout(READ_TIMEOUT, read)
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "storage did not answer within 60 s"))?
        })
    }
}
