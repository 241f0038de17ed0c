//! Playing on this node a live stream published to another: this node relays the origin
//! node's LL-HLS, with one upstream request per distinct URL however many of its own viewers
//! ask for it.
//!
//! Why a relay rather than a redirect to the origin node: behind a load balancer or a CDN the
//! nodes' own addresses are not the public one (a redirect would send players around the
//! cache, or nowhere), and a relay keeps viewers, their access checks and their presence on the
//! node they reached. LL-HLS suits it: every object has one URL for everyone (blocking playlist
//! requests carry `_HLS_msn`/`_HLS_part`, parts have unique names), so requests collapse.
//!
//! How: the stream's publisher lease (`publisher_lease`) names the node it is live on and that
//! node's URL (looked up at most once a second per stream). A request becomes a "flight" keyed
//! by the origin URL: the first request fetches it (over one HTTP/2 connection per origin,
//! with the cluster's relay token so the origin skips its access checks and does not count a
//! viewer), every request for the same URL meanwhile waits for that answer, and a successful
//! answer is reused for as long as the origin's `Cache-Control: max-age` says (at most
//! [`MAX_REUSE`]): a blocked playlist or a part is fetched once. Access is decided here before
//! the relay runs (the `/live` access layer), and the viewer's grant (token query on every URI,
//! capped `max-age`) is applied to what is relayed, as the local origin applies it.
//!
//! The stream's live state (`GET /api/streams/NAME`, which the player page polls) comes from the
//! same node, so a page opened on any node knows the stream is live.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use oxcast_api::LiveStatus;
use oxcast_ll_hls::{PlaybackGrant, RELAY_HEADER};
use oxcast_store::Store;
use tokio::sync::OnceCell;

use super::publisher_lease::lease_name;

/// Longest a relayed answer is reused (parts are immutable, but the window moves on).
pub const MAX_REUSE: Duration = Duration::from_secs(30);
/// How long the node a stream is live on is remembered.
const ORIGIN_TTL: Duration = Duration::from_secs(1);
/// Longer than the longest blocking request an origin holds (three target durations of 20 s).
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(65);
/// How long a relayed stream's live state is remembered.
const STATUS_TTL: Duration = Duration::from_secs(1);
/// How long the stream's node may take to tell its live state.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// Flights kept before finished ones are swept.
const SWEEP_AT: usize = 4096;

/// What the relay did, for `/metrics`.
#[derive(Debug, Default)]
pub struct RelayCounters {
    /// Requests sent to origin nodes.
    pub upstream_requests: AtomicU64,
    /// Of those, the ones that failed (unreachable, timed out).
    pub upstream_errors: AtomicU64,
    /// Answers given to this node's viewers.
    pub responses: AtomicU64,
}

/// The relay of this node (see the module doc).
pub struct LiveRelay {
    store: Store,
    node_id: String,
    token: HeaderValue,
    client: reqwest::Client,
    origins: Mutex<HashMap<String, (Instant, Option<String>)>>,
    flights: Mutex<HashMap<String, Arc<Flight>>>,
    statuses: Mutex<HashMap<String, (Instant, LiveStatus)>>,
    pub counters: RelayCounters,
}

/// One upstream request and everyone waiting for it.
struct Flight {
    answer: OnceCell<Upstream>,
}

#[derive(Clone)]
struct Upstream {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    cache_control: Option<String>,
    body: Bytes,
    arrived: Instant,
    reuse_for: Duration,
}

impl Flight {
    /// Still worth joining: in the air, or landed and fresh.
    fn usable(&self) -> bool {
        self.answer.get().is_none_or(|a| a.arrived.elapsed() < a.reuse_for)
    }
}

impl LiveRelay {
    /// A relay for node `node_id`, sending `relay_token` to the origin nodes.
    pub fn new(store: Store, node_id: &str, relay_token: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .http2_prior_knowledge()
            .connect_timeout(Duration::from_secs(2))
            .timeout(UPSTREAM_TIMEOUT)
            .build()?;
        Ok(Self {
            store,
            node_id: node_id.to_owned(),
            token: HeaderValue::from_str(relay_token)?,
            client,
            origins: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
            statuses: Mutex::new(HashMap::new()),
            counters: RelayCounters::default(),
        })
    }

