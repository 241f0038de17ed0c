//! RTMP ingest (OBS: `rtmp://HOST:1935/live` + stream key), on rml_rtmp's sans-I/O session.
//!
//! `server` accepts sockets, `connection` drives one rml_rtmp session over one socket, `flv`
//! parses the FLV audio/video tag bodies RTMP carries into canonical frames.

mod connection;
pub mod flv;
mod server;

pub use connection::RtmpError;

/// The RTMP application publishers connect to; the stream key is the stream name within it.
pub const APP: &str = "live";

/// What OBS's Server field takes for RTMP, e.g. `rtmp://example.org:1935/live`.
pub fn server_url(host: &str, port: u16) -> String {
    format!("rtmp://{host}:{port}/{APP}")
}
pub use server::{DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, RtmpConfig, run};
