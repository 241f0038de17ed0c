//! Upload parts over real storage: bytes land in order across parts, a cut body keeps what
//! arrived, bodies past the limit are cut there, a wrong checksum removes that request's parts.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use oxcast_vod::{AppendError, ByteStream, MemoryStorage, PART_BYTES, Storage, UploadParts};
use sha1::{Digest, Sha1};

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn chunks(bytes: &[u8], size: usize) -> ByteStream {
    let pieces: Vec<std::io::Result<Bytes>> = bytes.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures_util::stream::iter(pieces).boxed()
}

async fn all(parts: &UploadParts, id: &str) -> Vec<u8> {
    let chunks: Vec<Bytes> = parts.read(id).await.unwrap().try_collect().await.unwrap();
    chunks.concat()
}

fn sha1(bytes: &[u8]) -> [u8; 20] {
    Sha1::digest(bytes).into()
}

#[tokio::test]
async fn appends_resume_where_the_bytes_stopped_across_parts() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let parts = UploadParts::new(storage.clone());
    let whole = data(PART_BYTES * 2 + 12_345, 7);
    // A first request whose connection breaks after 9 MiB and a bit.
    let cut_at = PART_BYTES + 1_000_003;
    let mut pieces: Vec<std::io::Result<Bytes>> =
        whole[..cut_at].chunks(65_536).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    pieces.push(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut")));
    let first = parts.append("v1", futures_util::stream::iter(pieces).boxed(), u64::MAX, None).await.unwrap();
    assert_eq!((first.bytes, first.interrupted), (cut_at as u64, true));
    assert_eq!(parts.offset("v1").await.unwrap(), (cut_at as u64, 2), "every byte that arrived is kept");
    // The client resumes from the offset.
    let rest =
        parts.append("v1", chunks(&whole[cut_at..], 100_000), u64::MAX, Some(sha1(&whole[cut_at..]))).await.unwrap();
    assert_eq!((rest.bytes, rest.interrupted), ((whole.len() - cut_at) as u64, false));
    assert_eq!(all(&parts, "v1").await, whole);
    assert_eq!(parts.discard("v1").await.unwrap(), 3, "8 MiB + the cut remainder + the resumed rest");
    assert_eq!(parts.offset("v1").await.unwrap(), (0, 0));
}

#[tokio::test]
async fn bodies_stop_at_the_limit_and_wrong_checksums_leave_nothing() {
    let parts = UploadParts::new(Arc::new(MemoryStorage::new()));
    let body = data(1000, 1);
    let over = parts.append("v2", chunks(&body, 300), 700, None).await.unwrap();
    assert_eq!((over.bytes, over.overflowed), (700, true));
    assert_eq!(all(&parts, "v2").await, body[..700]);

    let more = data(5000, 2);
    let wrong = parts.append("v2", chunks(&more, 1000), u64::MAX, Some([0u8; 20])).await;
    assert!(matches!(wrong, Err(AppendError::ChecksumMismatch)), "{wrong:?}");
    assert_eq!(parts.offset("v2").await.unwrap().0, 700, "the mismatching request's bytes are gone");
    assert!(matches!(parts.offset("../x").await, Err(AppendError::InvalidId(_))));
}
