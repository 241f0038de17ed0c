//! Low-Latency HLS packager and origin.
//!
//! A [`StreamPackager`] per stream keeps a sliding window of segments made of CMAF parts, per
//! rendition, and renders RFC 8216bis playlists from it ([`playlist`]). The HTTP side
//! ([`routes`]) answers blocking playlist reloads (`_HLS_msn`/`_HLS_part`), delta updates
//! (`_HLS_skip`) and blocking part requests (preload hints) by waiting on the packager's change
//! signal. The playlist logic is pure and tested without network or GStreamer.
//!
//! This crate does not know where parts come from (GStreamer lives in `transcode`) nor who may
//! watch (the binary decides which streams the [`PackagerDirectory`] exposes; a layer in front
//! decides access and may hand the routes a [`PlaybackGrant`] whose token the playlists' URIs carry).

pub mod config;
pub mod grant;
pub mod playlist;
pub mod request;
pub mod routes;
pub mod state;
pub mod stream;

pub use config::PackagerConfig;
pub use grant::PlaybackGrant;
pub use routes::{PackagerDirectory, PlaybackClient, RELAY_HEADER, VIEWER_HEADER, router};
pub use state::{PartIn, RenditionMeta, TrackKind};
pub use stream::StreamPackager;
