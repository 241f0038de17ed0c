//! The canonical media vocabulary shared by every protocol adapter and every pipeline.
//!
//! `ingest` turns RTMP/SRT/WHIP into [`Frame`]s and [`TrackConfig`]s; `transcode` turns them into
//! CMAF. Neither knows the other: this crate is the narrow waist between them (N adapters, not
//! N x M remuxers). It also holds the [`hub`], the bounded fan-out between one publisher and its
//! consumers, because that is where the "publisher never waits" invariant lives.
//!
//! Besides media: [`clock`] (Unix-time readings) and [`display_name`] (the one rule for names
//! people show each other), because several crates need them and none may depend on another
//! for them.
//!
//! No I/O, no GStreamer, no wire protocols here.

pub mod clock;
pub mod display_name;
pub mod frame;
pub mod h264;
pub mod hub;
pub mod time;
pub mod tracks;

pub use frame::{Codec, Frame, MediaKind};
pub use hub::{HubEvent, HubStats, Publisher, Subscriber, hub};
pub use time::Timestamp;
pub use tracks::{AudioConfig, TrackConfig, VideoConfig};