    /// The answer for `path_and_query` of `stream` from the node it is live on, or `None` when
    /// it is live on no other node.
    pub async fn relay(&self, stream: &str, path_and_query: &str, grant: &PlaybackGrant) -> Option<Response> {
        let origin = self.origin_of(stream).await?;
        let url = format!("{origin}{}", upstream_path(path_and_query));
        let flight = self.flight(&url);
        let answer = flight.answer.get_or_init(|| self.fetch(stream, &url)).await.clone();
        self.counters.responses.fetch_add(1, Ordering::Relaxed);
        Some(answer.into_response(grant))
    }

    /// The live state of `stream` as the node it is live on reports it (`GET /api/streams/NAME`
    /// there, remembered for [`STATUS_TTL`]), or `None` when it is live on no other node. When
    /// that node does not tell (it is unreachable, or the stream is private), the lease alone
    /// says the stream is live.
    pub async fn status(&self, stream: &str) -> Option<LiveStatus> {
        let origin = self.origin_of(stream).await?;
        if let Some((at, status)) = self.statuses.lock().unwrap_or_else(PoisonError::into_inner).get(stream)
            && at.elapsed() < STATUS_TTL
        {
            return Some(status.clone());
        }
        let url = format!("{origin}/api/streams/{stream}");
        let answer = self.client.get(&url).timeout(STATUS_TIMEOUT).send().await;
        let status = match answer {
            Ok(r) if r.status().is_success() => {
                r.json::<serde_json::Value>().await.ok().map(|v| LiveStatus::from_json(&v))
            }
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(stream, url, error = %e, "the stream's node did not say how the stream is");
                None
            }
        };
        let status = status.unwrap_or_else(|| LiveStatus { state: "live", ..LiveStatus::offline() });
        let mut statuses = self.statuses.lock().unwrap_or_else(PoisonError::into_inner);
        if statuses.len() >= SWEEP_AT {
            statuses.clear();
        }
        statuses.insert(stream.to_owned(), (Instant::now(), status.clone()));
        Some(status)
    }

    /// The URL of the node `stream` is live on, when it is another node.
    async fn origin_of(&self, stream: &str) -> Option<String> {
        if let Some((at, origin)) = self.origins.lock().unwrap_or_else(PoisonError::into_inner).get(stream)
            && at.elapsed() < ORIGIN_TTL
        {
            return origin.clone();
        }
        let origin = match self.store.leases().current(&lease_name(stream)).await {
            Ok(lease) => lease.filter(|l| l.holder != self.node_id).and_then(|l| l.node_url),
            Err(e) => {
                tracing::warn!(stream, error = %e, "cannot read where the stream is live");
                None
            }
        };
        let mut origins = self.origins.lock().unwrap_or_else(PoisonError::into_inner);
        if origins.len() >= SWEEP_AT {
            origins.clear();
        }
        origins.insert(stream.to_owned(), (Instant::now(), origin.clone()));
        origin
    }

    /// The flight for `url`: the one in the air or fresh, else a new one.
    fn flight(&self, url: &str) -> Arc<Flight> {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = flights.get(url).filter(|f| f.usable()) {
            return flight.clone();
        }
        if flights.len() >= SWEEP_AT {
            flights.retain(|_, f| f.usable());
        }
        let flight = Arc::new(Flight { answer: OnceCell::new() });
        flights.insert(url.to_owned(), flight.clone());
        flight
    }

    async fn fetch(&self, stream: &str, url: &str) -> Upstream {
        self.counters.upstream_requests.fetch_add(1, Ordering::Relaxed);
        let sent = self.client.get(url).header(RELAY_HEADER, self.token.clone()).send().await;
        let answer = match sent {
            Ok(response) => {
                let status = response.status();
                let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
                let cache_control =
                    response.headers().get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).map(str::to_owned);
                response.bytes().await.map(|body| Upstream {
                    status,
                    content_type,
                    reuse_for: if status == StatusCode::OK {
                        reuse_for(cache_control.as_deref())
                    } else {
                        Duration::ZERO
                    },
                    cache_control,
                    body,
                    arrived: Instant::now(),
                })
            }
            Err(e) => Err(e),
        };
        answer.unwrap_or_else(|e| {
            self.counters.upstream_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(stream, url, error = %e, "relaying from the stream's node failed");
            // Where the stream is may have changed: look again on the next request.
            self.origins.lock().unwrap_or_else(PoisonError::into_inner).remove(stream);
            Upstream {
                status: StatusCode::BAD_GATEWAY,
                content_type: Some(HeaderValue::from_static("text/plain; charset=utf-8")),
                cache_control: Some("no-store".into()),
                body: Bytes::from_static(b"the node this stream is live on did not answer\n"),
                arrived: Instant::now(),
                reuse_for: Duration::ZERO,
            }
        })
    }

    /// Counters in the Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let c = &self.counters;
        for (name, help, value) in [
            (
                "oxcast_relay_upstream_requests_total",
                "Requests this node sent to the nodes its relayed streams are live on.",
                &c.upstream_requests,
            ),
            ("oxcast_relay_upstream_errors_total", "Relay requests to other nodes that failed.", &c.upstream_errors),
            ("oxcast_relay_responses_total", "Relayed answers given to this node's viewers.", &c.responses),
        ] {
            let _ =
                writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", value.load(Ordering::Relaxed));
        }
    }
}

