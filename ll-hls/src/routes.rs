//! The LL-HLS origin: axum routes over the packagers.
//!
//! Blocking requests wait on the packager's change signal, at most three target durations
//! (then 503, as the spec asks). Caching: media objects have unique URLs and are immutable;
//! blocking playlist responses may be cached as long as they can be useful; the live edge and
//! every error are not cached.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use tower_http::cors::{Any, CorsLayer};

use crate::StreamPackager;
use crate::grant::PlaybackGrant;
use crate::playlist;
use crate::request::{self, Readiness};
use crate::state::{Phase, StreamState};

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const NO_STORE: &str = "no-store";
const MEDIA_CACHE: &str = "public, max-age=31536000, immutable";

/// Which streams the origin serves. Implemented by the binary's registry.
pub trait PackagerDirectory: Send + Sync + 'static {
    fn packager(&self, stream: &str) -> Option<Arc<StreamPackager>>;

    /// A player asked for a media playlist of a live `stream` (it does so every part while it
    /// plays): the hook viewer counting hangs on. Must be quick; the default ignores it.
    fn playback(&self, _stream: &str, _client: &PlaybackClient<'_>) {}

    /// A request for a `stream` this node has no packager for: the answer from wherever the
    /// stream is live (another node of the cluster), or `None` for a 404. `path_and_query` is
    /// the request's; `grant` is what the access layer decided for this viewer and must be
    /// applied to what is relayed. The default relays nothing.
    fn elsewhere<'a>(
        &'a self,
        _stream: &'a str,
        _path_and_query: &'a str,
        _grant: &'a PlaybackGrant,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Response>> + Send + 'a>> {
        Box::pin(std::future::ready(None))
    }
}

/// The header a node relaying another node's stream sends, with the cluster's relay token:
/// the access layer lets it through, and the origin does not count it as a viewer.
pub const RELAY_HEADER: &str = "x-oxcast-relay";

/// The stream's answer from elsewhere, or 404. A relayed request is never relayed again (two
/// nodes that each think the other has the stream answer 404 instead of looping).
async fn from_elsewhere(
    dir: &Arc<dyn PackagerDirectory>,
    stream: &str,
    headers: &axum::http::HeaderMap,
    uri: &axum::http::Uri,
    grant: &PlaybackGrant,
) -> Response {
    if headers.contains_key(RELAY_HEADER) {
        return not_found();
    }
    let path_and_query = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    match dir.elsewhere(stream, path_and_query, grant).await {
        Some(response) => response,
        None => not_found(),
    }
}

/// Who is playing, as far as a playlist request tells.
#[derive(Debug, Clone, Copy)]
pub struct PlaybackClient<'a> {
    /// The player's own viewer id (`X-Oxcast-Viewer` header, sent by the oxcast player page).
    pub viewer: Option<&'a str>,
    pub remote_ip: Option<std::net::IpAddr>,
    pub user_agent: Option<&'a str>,
}

/// The header a player sends its viewer id in.
pub const VIEWER_HEADER: &str = "x-oxcast-viewer";

/// Routes under `/live/{stream}/…`, with CORS for browsers.
pub fn router(directory: Arc<dyn PackagerDirectory>) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::OPTIONS])
        .allow_headers([HeaderName::from_static(VIEWER_HEADER)])
        .expose_headers([header::CONTENT_LENGTH, header::AGE, header::DATE])
        // Every answer carries `Access-Control-Allow-Origin: *` whoever asks, so nothing
        // varies by `Origin`: without `Vary` a shared cache keeps one copy for every embedding
        // site (preflights, which do vary, are OPTIONS and never cached).
        .vary([]);
    Router::new()
        .route("/live/{stream}/index.m3u8", get(multivariant))
        .route("/live/{stream}/presence", post(presence))
        .route("/live/{stream}/{rendition}/index.m3u8", get(media_playlist))
        .route("/live/{stream}/{rendition}/{file}", get(media_object))
        .layer(cors)
        .with_state(directory)
}

fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    let mut r = (status, message.into()).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    r
}

fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "not found\n")
}

fn with_headers(body: impl Into<Body>, content_type: &'static str, cache: &str) -> Response {
    let mut r = Response::new(body.into());
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    r
}

/// The grant a layer in front attached, or none (public streams).
type Grant = Option<axum::Extension<PlaybackGrant>>;

