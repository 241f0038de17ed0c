//! Where a video's objects live in storage, and the names players ask for.
//!
//! Everything a video has is under `videos/ID/`, the same relative paths as its playback URLs
//! under `/vod/ID/` (so serving is a prefix swap, and deleting a video is one prefix delete):
//! `index.m3u8` (multivariant), `RENDITION/index.m3u8`, `RENDITION/init.mp4`,
//! `RENDITION/seg-00001.m4s`..., `poster.jpg`, `storyboard.jpg`, `storyboard.vtt` (a recording
//! also `RENDITION/init-2.mp4`... after reconnects).

use crate::storage::{ObjectKey, StorageError};

pub const MULTIVARIANT: &str = "index.m3u8";
pub const MEDIA_PLAYLIST: &str = "index.m3u8";
pub const INIT_SEGMENT: &str = "init.mp4";
pub const POSTER: &str = "poster.jpg";
pub const STORYBOARD_IMAGE: &str = "storyboard.jpg";
pub const STORYBOARD_TRACK: &str = "storyboard.vtt";

/// The prefix of every object of video `id`.
pub fn video_prefix(id: &str) -> String {
    format!("videos/{id}/")
}

/// The object behind `/vod/ID/PATH`.
pub fn object(id: &str, path: &str) -> Result<ObjectKey, StorageError> {
    ObjectKey::new(format!("videos/{id}/{path}"))
}

/// The `n`th init segment of a rendition (from 1): `init.mp4`, then `init-2.mp4`, ... (a
/// recording gets one per publish session).
pub fn init_name(n: usize) -> String {
    if n <= 1 { INIT_SEGMENT.to_owned() } else { format!("init-{n}.mp4") }
}

/// A segment's name, numbered from 1.
pub fn segment_name(n: usize) -> String {
    format!("seg-{n:05}.m4s")
}

/// The rendition-relative path of a rendition's file.
pub fn in_rendition(rendition: &str, file: &str) -> String {
    format!("{rendition}/{file}")
}
