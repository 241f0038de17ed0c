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
//! - **TLS** (the HTTPS listener): the handshake runs in the connection's task under the same
//!   header timeout, ALPN picks HTTP/2 for browsers (one multiplexed connection per viewer: the
//!   blocking playlist request and the hinted part travel side by side, which is what LL-HLS
//!   players, Safari's first, are built for); requests on it carry [`oxcast_api::client::OverTls`]
//!   so the URLs the API writes into responses say `https`.
//!
//! Every connection runs on the server's tracker and is closed gracefully at shutdown; the
//! counts are on `/metrics` ([`ListenerCounters`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use oxcast_api::IpNet;
use oxcast_api::client::OverTls;
use oxcast_api::listener_metrics::ListenerCounters;
use oxcast_limits::{PerAddressCap, ThrottledLog};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
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

/// One listening socket: plain HTTP, or HTTPS with its acceptor; and the counters it keeps.
pub struct HttpListener {
    pub socket: TcpListener,
    pub tls: Option<TlsAcceptor>,
    pub counters: Arc<ListenerCounters>,
}

/// Serves `app` on `listener` until `shutdown`, each connection a task on `tracker`.
pub async fn serve(
    listener: HttpListener,
    app: Router,
    settings: HttpSettings,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let HttpListener { socket: listener, tls, counters } = listener;
    let scheme = if tls.is_some() { "https" } else { "http" };
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
            counters.refused_per_address();
            if let Some(held) = refused.allow() {
                tracing::warn!(%remote, scheme, max = settings.max_connections_per_address,
                    refused_since_last_line = held, "http connection refused: too many connections from this address");
            }
            drop(socket);
            continue;
        }
        let _ = socket.set_nodelay(true);
        counters.opened();
        let connection = Connection { remote, app: app.clone(), counters: counters.clone(), over_tls: tls.is_some() };
        let header_timeout = settings.header_timeout;
        let stop = shutdown.clone();
        let tls = tls.clone();
        tracker.spawn(async move {
            match tls {
                None => connection.serve(socket, header_timeout, stop).await,
                Some(acceptor) => connection.serve_tls(socket, acceptor, header_timeout, stop).await,
            }
            drop(slot);
        });
    }
}

/// What a connection's task needs besides its socket.
struct Connection {
    remote: SocketAddr,
    app: Router,
    counters: Arc<ListenerCounters>,
    over_tls: bool,
}

impl Connection {
    /// Completes the TLS handshake (within `header_timeout`: a client that opens a connection
    /// and says nothing is dropped as a dribbling one is), then serves HTTP over it.
    async fn serve_tls(
        self,
        socket: TcpStream,
        acceptor: TlsAcceptor,
        header_timeout: Duration,
        shutdown: CancellationToken,
    ) {
        let handshake = tokio::select! {
            result = tokio::time::timeout(header_timeout, acceptor.accept(socket)) => result,
            () = shutdown.cancelled() => {
                self.counters.closed();
                return;
            }
        };
        match handshake {
            Ok(Ok(stream)) => {
                let alpn = stream.get_ref().1.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned());
                tracing::debug!(remote = %self.remote, ?alpn, "tls connection established");
                self.serve(stream, header_timeout, shutdown).await
            }
            Ok(Err(e)) => {
                self.counters.tls_handshake_failed();
                self.counters.closed();
                tracing::debug!(remote = %self.remote, error = %e, "tls handshake failed");
            }
            Err(_) => {
                self.counters.tls_handshake_failed();
                self.counters.closed();
                tracing::debug!(remote = %self.remote, "tls handshake timed out");
            }
        }
    }

    async fn serve<S>(self, stream: S, header_timeout: Duration, shutdown: CancellationToken)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let counters = self.counters.clone();
        serve_http(stream, self, header_timeout, shutdown).await;
        counters.closed();
    }
}

/// HTTP/1.1 or HTTP/2 (whichever the client speaks) over `stream` until it ends or `shutdown`.
async fn serve_http<S>(stream: S, connection: Connection, header_timeout: Duration, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Connection { remote, app, counters, over_tls } = connection;
    let requests = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = requests.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        counters.request(request.version());
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        request.extensions_mut().insert(ConnectInfo(remote));
        if over_tls {
            request.extensions_mut().insert(OverTls);
        }
        app.clone().oneshot(request.map(axum::body::Body::new))
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        // Websockets over HTTP/2 (RFC 8441), so the chat shares the viewer's one connection.
        .enable_connect_protocol()
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    let requests = requests.load(std::sync::atomic::Ordering::Relaxed);
    match result {
        Ok(()) => tracing::debug!(%remote, requests, "http connection ended"),
        Err(e) => tracing::debug!(%remote, requests, error = %e, "http connection ended"),
    }
}