fn grant_of(grant: Grant) -> PlaybackGrant {
    grant.map(|g| g.0).unwrap_or_default()
}

async fn multivariant(
    State(dir): State<Arc<dyn PackagerDirectory>>,
    Path(stream): Path<String>,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
    grant: Grant,
) -> Response {
    let grant = grant_of(grant);
    let Some(p) = dir.packager(&stream) else {
        return from_elsewhere(&dir, &stream, &headers, &uri, &grant).await;
    };
    match p.with_state(playlist::multivariant) {
        Some(text) => with_headers(grant.apply(text), PLAYLIST_TYPE, &grant.cache_control("public, max-age=2")),
        None => plain(StatusCode::NOT_FOUND, "stream is not live\n"),
    }
}

/// `POST /live/NAME/presence?viewer=ID`: a player saying it is watching. Playlist requests
/// count viewers too, but behind a shared cache (a CDN) most of them never reach the origin,
/// so oxcast's embed page sends this every few seconds; a POST is never cached, so it arrives
/// wherever the viewer watches from. 204 while the stream is live (here, or on the node this
/// one relays it from), 404 otherwise.
async fn presence(
    State(dir): State<Arc<dyn PackagerDirectory>>,
    Path(stream): Path<String>,
    RawQuery(query): RawQuery,
    connect: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: axum::http::HeaderMap,
    grant: Grant,
) -> Response {
    let grant = grant_of(grant);
    let live = match dir.packager(&stream) {
        Some(p) => p.with_state(|s| s.phase == Phase::Live),
        None => {
            let multivariant = format!("/live/{stream}/index.m3u8");
            match multivariant.parse::<axum::http::Uri>() {
                Ok(uri) => from_elsewhere(&dir, &stream, &headers, &uri, &grant).await.status().is_success(),
                Err(_) => false,
            }
        }
    };
    if !live {
        return plain(StatusCode::NOT_FOUND, "stream is not live\n");
    }
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let viewer = query.as_deref().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("viewer=")));
    let client = PlaybackClient {
        viewer: viewer.or(text(VIEWER_HEADER)),
        remote_ip: connect.map(|c| c.0.0.ip()),
        user_agent: text(header::USER_AGENT.as_str()),
    };
    dir.playback(&stream, &client);
    plain(StatusCode::NO_CONTENT, "")
}

/// Three target durations: how long any request may be held.
fn hold_limit(p: &StreamPackager) -> Duration {
    Duration::from_secs(3 * p.with_state(StreamState::target_duration))
}

/// Waits until `check` is decided or the hold limit passes (`None`).
async fn wait_for<T>(p: &StreamPackager, mut check: impl FnMut(&StreamState) -> Readiness<T>) -> Option<Readiness<T>> {
    let deadline = tokio::time::Instant::now() + hold_limit(p);
    let mut changes = p.subscribe();
    loop {
        changes.borrow_and_update();
        match p.with_state(&mut check) {
            Readiness::Wait => {}
            decided => return Some(decided),
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            _ => return None,
        }
    }
}

