//! The `Storage` contract, run against every implementation: the local directory, the
//! in-memory map, and S3 on the real S3-compatible server the test script starts
//! (`OXCAST_TEST_S3_URL`, each test under a prefix of its own). Behaviour an upload or a player relies on: whole objects
//! appear only after a good body, ranges are exact, listing is by string prefix and sorted,
//! deletes are idempotent.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use oxcast_vod::storage::{copy_objects, verify_objects};
use oxcast_vod::{ByteStream, LocalStorage, MemoryStorage, ObjectKey, S3Settings, S3Storage, Storage, StorageError};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The test S3 server's bucket (`scripts/services.sh` starts it), under `prefix`.
fn s3_settings(prefix: &str) -> S3Settings {
    S3Settings {
        endpoint: Some(env_or("OXCAST_TEST_S3_URL", "http://127.0.0.1:9900")),
        bucket: env_or("OXCAST_TEST_S3_BUCKET", "oxcast-test"),
        region: "us-east-1".into(),
        prefix: prefix.to_owned(),
        access_key_id: env_or("OXCAST_TEST_S3_ACCESS_KEY", "oxcast-test"),
        secret_access_key: env_or("OXCAST_TEST_S3_SECRET_KEY", "oxcast-test-secret"),
    }
}

/// A bucket prefix of its own on the test server. Panics when the server does not answer: a
/// test that needs S3 must not pass without it.
async fn s3() -> S3Storage {
    let settings = s3_settings(&format!("storage-test-{:016x}", rand::random::<u64>()));
    let storage = S3Storage::new(&settings).unwrap();
    if let Err(e) = storage.check().await {
        panic!(
            "cannot reach the test S3 server ({settings:?}): {e}; run scripts/services.sh or set OXCAST_TEST_S3_URL"
        );
    }
    storage
}

fn key(k: &str) -> ObjectKey {
    ObjectKey::new(k).unwrap()
}

/// A body of `chunks` pieces of `size` bytes, each byte its offset mod 251.
fn body(chunks: usize, size: usize) -> (ByteStream, Vec<u8>) {
    let all: Vec<u8> = (0..chunks * size).map(|i| (i % 251) as u8).collect();
    let pieces: Vec<std::io::Result<Bytes>> = all.chunks(size.max(1)).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    (futures_util::stream::iter(pieces).boxed(), all)
}

async fn read(stream: ByteStream) -> Vec<u8> {
    let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
    chunks.concat()
}

/// `contract!(name)` runs `async fn name(storage)` on each implementation.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(#[tokio::test]
            async fn $name() {
                let dir = tempfile::tempdir().unwrap();
                let storage = std::sync::Arc::new(super::LocalStorage::open(dir.path().join("media")).await.unwrap());
                super::$name(storage).await;
            })*
        }
        mod memory {
            $(#[tokio::test]
            async fn $name() {
                super::$name(std::sync::Arc::new(super::MemoryStorage::new())).await;
            })*
        }
        mod s3 {
            $(#[tokio::test]
            async fn $name() {
                super::$name(std::sync::Arc::new(super::s3().await)).await;
            })*
        }
    };
}

contract!(
    streamed_puts_read_back_whole_and_in_ranges,
    a_failed_body_stores_nothing_and_keeps_the_old_object,
    listing_is_by_string_prefix_and_sorted,
    deletes_are_idempotent_and_prefix_deletes_count,
    missing_objects_and_bad_ranges_are_errors,
    a_local_storage_is_copied_in_resumably_and_checked_byte_for_byte,
);

async fn streamed_puts_read_back_whole_and_in_ranges(storage: Arc<impl Storage>) {
    let (stream, bytes) = body(40, 64 * 1024 + 7);
    let k = key("videos/v1/source/upload.bin");
    assert_eq!(storage.put(&k, stream).await.unwrap(), bytes.len() as u64);
    assert_eq!(storage.head(&k).await.unwrap().unwrap().size, bytes.len() as u64);
    assert_eq!(read(storage.get(&k).await.unwrap()).await, bytes);
    for range in [0..1u64, 10..70_000, 1_000_000..bytes.len() as u64, 0..bytes.len() as u64] {
        let got = read(storage.get_range(&k, range.clone()).await.unwrap()).await;
        assert_eq!(got, bytes[range.start as usize..range.end as usize], "{range:?}");
    }
    // A second put replaces the object.
    let (stream, smaller) = body(1, 10);
    storage.put(&k, stream).await.unwrap();
    assert_eq!(read(storage.get(&k).await.unwrap()).await, smaller);
    // An empty object is an object.
    let empty = key("videos/v1/empty");
    storage.put(&empty, futures_util::stream::empty().boxed()).await.unwrap();
    assert_eq!(storage.head(&empty).await.unwrap().unwrap().size, 0);
}

