//! The SRT listener: admission of connection requests, and supervision of srt-tokio's listener,
//! which listens on loopback behind the [`SrtGate`] (see there for why).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use srt_protocol::options::{KeySize, Passphrase};
use srt_protocol::packet::{CoreRejectReason, RejectReason, ServerRejectReason};
use srt_protocol::settings::KeySettings;
use srt_tokio::{ConnectionRequest, SrtIncoming, SrtListener};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::gate::{Caller, SrtGate};
use super::session;
use super::stream_id;
use crate::{Protocol, PublishAuthority, PublishRejected, PublishRequest};

#[derive(Debug, Clone)]
pub struct SrtConfig {
    /// Receive latency this side asks for; the connection uses the larger of both sides'.
    pub latency: Duration,
    /// Publishers beyond this are rejected (`Overload`).
    pub max_connections: usize,
    /// Time from the connection request to an established SRT session.
    pub handshake_timeout: Duration,
    /// A publisher that sends nothing for this long is disconnected.
    pub idle_timeout: Duration,
}

impl Default for SrtConfig {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(120),
            max_connections: 256,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
        }
    }
}

/// A bound SRT listener, not yet serving.
#[derive(Debug)]
pub struct SrtServer {
    addr: SocketAddr,
    config: SrtConfig,
    gate: Arc<SrtGate>,
    listener: SrtListener,
    incoming: SrtIncoming,
}

