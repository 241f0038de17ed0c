//! Watching videos: the media under `/vod/ID/...` (served from storage with byte ranges, CORS
//! and caching that fits each object), the video page `/v/ID`, its progress events, the embed
//! players and oEmbed. Not under `/api`: players and other sites fetch these without tokens.
//!
//! Who may watch is decided by `playback_access` (privacy, then the playback policy: signed
//! videos need a token in the URL). Requests let through on a token get their playlists (and the
//! storyboard track) rewritten so every URI carries the media token, and their cache lifetime
//! capped at the token's. Media exists once a video is playable.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use oxcast_signing::Audience;
use oxcast_store::{PlaybackPolicy, Privacy, Video, VideoStatus};
use oxcast_vod::{StorageError, layout};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::layout::{escape, fill};
use crate::playback_access::{Decision, Denied, Subject, audience_of, decide, storyboard_with_query};

const VIDEO_HTML: &str = include_str!("../web/video.html");
const EMBED_LIVE_HTML: &str = include_str!("../web/embed_live.html");
/// How often the progress events look at the catalog.
const EVENTS_POLL: Duration = Duration::from_millis(500);
/// Immutable objects (segments, init segments, stills): their names never get other bytes.
const IMMUTABLE: &str = "max-age=31536000, immutable";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/vod/{id}/{*path}", get(media).head(media).options(preflight))
        .route("/v/{id}", get(page))
        .route("/v/{id}/events", get(events))
        .route("/embed/v/{id}", get(embed))
        .route("/embed/live/{name}", get(embed_live))
        .route("/oembed", get(oembed))
}

/// The video `id` and how the request may open it for `audience`, or the answer that it may not.
async fn watchable(state: &AppState, parts: &Parts, id: &str, audience: Audience) -> Result<(Video, Decision), Denied> {
    let video = match state.store.videos().get(id).await {
        Ok(Some(v)) => v,
        Ok(None) => return Err(Denied::NotFound),
        Err(_) => return Err(Denied::Unavailable),
    };
    let decision = decide(state, parts, &Subject::video(&video), audience).await?;
    Ok((video, decision))
}

/// The request's head, for the access checks (any extractor order).
pub(crate) struct Head(pub(crate) Parts);

impl<S: Send + Sync> FromRequestParts<S> for Head {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Head(parts.clone()))
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, "no-store")], "not found\n").into_response()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("mp4") => "video/mp4",
        Some("m4s") => "video/iso.segment",
        Some("jpg") => "image/jpeg",
        Some("vtt") => "text/vtt; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A single `bytes=` range of an object of `size` bytes: `Ok(None)` for no (or an ignorable)
/// Range header, `Err(())` when it cannot be satisfied (416).
fn byte_range(headers: &HeaderMap, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else { return Ok(None) };
    let Some(spec) = value.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None); // several ranges: answering with the whole object is allowed
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let suffix: u64 = end.parse().map_err(|_| ())?;
        if suffix == 0 {
            return Err(());
        }
        size.saturating_sub(suffix)..size
    } else {
        let start: u64 = start.parse().map_err(|_| ())?;
        let end = if end.is_empty() { size } else { end.parse::<u64>().map_err(|_| ())?.saturating_add(1).min(size) };
        start..end
    };
    if range.start >= range.end || range.start >= size { Err(()) } else { Ok(Some(range)) }
}