impl Upstream {
    fn into_response(self, grant: &PlaybackGrant) -> Response {
        let is_playlist = self.content_type.as_ref().is_some_and(|t| t.as_bytes().ends_with(b"mpegurl"));
        let body = match (is_playlist, &grant.uri_query) {
            (true, Some(_)) => Bytes::from(grant.apply(String::from_utf8_lossy(&self.body).into_owned())),
            _ => self.body,
        };
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if let Some(t) = self.content_type {
            headers.insert(header::CONTENT_TYPE, t);
        }
        if let Some(cache) = self.cache_control.and_then(|c| HeaderValue::from_str(&grant.cache_control(&c)).ok()) {
            headers.insert(header::CACHE_CONTROL, cache);
        }
        response
    }
}

/// The request's path with only the LL-HLS delivery directives kept: tokens are this node's
/// business, and everyone asking for the same thing shares one upstream URL.
fn upstream_path(path_and_query: &str) -> String {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let kept: Vec<&str> = query.split('&').filter(|p| p.starts_with("_HLS_")).collect();
    if kept.is_empty() { path.to_owned() } else { format!("{path}?{}", kept.join("&")) }
}

/// How long an answer with `cache_control` may be reused.
fn reuse_for(cache_control: Option<&str>) -> Duration {
    let Some(cache) = cache_control else { return Duration::ZERO };
    if cache.contains("no-store") || cache.contains("no-cache") {
        return Duration::ZERO;
    }
    cache
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age=").and_then(|n| n.parse::<u64>().ok()))
        .map_or(Duration::ZERO, |s| Duration::from_secs(s).min(MAX_REUSE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_delivery_directives_go_upstream() {
        assert_eq!(upstream_path("/live/main/v0/index.m3u8"), "/live/main/v0/index.m3u8");
        assert_eq!(
            upstream_path("/live/main/v0/index.m3u8?mt=abc&_HLS_msn=12&_HLS_part=3&token=x"),
            "/live/main/v0/index.m3u8?_HLS_msn=12&_HLS_part=3"
        );
        assert_eq!(upstream_path("/live/main/v0/part-7.m4s?mt=abc"), "/live/main/v0/part-7.m4s");
    }

    #[test]
    fn answers_are_reused_as_long_as_the_origin_allows_and_never_past_the_cap() {
        assert_eq!(reuse_for(Some("public, max-age=1")), Duration::from_secs(1));
        assert_eq!(reuse_for(Some("public, max-age=31536000, immutable")), MAX_REUSE);
        assert_eq!(reuse_for(Some("no-store")), Duration::ZERO);
        assert_eq!(reuse_for(None), Duration::ZERO);
    }
}
