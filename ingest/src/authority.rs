//! The narrow interface between a protocol server and whoever owns the streams.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use oxcast_media::Publisher;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Rtmp,
    Srt,
    Whip,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Rtmp => "rtmp",
            Protocol::Srt => "srt",
            Protocol::Whip => "whip",
        })
    }
}

/// What a publisher presented when it asked to publish.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    pub protocol: Protocol,
    /// The secret the publisher sent (RTMP stream key, SRT `r=`, WHIP bearer token).
    pub stream_key: String,
    pub remote: SocketAddr,
}

/// Permission to publish, and the place to put the media.
#[derive(Debug)]
pub struct PublishGrant {
    pub stream_name: String,
    pub publisher: Publisher,
    /// Cancelled when this session must end: another publisher took the stream over, the stream
    /// was deleted, or the server is shutting down. The adapter closes its connection then.
    pub ended: CancellationToken,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishRejected {
    #[error("unknown or invalid stream key")]
    InvalidKey,
    #[error("stream is disabled")]
    Disabled,
    #[error("publishing is temporarily unavailable: {0}")]
    Unavailable(String),
}

/// Decides who may publish. Implemented by the binary's stream registry and by test fakes.
pub trait PublishAuthority: Send + Sync + 'static {
    fn publish<'a>(
        &'a self,
        request: PublishRequest,
    ) -> Pin<Box<dyn Future<Output = Result<PublishGrant, PublishRejected>> + Send + 'a>>;
}
