//! Protocol servers that accept publishers and turn what they send into canonical media.
//!
//! Each protocol has exactly one adapter to [`oxcast_media::Frame`] and nothing else: this crate
//! knows wire formats (RTMP chunks, FLV tags) but no GStreamer and no HTTP JSON. Who may publish,
//! and where the frames go, is decided behind the [`PublishAuthority`] trait, which the binary
//! implements against its stream registry and tests implement with a fake.

pub mod authority;
pub mod rtmp;
mod timestamps;

pub use authority::{Protocol, PublishAuthority, PublishGrant, PublishRejected, PublishRequest};
