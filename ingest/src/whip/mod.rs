//! WHIP ingest (RFC 9725; OBS 30+ and browsers): `POST /whip/NAME` with the stream key as the
//! bearer token and an SDP offer.
//!
//! `paths` says where WHIP lives on the HTTP server, `routes` is the HTTP face, `service` admission and the session table, `offer` a first look at
//! the SDP (H.264 video and Opus audio, or a clear 400), `peer` all of webrtc-rs (codecs, host
//! candidates, answer, PLI), `session` the publisher's lifetime (the stream is taken only once ICE
//! and DTLS are up), `rtp` reordering, `h264_rtp` RFC 6184 depacketization. Opus is passed on as
//! is; the transcode pipeline turns it into AAC.

mod h264_rtp;
pub mod offer;
pub mod paths;
mod peer;
mod routes;
mod rtp;
mod service;
mod session;

pub use paths::endpoint_path;
pub use service::{WhipAnswer, WhipConfig, WhipError, WhipService};
