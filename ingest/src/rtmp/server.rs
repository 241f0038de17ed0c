//! Accept loop for RTMP publishers: a cap on connections in all and per client address (so one
//! address cannot take every slot), refusals logged at most once per 10 s with a count.

use std::sync::Arc;
use std::time::Duration;

use oxcast_limits::{PerAddressCap, ThrottledLog};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection::Connection;
use crate::PublishAuthority;

pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// One address (an IPv6 /64) may hold this many: enough for a studio running several encoders,
/// not enough to take every slot.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 16;
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct RtmpConfig {
    /// Connections beyond this are closed right after accept.
    pub max_connections: usize,
    /// Connections from one address beyond this are closed right after accept.
    pub max_connections_per_address: usize,
    /// Time a client gets to finish the RTMP handshake.
    pub handshake_timeout: Duration,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for RtmpConfig {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// Serves RTMP on `listener` until `shutdown` is cancelled. Connection tasks are spawned on
/// `tracker`, so the caller can wait for them to finish.
pub async fn run(
    listener: TcpListener,
    authority: Arc<dyn PublishAuthority>,
    config: RtmpConfig,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let per_address = PerAddressCap::new(config.max_connections_per_address);
    // Refusals come in floods (a client retrying in a loop): one line per 10 s, with a count.
    let refused_full = ThrottledLog::new(Duration::from_secs(10));
    let refused_address = ThrottledLog::new(Duration::from_secs(10));
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (socket, remote) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(%err, "rtmp accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(address_slot) = per_address.try_acquire(remote.ip()) else {
            if let Some(held) = refused_address.allow() {
                tracing::warn!(%remote, max = config.max_connections_per_address, refused_since_last_line = held,
                    "rtmp connection refused: too many connections from this address");
            }
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if let Some(held) = refused_full.allow() {
                tracing::warn!(%remote, refused_since_last_line = held, "rtmp connection refused: too many connections");
            }
            continue;
        };
        let _ = socket.set_nodelay(true);
        let connection = Connection::new(socket, remote, authority.clone(), config.clone(), shutdown.clone());
        tracker.spawn(async move {
            match connection.serve().await {
                Ok(()) => tracing::debug!(%remote, "rtmp connection closed"),
                Err(err) => tracing::info!(%remote, %err, "rtmp connection closed"),
            }
            drop(permit);
            drop(address_slot);
        });
    }
}