/// `GET`/`HEAD /vod/ID/PATH`.
async fn media(State(state): State<AppState>, Head(parts): Head, Path((id, path)): Path<(String, String)>) -> Response {
    let (video, decision) = match watchable(&state, &parts, &id, audience_of(&path)).await {
        Ok(found) => found,
        Err(denied) => return denied.into_response(),
    };
    if !(video.playable || video.status == VideoStatus::Ready) {
        return not_found();
    }
    let Some(storage) = state.uploads.as_ref().map(|u| u.parts.storage().clone()) else { return not_found() };
    let Ok(key) = layout::object(&video.id, &path) else { return not_found() };
    let Ok(Some(meta)) = storage.head(&key).await else { return not_found() };
    let mut headers = HeaderMap::new();
    let visibility = if video.details.privacy == Privacy::Private { "private" } else { "public" };
    let cache = if path.ends_with(".m3u8") {
        // While processing the playlists grow; once ready they are final but stay short-lived
        // (a re-processed video gets new ones).
        if video.status == VideoStatus::Ready { format!("{visibility}, max-age=60") } else { "no-cache".into() }
    } else {
        format!("{visibility}, {IMMUTABLE}")
    };
    let grant = decision.grant();
    let cache = grant.cache_control(&cache);
    headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_str(&cache).unwrap_or(HeaderValue::from_static("no-cache")));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&path)));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if video.details.privacy != Privacy::Private {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Content-Length, Content-Range, Accept-Ranges"),
        );
    }
    if let Some(query) = grant.uri_query.as_deref().filter(|_| path.ends_with(".m3u8") || path.ends_with(".vtt")) {
        // Text that names other objects: rewritten whole, so ranges do not apply.
        return match storage.get_bytes(&key).await {
            Ok(None) => not_found(),
            Ok(Some(bytes)) => {
                let text = String::from_utf8_lossy(&bytes);
                let text = if path.ends_with(".m3u8") {
                    oxcast_ll_hls::playlist::with_query(&text, query)
                } else {
                    storyboard_with_query(&text, query)
                };
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
                if parts.method == axum::http::Method::HEAD {
                    return (StatusCode::OK, headers).into_response();
                }
                (StatusCode::OK, headers, text).into_response()
            }
            Err(StorageError::NotFound(_)) => not_found(),
            Err(e) => {
                tracing::warn!(video = %video.id, %path, error = %e, "serving a media object failed");
                (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable\n").into_response()
            }
        };
    }
    let public_unsigned = video.details.privacy == Privacy::Public && video.details.playback == PlaybackPolicy::Public;
    if let Some(base) = state.media_public_base.as_deref().filter(|_| public_unsigned && !path.ends_with(".m3u8")) {
        // The CDN serves the object by its key; where a key points never changes.
        return redirect(&format!("{base}/{key}"), "public, max-age=86400", headers);
    }
    if let Some(valid_for) = state.media_redirect.filter(|_| !path.ends_with(".m3u8")) {
        // Straight from the bucket: the presigned URL outlives the redirect's cache lifetime.
        match storage.signed_url(&key, valid_for).await {
            Ok(Some(url)) => {
                return redirect(
                    &url,
                    &grant.cache_control(&format!("{visibility}, max-age={}", valid_for.as_secs() / 2)),
                    headers,
                );
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(video = %video.id, %path, error = %e, "presigning a media URL failed; serving it"),
        }
    }
    let range = match byte_range(&parts.headers, meta.size) {
        Ok(range) => range,
        Err(()) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", meta.size)) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            return (StatusCode::RANGE_NOT_SATISFIABLE, headers).into_response();
        }
    };
    let (status, length) = match &range {
        Some(r) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{}", r.start, r.end - 1, meta.size)) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, r.end - r.start)
        }
        None => (StatusCode::OK, meta.size),
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if parts.method == axum::http::Method::HEAD {
        return (status, headers).into_response();
    }
    let body = match range {
        Some(r) => storage.get_range(&key, r).await,
        None => storage.get(&key).await,
    };
    match body {
        Ok(stream) => (status, headers, Body::from_stream(stream)).into_response(),
        Err(StorageError::NotFound(_)) => not_found(),
        Err(e) => {
            tracing::warn!(video = %video.id, %path, error = %e, "serving a media object failed");
            (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable\n").into_response()
        }
    }
}

/// `302 Found` to `url`, with the CORS headers of the object (the bucket needs CORS rules of
/// its own for players on other origins).
fn redirect(url: &str, cache: &str, mut headers: HeaderMap) -> Response {
    let Ok(location) = HeaderValue::from_str(url) else { return not_found() };
    headers.remove(header::CONTENT_TYPE);
    headers.remove(header::ACCEPT_RANGES);
    headers.insert(header::LOCATION, location);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_str(cache).unwrap_or(HeaderValue::from_static("no-store")));
    (StatusCode::FOUND, headers).into_response()
}

/// CORS preflight for players on other sites that send `Range`.
async fn preflight() -> impl IntoResponse {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, "Range"),
            (header::ACCESS_CONTROL_MAX_AGE, "86400"),
        ],
    )
}

/// What the page and its events show of a video.
#[derive(Debug, Serialize, PartialEq)]
struct Watching {
    id: String,
    title: String,
    status: &'static str,
    stage: Option<String>,
    progress: f64,
    eta_seconds: Option<i64>,
    playable: bool,
    error: Option<String>,
    duration_ms: Option<i64>,
    playlist: String,
    poster: Option<String>,
    storyboard: Option<String>,
    events: String,
}

/// The token queries a page's URLs carry (empty for videos that need none).
#[derive(Debug, Clone, Default)]
struct Queries {
    playback: String,
    thumbnail: String,
    storyboard: String,
}

