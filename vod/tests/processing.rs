//! The processing worker against a real store and real GStreamer, with a storage that stalls
//! once: the job that stops making progress is stopped, retried after the queue's backoff, and
//! the second attempt makes the video ready.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use oxcast_store::{NewUser, NewVideo, Role, Store, VideoDetails, VideoStatus};
use oxcast_transcode::Ladder;
use oxcast_vod::{
    ByteStream, MemoryStorage, ObjectKey, ObjectMeta, PROCESS_VIDEO, ProcessingConfig, Processor, Storage,
    StorageError, UploadParts,
};
use tokio_util::sync::CancellationToken;

/// Memory storage whose first segment write hangs for a while, as a sick disk or bucket would.
#[derive(Debug, Default)]
struct StallsOnce {
    inner: MemoryStorage,
    stalled: AtomicBool,
}

#[async_trait::async_trait]
impl Storage for StallsOnce {
    async fn put(&self, key: &ObjectKey, body: ByteStream) -> Result<u64, StorageError> {
        if key.as_str().contains("/seg-") && !self.stalled.swap(true, Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(6)).await;
        }
        self.inner.put(key, body).await
    }
    async fn get(&self, key: &ObjectKey) -> Result<ByteStream, StorageError> {
        self.inner.get(key).await
    }
    async fn get_range(&self, key: &ObjectKey, range: Range<u64>) -> Result<ByteStream, StorageError> {
        self.inner.get_range(key, range).await
    }
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, StorageError> {
        self.inner.head(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }
}

fn media() -> Bytes {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=60"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-y"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(&path).unwrap().into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_stops_making_progress_is_stopped_and_retried() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    let owner = store
        .users()
        .create(NewUser { name: "owner", display_name: None, password: None, role: Role::Creator })
        .await
        .unwrap();
    let storage: Arc<dyn Storage> = Arc::new(StallsOnce::default());
    let bytes = media();
    let video = store
        .videos()
        .create(NewVideo {
            owner_id: &owner.id,
            details: VideoDetails::default(),
            profile: None,
            upload_size: Some(bytes.len() as i64),
        })
        .await
        .unwrap();
    let body: ByteStream = Box::pin(futures_util::stream::once({
        let bytes = bytes.clone();
        async move { Ok(bytes) }
    }));
    UploadParts::new(storage.clone()).append(&video.id, body, bytes.len() as u64, None).await.unwrap();
    store.videos().start_processing(&video.id).await.unwrap();
    let job = store.jobs().enqueue(PROCESS_VIDEO, &format!(r#"{{"video":"{}"}}"#, video.id), 3).await.unwrap();

    let config = ProcessingConfig {
        stall_timeout: Duration::from_secs(2),
        heartbeat: Duration::from_millis(300),
        poll: Duration::from_millis(200),
        ..ProcessingConfig::default()
    };
    let processor = Processor::new(store.clone(), storage.clone(), HashMap::new(), Ladder::vod(), config);
    let cancel = CancellationToken::new();
    let worker = tokio::spawn(processor.run(cancel.clone()));
    let deadline = Instant::now() + Duration::from_secs(90);
    let ready = loop {
        let v = store.videos().get(&video.id).await.unwrap().unwrap();
        if v.status == VideoStatus::Ready || v.status == VideoStatus::Failed {
            break v;
        }
        assert!(Instant::now() < deadline, "not processed: {v:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    cancel.cancel();
    worker.await.unwrap();
    assert_eq!(ready.status, VideoStatus::Ready, "{ready:?}");
    let job = store.jobs().get(&job.id).await.unwrap().unwrap();
    assert_eq!(job.attempts, 2, "the stalled attempt and the one that finished: {job:?}");
    assert_eq!(job.last_error.as_deref(), Some("processing made no progress for 2 s"), "{job:?}");
    let renditions: serde_json::Value = serde_json::from_str(ready.renditions.as_deref().unwrap()).unwrap();
    assert_eq!(renditions[0]["segments"], 15, "60 s in 4 s segments, once: {renditions}");
}