impl SrtServer {
    /// Binds the UDP port (the gate's) and srt-tokio's listener on loopback behind it.
    pub async fn bind(addr: SocketAddr, config: SrtConfig) -> std::io::Result<Self> {
        let public = tokio::net::UdpSocket::bind(addr).await?;
        let addr = public.local_addr()?;
        let (listener, incoming, inner) = bind_inner(addr, &config).await?;
        // Callers being admitted or publishing, plus room for as many again mid-handshake.
        let gate = SrtGate::new(public, inner, config.max_connections.saturating_mul(2).max(16));
        Ok(Self { addr, config, gate, listener, incoming })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown`. Session tasks are spawned on `tracker`.
    ///
    /// srt-tokio's listener task can die on some malformed handshakes (the protocol crate
    /// panics on combinations it does not implement). When its request stream ends before
    /// shutdown, the listener is bound again, so one hostile packet costs seconds, not the port.
    pub async fn run(
        mut self,
        authority: Arc<dyn PublishAuthority>,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) {
        let slots = Arc::new(Semaphore::new(self.config.max_connections));
        tracker.spawn(self.gate.clone().run(shutdown.clone(), tracker.clone()));
        loop {
            let request = tokio::select! {
                () = shutdown.cancelled() => break,
                request = self.incoming.incoming().next() => request,
            };
            let Some(request) = request else {
                tracing::error!(addr = %self.addr, "SRT listener stopped unexpectedly; binding it again");
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if shutdown.is_cancelled() {
                        return;
                    }
                    match bind_inner(self.addr, &self.config).await {
                        Ok((listener, incoming, inner)) => {
                            self.listener = listener;
                            self.incoming = incoming;
                            self.gate.retarget(inner);
                            break;
                        }
                        Err(err) => tracing::warn!(addr = %self.addr, %err, "SRT rebind failed; retrying"),
                    }
                }
                continue;
            };
            let Some(caller) = self.gate.caller(request.remote()) else {
                // Not through the gate (the library's socket is on loopback): nothing to serve.
                let _ = request.reject(RejectReason::Server(ServerRejectReason::BadRequest)).await;
                continue;
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                tracing::warn!(remote = %caller.remote, "srt connection refused: too many connections");
                let _ = request.reject(RejectReason::Server(ServerRejectReason::Overload)).await;
                continue;
            };
            let authority = authority.clone();
            let config = self.config.clone();
            let shutdown = shutdown.clone();
            tracker.spawn(async move {
                admit_and_serve(request, &caller, authority, config, shutdown).await;
                drop(permit);
            });
        }
        self.listener.close().await;
    }
}

/// srt-tokio's listener on a loopback socket of `public`'s family; returns its address too.
async fn bind_inner(public: SocketAddr, config: &SrtConfig) -> std::io::Result<(SrtListener, SrtIncoming, SocketAddr)> {
    let socket = tokio::net::UdpSocket::bind(SrtGate::loopback_for(public)).await?;
    let inner = socket.local_addr()?;
    let (listener, incoming) = SrtListener::builder().latency(config.latency).socket(socket).bind(inner).await?;
    Ok((listener, incoming, inner))
}

/// Decides on one connection request, completes the handshake, and runs the session.
async fn admit_and_serve(
    request: ConnectionRequest,
    caller: &Caller,
    authority: Arc<dyn PublishAuthority>,
    config: SrtConfig,
    shutdown: CancellationToken,
) {
    let remote = caller.remote;
    let stream_id = request.stream_id().map(|id| id.to_string());
    let key = match stream_id::publish_key(stream_id.as_deref()) {
        Ok(key) => key,
        Err(err) => {
            tracing::warn!(%remote, %err, "srt connection rejected");
            let reason = match err {
                stream_id::StreamIdError::NotPublish(_) | stream_id::StreamIdError::NotStream(_) => {
                    ServerRejectReason::BadMode
                }
                _ => ServerRejectReason::BadRequest,
            };
            let _ = request.reject(RejectReason::Server(reason)).await;
            return;
        }
    };
    let publish = PublishRequest { protocol: Protocol::Srt, stream_key: key, remote, stream: None };
    let admission = match authority.admit(&publish).await {
        Ok(admission) => admission,
        Err(rejected) => {
            tracing::warn!(%remote, %rejected, "srt publish rejected");
            let reason = match rejected {
                PublishRejected::InvalidKey => ServerRejectReason::Unauthorized,
                PublishRejected::Disabled => ServerRejectReason::Forbidden,
                PublishRejected::Unavailable(_) => ServerRejectReason::Down,
            };
            let _ = request.reject(RejectReason::Server(reason)).await;
            return;
        }
    };
    let stream = admission.stream_name.clone();
    // Encryption must match the stream's setting. Callers (libsrt, so OBS and ffmpeg) usually
    // leave the key size unannounced; accepting with the same "unspecified" size makes the
    // protocol crate take the 128-bit default libsrt uses. A wrong passphrase fails the handshake.
    // Whether an unannounced caller sent key material only the gate knows (the library would
    // panic on accepting it without keys).
    let key_settings = match (admission.srt_passphrase, request.key_size()) {
        (None, KeySize::Unspecified) if !caller.sent_key_material() => None,
        (None, _) => {
            tracing::warn!(%remote, %stream, "srt publisher sent a passphrase, but the stream has none set; rejected");
            let _ = request.reject(RejectReason::Core(CoreRejectReason::BadSecret)).await;
            return;
        }
        (Some(passphrase), key_size) => match Passphrase::try_from(passphrase) {
            Ok(passphrase) => Some(KeySettings { key_size, passphrase }),
            Err(err) => {
                tracing::error!(%stream, %err, "stream's SRT passphrase is unusable; rejecting its publishers");
                let _ = request.reject(RejectReason::Server(ServerRejectReason::Down)).await;
                return;
            }
        },
    };
    let socket = match tokio::time::timeout(config.handshake_timeout, request.accept(key_settings)).await {
        Ok(Ok(socket)) => socket,
        Ok(Err(err)) => {
            tracing::warn!(%remote, %stream, %err, "srt handshake failed: wrong or missing passphrase");
            return;
        }
        Err(_) => {
            tracing::warn!(%remote, %stream, "srt handshake timed out");
            return;
        }
    };
    let grant = match authority.publish(publish).await {
        Ok(grant) => grant,
        Err(rejected) => {
            tracing::warn!(%remote, %stream, %rejected, "srt publish rejected");
            return;
        }
    };
    tracing::info!(%remote, stream = %grant.stream_name, "srt publish accepted");
    match session::pump(socket, &grant, config.idle_timeout, &shutdown).await {
        Ok(()) => tracing::info!(%remote, stream = %grant.stream_name, "srt publisher left"),
        Err(err) => tracing::warn!(%remote, stream = %grant.stream_name, %err, "srt session closed"),
    }
}