impl Queries {
    fn of(state: &AppState, video: &Video, decision: &Decision) -> Self {
        let subject = Subject::video(video);
        Self {
            playback: decision.query(),
            thumbnail: decision.query_for(&state.playback, &subject, Audience::Thumbnail),
            storyboard: decision.query_for(&state.playback, &subject, Audience::Storyboard),
        }
    }
}

impl Watching {
    fn new(v: &Video, q: &Queries) -> Self {
        let media = |key: &Option<String>, file: &str, query: &str| {
            key.as_ref().map(|_| format!("/vod/{}/{file}{query}", v.id))
        };
        Self {
            id: v.id.clone(),
            title: v.details.title.clone(),
            status: v.status.as_str(),
            stage: v.stage.clone(),
            progress: v.progress,
            eta_seconds: v.eta_seconds,
            playable: v.playable || v.status == VideoStatus::Ready,
            error: v.error.clone(),
            duration_ms: v.duration_ms,
            playlist: format!("/vod/{}/{}{}", v.id, layout::MULTIVARIANT, q.playback),
            poster: media(&v.poster_key, layout::POSTER, &q.thumbnail),
            storyboard: media(&v.storyboard_key, layout::STORYBOARD_TRACK, &q.storyboard),
            events: format!("/v/{}/events{}", v.id, q.playback),
        }
    }
}

/// The state of the video as JSON inside a `<script>` (no `<`, so no `</script>`).
fn state_json(v: &Video, q: &Queries) -> String {
    serde_json::to_string(&Watching::new(v, q)).unwrap_or_else(|_| "{}".into()).replace('<', "\\u003c")
}