async fn media_playlist(
    State(dir): State<Arc<dyn PackagerDirectory>>,
    Path((stream, rendition)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    connect: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
    grant: Grant,
) -> Response {
    let grant = grant_of(grant);
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let client = PlaybackClient {
        viewer: text(VIEWER_HEADER),
        remote_ip: connect.map(|c| c.0.0.ip()),
        user_agent: text(header::USER_AGENT.as_str()),
    };
    // Another node relaying to its viewers is not a viewer: they are counted where they are.
    let relayed = headers.contains_key(RELAY_HEADER);
    let Some(p) = dir.packager(&stream) else {
        let response = from_elsewhere(&dir, &stream, &headers, &uri, &grant).await;
        if !relayed && response.status().is_success() {
            dir.playback(&stream, &client);
        }
        return response;
    };
    if !relayed && p.with_state(|s| s.phase == Phase::Live) {
        dir.playback(&stream, &client);
    }
    let req = match request::parse_query(query.as_deref()) {
        Ok(req) => req,
        Err(bad) => return plain(StatusCode::BAD_REQUEST, format!("{bad}\n")),
    };
    let decided = wait_for(&p, |s| match s.rendition(&rendition) {
        None => Readiness::NotFound,
        Some(r) => match request::playlist_readiness(r, s.phase == Phase::Ended, &req) {
            Readiness::Ready(()) => Readiness::Ready((p.media_playlist(s, r, req.skip), s.phase, s.target_duration())),
            Readiness::Wait => Readiness::Wait,
            Readiness::NotFound => Readiness::NotFound,
            Readiness::Bad(b) => Readiness::Bad(b),
        },
    })
    .await;
    match decided {
        Some(Readiness::Ready((text, phase, target))) => {
            let cache = if phase == Phase::Ended {
                "public, max-age=60".to_owned()
            } else if req.msn.is_some() {
                // A blocked-for response stays valid for the life of the window it names.
                format!("public, max-age={}", 6 * target)
            } else {
                "public, max-age=1".to_owned()
            };
            with_headers(grant.apply_to(text), PLAYLIST_TYPE, &grant.cache_control(&cache))
        }
        Some(Readiness::Bad(bad)) => plain(StatusCode::BAD_REQUEST, format!("{bad}\n")),
        Some(Readiness::NotFound) => not_found(),
        Some(Readiness::Wait) | None => {
            plain(StatusCode::SERVICE_UNAVAILABLE, "playlist update not available in time\n")
        }
    }
}

/// `init-ID.mp4`, `seg-MSN.m4s` or `part-SEQ.m4s`.
#[derive(Debug, PartialEq, Eq)]
enum MediaObject {
    Init(u64),
    Segment(u64),
    Part(u64),
}

fn parse_object(file: &str) -> Option<MediaObject> {
    if let Some(id) = file.strip_prefix("init-").and_then(|f| f.strip_suffix(".mp4")) {
        return id.parse().ok().map(MediaObject::Init);
    }
    let stem = file.strip_suffix(".m4s")?;
    if let Some(msn) = stem.strip_prefix("seg-") {
        return msn.parse().ok().map(MediaObject::Segment);
    }
    stem.strip_prefix("part-")?.parse().ok().map(MediaObject::Part)
}

async fn media_object(
    State(dir): State<Arc<dyn PackagerDirectory>>,
    Path((stream, rendition, file)): Path<(String, String, String)>,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
    grant: Grant,
) -> Response {
    let grant = grant_of(grant);
    let Some(p) = dir.packager(&stream) else {
        return from_elsewhere(&dir, &stream, &headers, &uri, &grant).await;
    };
    let Some(object) = parse_object(&file) else {
        return not_found();
    };
    let content_type = |s: &StreamState| match s.rendition(&rendition).map(|r| r.meta.kind) {
        Some(crate::TrackKind::Audio) => "audio/mp4",
        _ => "video/mp4",
    };
    let decided = wait_for(&p, |s| {
        let Some(r) = s.rendition(&rendition) else {
            return Readiness::NotFound;
        };
        let live = s.phase == Phase::Live;
        let ct = content_type(s);
        match object {
            MediaObject::Init(id) => match r.inits.get(&id) {
                Some(data) => Readiness::Ready((vec![data.clone()], ct)),
                None => Readiness::NotFound,
            },
            MediaObject::Segment(msn) => match request::segment_readiness(r, live, msn) {
                Readiness::Ready(parts) => Readiness::Ready((parts, ct)),
                Readiness::Wait => Readiness::Wait,
                _ => Readiness::NotFound,
            },
            MediaObject::Part(seq) => match request::part_readiness(r, live, seq) {
                Readiness::Ready(data) => Readiness::Ready((vec![data], ct)),
                Readiness::Wait => Readiness::Wait,
                _ => Readiness::NotFound,
            },
        }
    })
    .await;
    match decided {
        Some(Readiness::Ready((chunks, ct))) => {
            let len: usize = chunks.iter().map(Bytes::len).sum();
            let body = Body::from_stream(futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>)));
            let mut r = with_headers(body, ct, &grant.cache_control(MEDIA_CACHE));
            r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            r
        }
        Some(_) => not_found(),
        None => plain(StatusCode::SERVICE_UNAVAILABLE, "not available in time\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names() {
        assert_eq!(parse_object("init-17.mp4"), Some(MediaObject::Init(17)));
        assert_eq!(parse_object("seg-5.m4s"), Some(MediaObject::Segment(5)));
        assert_eq!(parse_object("part-5003.m4s"), Some(MediaObject::Part(5003)));
        assert_eq!(parse_object("part-5-3.m4s"), None);
        assert_eq!(parse_object("seg-x.m4s"), None);
        assert_eq!(parse_object("../etc/passwd"), None);
    }
}
