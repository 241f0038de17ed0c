//! The HTTP listener: the accept loop around the one axum app, with the protections a public
//! server needs and `axum::serve` does not offer.
//!
//! - **Header-read and idle timeout**: a connection must deliver a request's headers within
//!   `header_timeout` of the server starting to wait for them, which covers a slow client
//!   dribbling headers and an idle keep-alive connection alike (hyper starts the timer whenever
//!   it waits for the next request). Bodies, long-polls, server-sent events and websockets are
//!   not cut (they are past the headers).
//! - **Per-address connection cap** (an IPv6 /64 counts as one address); trusted proxies, which
//!   carry many clients, are exempt. Refusals are logged at most once per 10 s, with a count.
//! - **HTTP/1.1 and HTTP/2**: hyper-util's auto builder answers HTTP/2 with prior knowledge (h2c,
//!   what a proxy in front uses) beside HTTP/1.1 on the same port, upgrades (websockets) included.
//!
//! Every connection runs on the server's tracker and is closed gracefully at shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use oxcast_api::IpNet;
use oxcast_limits::{PerAddressCap, ThrottledLog};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How the listener treats connections.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Time to deliver a request's headers (and the longest a keep-alive connection may idle).
    pub header_timeout: Duration,
    /// Connections one address may hold (trusted proxies are exempt).
    pub max_connections_per_address: usize,
    pub trusted_proxies: Arc<[IpNet]>,
}

/// Serves `app` on `listener` until `shutdown`, each connection a task on `tracker`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: HttpSettings,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let per_address = PerAddressCap::new(settings.max_connections_per_address);
    let refused = ThrottledLog::new(Duration::from_secs(10));
    loop {
        let (socket, remote) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let exempt = settings.trusted_proxies.iter().any(|net| net.contains(remote.ip()));
        let slot = if exempt { None } else { per_address.try_acquire(remote.ip()) };
        if !exempt && slot.is_none() {
            if let Some(held) = refused.allow() {
                tracing::warn!(%remote, max = settings.max_connections_per_address, refused_since_last_line = held,
                    "http connection refused: too many connections from this address");
            }
            drop(socket);
            continue;
        }
        let _ = socket.set_nodelay(true);
        let app = app.clone();
        let header_timeout = settings.header_timeout;
        let stop = shutdown.clone();
        tracker.spawn(async move {
            serve_connection(socket, remote, app, header_timeout, stop).await;
            drop(slot);
        });
    }
}

async fn serve_connection(
    socket: tokio::net::TcpStream,
    remote: SocketAddr,
    app: Router,
    header_timeout: Duration,
    shutdown: CancellationToken,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        app.clone().oneshot(request.map(axum::body::Body::new))
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(socket), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%remote, error = %e, "http connection ended");
    }
}