fn render_video_page(state: &AppState, v: &Video, q: &Queries, embed: bool, csrf: &str) -> String {
    let base = state.urls.canonical().trim_end_matches('/');
    let oembed = format!("{base}/oembed?format=json&url={}", percent(&format!("{base}/v/{}", v.id)));
    let title = if v.details.title.is_empty() { "Untitled video" } else { v.details.title.as_str() };
    fill(
        VIDEO_HTML,
        &[
            ("TITLE", &escape(title)),
            ("DESCRIPTION", &escape(&v.details.description)),
            ("MODE", if embed { "embed" } else { "page" }),
            ("OEMBED", &escape(&oembed)),
            ("STATE", &state_json(v, q)),
            ("CSRF", &escape(csrf)),
        ],
    )
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A page that cannot be shown: a refused token's reason as a page, else the plain answer.
fn refused_page(denied: Denied) -> Response {
    let Denied::Refused(why) = denied else { return denied.into_response() };
    let html = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Cannot play this</title>\
         <body style=\"font-family:system-ui,sans-serif;background:#111;color:#eee;padding:2rem\">\
         <h1>Cannot play this</h1><p>{}</p></body></html>",
        escape(&why.to_string())
    );
    (StatusCode::FORBIDDEN, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

async fn video_page(state: &AppState, parts: &Parts, id: &str, embed: bool) -> Response {
    let (video, decision) = match watchable(state, parts, id, Audience::Playback).await {
        Ok(found) => found,
        Err(denied) => return refused_page(denied),
    };
    // A signed-in viewer's page carries the session's CSRF token (for the like buttons).
    let csrf = match (embed, crate::auth::session_cookie_value(&parts.headers)) {
        (false, Some(cookie)) => {
            state.store.sessions().authenticate(&cookie).await.ok().flatten().map(|(s, _)| s.csrf_token)
        }
        _ => None,
    };
    let personal =
        video.details.privacy == Privacy::Private || video.details.playback == PlaybackPolicy::Signed || csrf.is_some();
    let cache = if personal { "private, no-cache" } else { "no-cache" };
    let queries = Queries::of(state, &video, &decision);
    let html = render_video_page(state, &video, &queries, embed, csrf.as_deref().unwrap_or_default());
    ([(header::CACHE_CONTROL, cache)], Html(html)).into_response()
}

async fn page(State(state): State<AppState>, Head(parts): Head, Path(id): Path<String>) -> Response {
    video_page(&state, &parts, &id, false).await
}

async fn embed(State(state): State<AppState>, Head(parts): Head, Path(id): Path<String>) -> Response {
    video_page(&state, &parts, &id, true).await
}

async fn embed_live(State(state): State<AppState>, Head(parts): Head, Path(name): Path<String>) -> Response {
    if oxcast_store::validate_name(&name).is_err() {
        return not_found();
    }
    if let Err(denied) = crate::playback_access::stream_page(&state, &parts, &name).await {
        return refused_page(denied);
    }
    let json = serde_json::to_string(&name).unwrap_or_default().replace('<', "\\u003c");
    Html(fill(EMBED_LIVE_HTML, &[("NAME", &escape(&name)), ("NAME_JSON", &json)])).into_response()
}

/// Server-sent events: the video's state whenever it changes, until it is ready or failed.
async fn events(
    State(state): State<AppState>,
    Head(parts): Head,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Response> {
    let (video, decision) =
        watchable(&state, &parts, &id, Audience::Playback).await.map_err(IntoResponse::into_response)?;
    let queries = Queries::of(&state, &video, &decision);
    let first = Watching::new(&video, &queries);
    let stream = futures_util::stream::unfold(
        (state, id, None::<String>, Some(first), false),
        move |(state, id, last, pending, done)| {
            let queries = queries.clone();
            async move {
                if done {
                    return None;
                }
                let mut current = pending;
                loop {
                    if let Some(now) = current.take() {
                        let text = serde_json::to_string(&now).unwrap_or_default();
                        if last.as_deref() != Some(text.as_str()) {
                            let finished = now.status == "ready" || now.status == "failed";
                            let event = Event::default().event("video").data(text.clone());
                            return Some((Ok(event), (state, id, Some(text), None, finished)));
                        }
                    }
                    tokio::time::sleep(EVENTS_POLL).await;
                    match state.store.videos().get(&id).await {
                        Ok(Some(v)) => current = Some(Watching::new(&v, &queries)),
                        _ => return None,
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[derive(Debug, Deserialize)]
struct OEmbedQuery {
    url: String,
    #[serde(default)]
    format: Option<String>,
    maxwidth: Option<u32>,
    maxheight: Option<u32>,
}

/// oEmbed (oembed.com) for `/v/ID` links: a `video` with an iframe of the embed player.
async fn oembed(State(state): State<AppState>, Query(q): Query<OEmbedQuery>) -> Response {
    if q.format.as_deref().is_some_and(|f| f != "json") {
        return (StatusCode::NOT_IMPLEMENTED, "only format=json\n").into_response();
    }
    let Some(id) = q.url.split("/v/").nth(1).map(|rest| rest.split(['?', '#', '/']).next().unwrap_or_default()) else {
        return not_found();
    };
    // Signed videos are not embedded from a bare link: their embeds need a token.
    let video = match state.store.videos().get(id).await {
        Ok(Some(v)) if v.details.privacy != Privacy::Private && v.details.playback == PlaybackPolicy::Public => v,
        _ => return not_found(),
    };
    let (mut width, mut height) = (640u32, 360u32);
    if let Some(w) = q.maxwidth.filter(|w| *w < width) {
        (width, height) = (w, w * 9 / 16);
    }
    if let Some(h) = q.maxheight.filter(|h| *h < height) {
        (width, height) = (h * 16 / 9, h);
    }
    let base = state.urls.canonical().trim_end_matches('/');
    let src = format!("{base}/embed/v/{}", video.id);
    let html = format!(
        "<iframe src=\"{}\" width=\"{width}\" height=\"{height}\" frameborder=\"0\" allow=\"autoplay; fullscreen; picture-in-picture\" allowfullscreen title=\"{}\"></iframe>",
        escape(&src),
        escape(&video.details.title)
    );
    let mut body = serde_json::json!({
        "version": "1.0",
        "type": "video",
        "provider_name": "oxcast",
        "provider_url": base,
        "title": video.details.title,
        "html": html,
        "width": width,
        "height": height,
    });
    if video.poster_key.is_some() {
        body["thumbnail_url"] = format!("{base}/vod/{}/{}", video.id, layout::POSTER).into();
    }
    ([(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")], axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        byte_range(&headers, size)
    }

    #[test]
    fn byte_ranges_follow_rfc_9110() {
        assert_eq!(byte_range(&HeaderMap::new(), 10), Ok(None));
        assert_eq!(range("bytes=0-3", 10), Ok(Some(0..4)));
        assert_eq!(range("bytes=5-", 10), Ok(Some(5..10)));
        assert_eq!(range("bytes=-3", 10), Ok(Some(7..10)));
        assert_eq!(range("bytes=8-100", 10), Ok(Some(8..10)), "an end past the object is clamped");
        assert_eq!(range("bytes=-100", 10), Ok(Some(0..10)));
        assert_eq!(range("bytes=10-", 10), Err(()));
        assert_eq!(range("bytes=5-2", 10), Err(()));
        assert_eq!(range("bytes=abc", 10), Err(()));
        assert_eq!(range("bytes=-0", 10), Err(()));
        assert_eq!(range("bytes=0-1,4-5", 10), Ok(None), "several ranges: the whole object");
        assert_eq!(range("items=0-1", 10), Ok(None));
    }
}