async fn a_failed_body_stores_nothing_and_keeps_the_old_object(storage: Arc<impl Storage>) {
    let k = key("uploads/u1/part-000001");
    let cut = futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"first bytes")),
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "client went away")),
    ])
    .boxed();
    assert!(matches!(storage.put(&k, cut).await, Err(StorageError::Body { .. })));
    assert!(storage.head(&k).await.unwrap().is_none(), "no half object");
    assert!(storage.list("").await.unwrap().is_empty(), "nothing left behind: {:?}", storage.list("").await.unwrap());
    storage.put(&k, futures_util::stream::once(async { Ok(Bytes::from_static(b"good")) }).boxed()).await.unwrap();
    let cut = futures_util::stream::iter(vec![Err(std::io::Error::other("cut"))]).boxed();
    assert!(storage.put(&k, cut).await.is_err());
    assert_eq!(read(storage.get(&k).await.unwrap()).await, b"good", "the old object stays");
}

async fn listing_is_by_string_prefix_and_sorted(storage: Arc<impl Storage>) {
    for k in [
        "videos/v1/720p/seg-2.m4s",
        "videos/v1/720p/seg-10.m4s",
        "videos/v1/480p/init.mp4",
        "videos/v10/x",
        "videos/v2/y",
    ] {
        let (stream, _) = body(1, 3);
        storage.put(&key(k), stream).await.unwrap();
    }
    let names = |list: Vec<oxcast_vod::ObjectMeta>| list.into_iter().map(|m| m.key.to_string()).collect::<Vec<_>>();
    assert_eq!(
        names(storage.list("videos/v1/").await.unwrap()),
        ["videos/v1/480p/init.mp4", "videos/v1/720p/seg-10.m4s", "videos/v1/720p/seg-2.m4s"]
    );
    assert_eq!(names(storage.list("videos/v1").await.unwrap()).len(), 4, "a string prefix: v1 and v10");
    assert_eq!(names(storage.list("videos/v1/720p/seg-1").await.unwrap()), ["videos/v1/720p/seg-10.m4s"]);
    assert_eq!(storage.list("").await.unwrap().len(), 5);
    assert!(storage.list("nothing/here/").await.unwrap().is_empty());
    assert!(storage.list("../").await.unwrap().is_empty());
    assert!(storage.list("videos/v1/").await.unwrap().iter().all(|m| m.size == 3));
}

async fn deletes_are_idempotent_and_prefix_deletes_count(storage: Arc<impl Storage>) {
    for k in ["videos/v1/a", "videos/v1/b/c", "videos/v2/a"] {
        let (stream, _) = body(1, 1);
        storage.put(&key(k), stream).await.unwrap();
    }
    storage.delete(&key("videos/v1/a")).await.unwrap();
    storage.delete(&key("videos/v1/a")).await.unwrap();
    storage.delete(&key("never/was")).await.unwrap();
    assert_eq!(storage.delete_prefix("videos/v1/").await.unwrap(), 1);
    let left: Vec<String> = storage.list("").await.unwrap().into_iter().map(|m| m.key.to_string()).collect();
    assert_eq!(left, ["videos/v2/a"]);
}

async fn missing_objects_and_bad_ranges_are_errors(storage: Arc<impl Storage>) {
    let k = key("videos/v1/x");
    assert!(matches!(storage.get(&k).await, Err(StorageError::NotFound(_))));
    assert!(storage.head(&k).await.unwrap().is_none());
    let (stream, _) = body(1, 100);
    storage.put(&k, stream).await.unwrap();
    #[allow(clippy::reversed_empty_ranges)] // backwards on purpose: a client may ask for one
    let bad_ranges = [100..101u64, 50..50, 60..40, 0..1000];
    for bad in bad_ranges {
        assert!(matches!(storage.get_range(&k, bad.clone()).await, Err(StorageError::InvalidRange { .. })), "{bad:?}");
    }
}

/// What the local store wrote (16 MiB, streamed in 1 MiB chunks) is there for a new handle on
/// the same directory, as after a restart.
#[tokio::test]
async fn local_puts_survive_a_restart_of_the_handle() {
    let dir = tempfile::tempdir().unwrap();
    let first = LocalStorage::open(dir.path()).await.unwrap();
    let (stream, bytes) = body(16, 1 << 20);
    first.put(&key("big/object"), stream).await.unwrap();
    drop(first);
    let again = LocalStorage::open(dir.path()).await.unwrap();
    assert_eq!(read(again.get(&key("big/object")).await.unwrap()).await.len(), bytes.len());
}

/// A disk says how much room is left; memory (like object stores) cannot.
#[tokio::test]
async fn a_local_disk_reports_its_free_space() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalStorage::open(dir.path()).await.unwrap();
    assert!(local.available_bytes().await.unwrap().is_some_and(|free| free > 0));
    assert_eq!(MemoryStorage::new().available_bytes().await.unwrap(), None);
}

