//! The `oxcast` binary's library half: configuration, the live registry, and `serve`, which wires
//! ingest → transcode → ll-hls and the HTTP API together. `main.rs` is only the CLI.

pub mod admin_token;
pub mod banner;
pub mod config;
pub mod health;
pub mod http_server;
pub mod live;
pub mod migrate;
pub mod node;
pub mod serve;
pub mod tls;
pub mod worker;
