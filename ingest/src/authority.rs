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
    /// The stream the publisher named itself (WHIP's `/whip/NAME`); the key must be that
    /// stream's. `None` when the key alone picks the stream (RTMP, SRT).
    pub stream: Option<String>,
}

/// What is known about a stream before its publisher is let in: enough for a protocol to finish
/// its handshake, without taking anything over yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub stream_name: String,
    /// SRT passphrase the stream requires (`None`: unencrypted).
    pub srt_passphrase: Option<String>,
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
///
/// Protocols with a costly or multi-step handshake (SRT, WHIP) call [`admit`](Self::admit)
/// first, finish the handshake, and only then [`publish`](Self::publish): a publisher that fails
/// the handshake never takes a live stream over.
pub trait PublishAuthority: Send + Sync + 'static {
    /// Checks the key (and the named stream, if any) without starting anything.
    fn admit<'a>(
        &'a self,
        request: &'a PublishRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Admission, PublishRejected>> + Send + 'a>>;

    /// Starts a publish session: the stream's current publisher, if any, is ended.
    fn publish<'a>(
        &'a self,
        request: PublishRequest,
    ) -> Pin<Box<dyn Future<Output = Result<PublishGrant, PublishRejected>> + Send + 'a>>;
}
