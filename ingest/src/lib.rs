//! Protocol servers that accept publishers and turn what they send into canonical media.
//!
//! Each protocol has exactly one adapter to [`oxcast_media::Frame`] and nothing else: this crate
//! knows wire formats (RTMP chunks, FLV tags) but no GStreamer and no HTTP JSON. Who may publish,
//! and where the frames go, is decided behind the [`PublishAuthority`] trait, which the binary
//! implements against its stream registry and tests implement with a fake.

mod adts;
mod annexb;
pub mod authority;
mod mpegts;
pub mod rtmp;
pub mod srt;
mod timestamps;
pub mod whip;

pub use authority::{Admission, Protocol, PublishAuthority, PublishGrant, PublishRejected, PublishRequest};
pub use mpegts::{TsDemuxer, TsError, TsStats};
