//! Counts of the HTTP listeners' connections and requests, kept by the accept loop (in the
//! binary, which owns the sockets) and rendered on `/metrics` here.
//!
//! They answer the questions an operator of an LL-HLS origin asks: are viewers on HTTP/2 (one
//! multiplexed connection each) or HTTP/1.1 (several each), how many connections are open, and
//! how many were turned away (per-address cap, failed TLS handshakes).

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::http::Version;

/// Both listeners' counters.
#[derive(Debug, Default)]
pub struct ListenerMetrics {
    pub http: Arc<ListenerCounters>,
    pub https: Arc<ListenerCounters>,
}

/// One listener's counters.
#[derive(Debug, Default)]
pub struct ListenerCounters {
    accepted: AtomicU64,
    open: AtomicI64,
    refused_per_address: AtomicU64,
    tls_handshake_failed: AtomicU64,
    http1_requests: AtomicU64,
    http2_requests: AtomicU64,
}

impl ListenerCounters {
    /// A connection was accepted; call [`Self::closed`] when it ends.
    pub fn opened(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    pub fn closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn refused_per_address(&self) {
        self.refused_per_address.fetch_add(1, Ordering::Relaxed);
    }

    pub fn tls_handshake_failed(&self) {
        self.tls_handshake_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// A request arrived over `version`.
    pub fn request(&self, version: Version) {
        let counter = if version == Version::HTTP_2 { &self.http2_requests } else { &self.http1_requests };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl ListenerMetrics {
    /// Appends the Prometheus text of every counter.
    pub fn render(&self, out: &mut String) {
        let both = [("http", &self.http), ("https", &self.https)];
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP oxcast_http_connections_accepted_total Connections accepted.");
        let _ = writeln!(out, "# TYPE oxcast_http_connections_accepted_total counter");
        for (listener, c) in both {
            let _ = writeln!(
                out,
                "oxcast_http_connections_accepted_total{{listener=\"{listener}\"}} {}",
                load(&c.accepted)
            );
        }
        let _ = writeln!(out, "# HELP oxcast_http_connections_open Connections open now.");
        let _ = writeln!(out, "# TYPE oxcast_http_connections_open gauge");
        for (listener, c) in both {
            let open = c.open.load(Ordering::Relaxed).max(0);
            let _ = writeln!(out, "oxcast_http_connections_open{{listener=\"{listener}\"}} {open}");
        }
        let _ = writeln!(
            out,
            "# HELP oxcast_http_connections_refused_total Connections closed before any request.\n\
             # TYPE oxcast_http_connections_refused_total counter"
        );
        for (listener, c) in both {
            for (reason, n) in [("per_address_cap", &c.refused_per_address), ("tls_handshake", &c.tls_handshake_failed)]
            {
                let _ = writeln!(
                    out,
                    "oxcast_http_connections_refused_total{{listener=\"{listener}\",reason=\"{reason}\"}} {}",
                    load(n)
                );
            }
        }
        let _ = writeln!(out, "# HELP oxcast_http_requests_total Requests by HTTP version.");
        let _ = writeln!(out, "# TYPE oxcast_http_requests_total counter");
        for (listener, c) in both {
            for (version, n) in [("1.1", &c.http1_requests), ("2", &c.http2_requests)] {
                let _ = writeln!(
                    out,
                    "oxcast_http_requests_total{{listener=\"{listener}\",version=\"{version}\"}} {}",
                    load(n)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_per_listener_and_version() {
        let m = ListenerMetrics::default();
        m.https.opened();
        m.https.opened();
        m.https.closed();
        m.https.request(Version::HTTP_2);
        m.https.tls_handshake_failed();
        m.http.request(Version::HTTP_11);
        m.http.refused_per_address();
        let mut out = String::new();
        m.render(&mut out);
        for line in [
            "oxcast_http_connections_accepted_total{listener=\"https\"} 2",
            "oxcast_http_connections_open{listener=\"https\"} 1",
            "oxcast_http_connections_refused_total{listener=\"https\",reason=\"tls_handshake\"} 1",
            "oxcast_http_connections_refused_total{listener=\"http\",reason=\"per_address_cap\"} 1",
            "oxcast_http_requests_total{listener=\"https\",version=\"2\"} 1",
            "oxcast_http_requests_total{listener=\"http\",version=\"1.1\"} 1",
            "oxcast_http_requests_total{listener=\"http\",version=\"2\"} 0",
        ] {
            assert!(out.contains(line), "{line} missing from\n{out}");
        }
    }
}
