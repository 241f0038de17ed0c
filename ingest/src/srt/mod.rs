//! SRT ingest (OBS: `srt://HOST:PORT?streamid=#!::r=STREAM_KEY,m=publish`), on srt-tokio.
//!
//! `server` binds the UDP listener and vets each connection request (streamid, key, the
//! stream's passphrase) before the SRT handshake completes; `gate` relays the port's datagrams
//! to srt-tokio on loopback and tells the server what the library's requests leave out (so that
//! no caller can crash the listener every session shares); `session` then pumps the MPEG-TS
//! payload through [`crate::mpegts::TsDemuxer`] into the stream's hub.

mod gate;
mod server;
mod session;
pub mod stream_id;

pub use server::{SrtConfig, SrtServer};
pub use stream_id::publish_url;