/// Bodies longer than a part go up as multipart uploads: 20 MiB in 64 KiB chunks reads back
/// whole; a body cut after two parts leaves no object and the old one stays.
#[tokio::test]
async fn s3_multipart_puts_complete_whole_or_not_at_all() {
    let storage = s3().await;
    let k = key("videos/v1/source/big.bin");
    let (stream, bytes) = body(320, 64 * 1024);
    assert_eq!(storage.put(&k, stream).await.unwrap(), bytes.len() as u64);
    assert_eq!(storage.head(&k).await.unwrap().unwrap().size, bytes.len() as u64);
    let got = read(storage.get(&k).await.unwrap()).await;
    assert!(got == bytes, "20 MiB read back differ");
    let tail = read(storage.get_range(&k, 20 * 1024 * 1024 - 5..20 * 1024 * 1024).await.unwrap()).await;
    assert_eq!(tail, bytes[bytes.len() - 5..]);

    let (stream, _) = body(300, 64 * 1024);
    let cut = stream.take(250).chain(futures_util::stream::once(async { Err(std::io::Error::other("cut")) })).boxed();
    assert!(matches!(storage.put(&k, cut).await, Err(StorageError::Body { .. })));
    assert!(read(storage.get(&k).await.unwrap()).await == bytes, "the old object stays");
    let other = key("videos/v1/source/cut.bin");
    let (stream, _) = body(300, 64 * 1024);
    let cut = stream.take(250).chain(futures_util::stream::once(async { Err(std::io::Error::other("cut")) })).boxed();
    assert!(storage.put(&other, cut).await.is_err());
    assert!(storage.head(&other).await.unwrap().is_none(), "no object from a cut multipart body");
}

/// Wrong credentials are an error at the startup check, not a silent empty store; a presigned
/// URL names the bucket and the key under the prefix.
#[tokio::test]
async fn s3_refuses_bad_credentials_and_presigns_under_the_prefix() {
    let mut settings = s3_settings("presign-check");
    settings.secret_access_key = "not-the-secret".into();
    assert!(S3Storage::new(&settings).unwrap().check().await.is_err(), "a wrong secret must not pass");
    let storage = s3().await;
    let url = storage.signed_url(&key("videos/v1/720p/seg-1.m4s"), std::time::Duration::from_secs(60)).await.unwrap();
    let url = url.expect("S3 presigns");
    let bucket = env_or("OXCAST_TEST_S3_BUCKET", "oxcast-test");
    assert!(url.contains(&format!("/{bucket}/storage-test-")) && url.contains("/videos/v1/720p/seg-1.m4s?"), "{url}");
    assert!(url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=60"), "{url}");
}

/// `oxcast migrate`'s object copy: from a local directory into each kind of storage.
async fn a_local_storage_is_copied_in_resumably_and_checked_byte_for_byte(storage: Arc<impl Storage>) {
    let dir = tempfile::tempdir().unwrap();
    let source = LocalStorage::open(dir.path().join("old-media")).await.unwrap();
    // A rendition segment, an upload's part and one object past S3's one-PUT size.
    let (big, big_bytes) = body(9, 1024 * 1024);
    source.put(&key("videos/v1/video/360p/seg-00001.m4s"), body(3, 1000).0).await.unwrap();
    source.put(&key("uploads/u1/part-00000001"), body(1, 4096).0).await.unwrap();
    source.put(&key("videos/v1/source"), big).await.unwrap();

    let mut seen = Vec::new();
    let first =
        copy_objects(&source, storage.as_ref(), |o, copied| seen.push((o.key.to_string(), copied))).await.unwrap();
    assert_eq!((first.copied, first.skipped, first.bytes), (3, 0, 3000 + 4096 + 9 * 1024 * 1024));
    assert_eq!(seen.len(), 3);
    assert_eq!(read(storage.get(&key("videos/v1/source")).await.unwrap()).await, big_bytes);
    assert!(verify_objects(&source, storage.as_ref()).await.unwrap().matches());

    // A second run (after an interruption, say) copies only what is not there yet.
    storage.delete(&key("uploads/u1/part-00000001")).await.unwrap();
    let missing = verify_objects(&source, storage.as_ref()).await.unwrap();
    assert_eq!(missing.missing, vec!["uploads/u1/part-00000001".to_owned()]);
    let second = copy_objects(&source, storage.as_ref(), |_, _| {}).await.unwrap();
    assert_eq!((second.copied, second.skipped, second.bytes), (1, 2, 4096));

    // Same size, other bytes: only the digests tell, and they do.
    storage.put_bytes(&key("videos/v1/video/360p/seg-00001.m4s"), Bytes::from(vec![7u8; 3000])).await.unwrap();
    let check = verify_objects(&source, storage.as_ref()).await.unwrap();
    assert_eq!(check.different, vec!["videos/v1/video/360p/seg-00001.m4s".to_owned()]);
    assert_eq!((check.objects, check.bytes), (3, 3000 + 4096 + 9 * 1024 * 1024));
    assert!(!check.matches());
}
