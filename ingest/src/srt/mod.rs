//! SRT ingest (OBS: `srt://HOST:PORT?streamid=#!::r=STREAM_KEY,m=publish`), on srt-tokio.
//!
//! `server` binds the UDP listener and vets each connection request (streamid, key, the
//! stream's passphrase) before the SRT handshake completes; `session` then pumps the MPEG-TS
//! payload through [`crate::mpegts::TsDemuxer`] into the stream's hub.

mod server;
mod session;
pub mod stream_id;

pub use server::{SrtConfig, SrtServer};
pub use stream_id::publish_url;
