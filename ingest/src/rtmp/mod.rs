//! RTMP ingest (OBS: `rtmp://HOST:1935/live` + stream key), on rml_rtmp's sans-I/O session.
//!
//! `server` accepts sockets, `connection` drives one rml_rtmp session over one socket, `flv`
//! parses the FLV audio/video tag bodies RTMP carries into canonical frames.

mod connection;
pub mod flv;
mod server;

pub use connection::RtmpError;
pub use server::{RtmpConfig, run};
