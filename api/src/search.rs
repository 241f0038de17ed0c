//! `/api/search` and `/api/search/suggest`: the catalog's search over this node's index, as
//! JSON. Anyone may search; a signed-in caller (session or token) also finds their own private
//! and unlisted items. The index follows the catalog within about a second of a change.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use oxcast_search::{Hit, Scope, SearchIndex, SearchRequest, Sort};
use oxcast_store::CatalogKind;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Problem;
use crate::playback::Head;
use crate::{AppError, AppState};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search)).routes(routes!(suggest))
}

/// What to search for.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchQuery {
    /// Words (typos forgiven, the last one matched as a prefix) and "quoted phrases"; empty:
    /// everything, newest first.
    q: Option<String>,
    /// `all` (default), `video` (on demand only) or `live` (streams only).
    r#type: Option<String>,
    /// Exact category, case-insensitive.
    category: Option<String>,
    /// Exact language tag (`en`, `pt-BR`), case-insensitive.
    language: Option<String>,
    /// Shortest duration in seconds.
    min_duration: Option<f64>,
    /// Longest duration in seconds.
    max_duration: Option<f64>,
    /// Published at or after: `YYYY-MM-DD`, RFC 3339, or Unix seconds.
    published_after: Option<String>,
    /// Published at or before (a bare date includes that whole day).
    published_before: Option<String>,
    /// `relevance` (default), `newest` or `views`.
    sort: Option<String>,
    /// Videos per page, 1 to 50 (default 20).
    #[param(minimum = 1, maximum = 50)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Search results: a page of videos, and the streams that match (live ones first; with the
/// first page only).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SearchResponse {
    videos: VideoPage,
    streams: Vec<StreamHit>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VideoPage {
    items: Vec<VideoHit>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// A matching video.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VideoHit {
    id: String,
    title: String,
    /// The title as HTML, matched words in `<mark>`, everything else escaped.
    title_html: String,
    /// A snippet of the description as HTML, around the first match.
    description_html: String,
    tags: Vec<String>,
    category: String,
    language: String,
    owner_name: String,
    duration_seconds: f64,
    /// RFC 3339.
    published_at: String,
    views: u64,
    /// The video page, and its HLS playlist (signed videos need `?token=`).
    page_url: String,
    playback_url: String,
    /// With a thumbnail media token of its own for signed videos.
    poster_url: Option<String>,
    playback_policy: String,
}

/// A matching stream.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StreamHit {
    name: String,
    title: String,
    title_html: String,
    description_html: String,
    category: String,
    owner_name: String,
    /// On air now.
    live: bool,
    watch_url: String,
    playlist_url: String,
}

/// Search videos and live streams.
#[utoipa::path(get, path = "/api/search", tag = "search",
    params(SearchQuery),
    responses(
        (status = 200, description = "Matching videos (a page) and streams", body = SearchResponse),
        (status = 400, description = "A parameter is not one of the allowed values, or paging went too deep", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Search is off on this node", body = Problem, content_type = "application/problem+json"),
    ))]
async fn search(
    State(state): State<AppState>,
    Head(parts): Head,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<SearchResponse>, AppError> {
    let Query(q) = query?;
    let index = index(&state)?;
    let request = SearchRequest {
        text: q.q.unwrap_or_default(),
        scope: match q.r#type.as_deref().unwrap_or("all") {
            "all" => Scope::All,
            "video" => Scope::Videos,
            "live" => Scope::Streams,
            other => return Err(bad(format!("type must be all, video or live (got {other:?})"))),
        },
        category: q.category,
        language: q.language,
        min_duration_ms: q.min_duration.map(duration_ms).transpose()?,
        max_duration_ms: q.max_duration.map(duration_ms).transpose()?,
        published_after: q.published_after.as_deref().map(|d| parse_time(d, false)).transpose()?,
        published_before: q.published_before.as_deref().map(|d| parse_time(d, true)).transpose()?,
        sort: match q.sort.as_deref().unwrap_or("relevance") {
            "relevance" => Sort::Relevance,
            "newest" => Sort::Newest,
            "views" => Sort::MostViewed,
            other => return Err(bad(format!("sort must be relevance, newest or views (got {other:?})"))),
        },
        limit: match q.limit {
            None => 20,
            Some(n @ 1..=50) => n as usize,
            Some(n) => return Err(bad(format!("limit must be 1 to 50 (got {n})"))),
        },
        offset: match q.cursor.as_deref() {
            None => 0,
            Some(c) => c
                .strip_prefix("o")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| bad("cursor is not one this API gave".into()))?,
        },
        viewer: viewer(&parts, &state).await,
    };
    let results = tokio::task::spawn_blocking(move || index.search(&request))
        .await
        .map_err(|e| AppError::Internal(Box::new(e)))?
        .map_err(search_error)?;
    Ok(Json(SearchResponse {
        videos: VideoPage {
            items: results.videos.into_iter().map(|h| video_hit(&state, h)).collect(),
            next_cursor: results.next_offset.map(|n| format!("o{n}")),
        },
        streams: results.streams.into_iter().map(stream_hit).collect(),
    }))
}

/// What to complete.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SuggestQuery {
    /// What has been typed so far.
    q: String,
}

/// Suggestions for search as you type.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Suggestions {
    items: Vec<SuggestionView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SuggestionView {
    /// The title to offer.
    text: String,
    /// `video` or `stream`.
    kind: String,
    /// Where it leads: the video page or the stream's player.
    url: String,
}

/// Complete what is being typed: titles of videos and streams that match it, the last word as
/// a prefix.
#[utoipa::path(get, path = "/api/search/suggest", tag = "search",
    params(SuggestQuery),
    responses(
        (status = 200, description = "Up to 8 titles", body = Suggestions),
        (status = 400, description = "No q", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Search is off on this node", body = Problem, content_type = "application/problem+json"),
    ))]
async fn suggest(
    State(state): State<AppState>,
    Head(parts): Head,
    query: Result<Query<SuggestQuery>, QueryRejection>,
) -> Result<Json<Suggestions>, AppError> {
    let Query(q) = query?;
    let index = index(&state)?;
    let viewer = viewer(&parts, &state).await;
    let found = tokio::task::spawn_blocking(move || index.suggest(&q.q, viewer.as_deref()))
        .await
        .map_err(|e| AppError::Internal(Box::new(e)))?
        .map_err(search_error)?;
    Ok(Json(Suggestions {
        items: found
            .into_iter()
            .map(|s| SuggestionView {
                url: match s.kind {
                    CatalogKind::Video => format!("/v/{}", s.id),
                    CatalogKind::Stream => format!("/watch/{}", s.id),
                },
                kind: s.kind.as_str().to_owned(),
                text: s.title,
            })
            .collect(),
    }))
}

fn index(state: &AppState) -> Result<Arc<SearchIndex>, AppError> {
    state.search.clone().ok_or_else(|| AppError::Unavailable("search is off on this node".into()))
}

/// The signed-in caller's user id, if any: their own hidden items match too.
async fn viewer(parts: &axum::http::request::Parts, state: &AppState) -> Option<String> {
    crate::auth::authenticate(parts, state).await.ok().flatten().map(|c| c.user.id)
}

fn bad(message: String) -> AppError {
    AppError::BadRequest(message)
}

fn search_error(e: oxcast_search::SearchError) -> AppError {
    match e {
        e @ oxcast_search::SearchError::TooDeep(_) => AppError::BadRequest(e.to_string()),
        e => AppError::Internal(Box::new(e)),
    }
}

fn duration_ms(seconds: f64) -> Result<u64, AppError> {
    if !seconds.is_finite() || !(0.0..=1e9).contains(&seconds) {
        return Err(bad(format!("durations are seconds from 0 (got {seconds})")));
    }
    Ok((seconds * 1000.0).round() as u64)
}

fn video_hit(state: &AppState, hit: Hit) -> VideoHit {
    let Hit { item: v, title_html, description_html } = hit;
    let poster_url = v.has_poster.then(|| crate::playback_access::poster_url(&state.playback, &v.id, v.signed));
    VideoHit {
        page_url: format!("/v/{}", v.id),
        playback_url: format!("/vod/{}/index.m3u8", v.id),
        poster_url,
        playback_policy: if v.signed { "signed" } else { "public" }.to_owned(),
        duration_seconds: v.duration_ms as f64 / 1000.0,
        published_at: oxcast_media::clock::rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(v.published.max(0) as u64),
        ),
        id: v.id,
        title: v.title,
        title_html,
        description_html,
        tags: v.tags,
        category: v.category,
        language: v.language,
        owner_name: v.owner_name,
        views: v.views,
    }
}

fn stream_hit(hit: Hit) -> StreamHit {
    let Hit { item: s, title_html, description_html } = hit;
    StreamHit {
        watch_url: format!("/watch/{}", s.id),
        playlist_url: format!("/live/{}/index.m3u8", s.id),
        name: s.id,
        title: s.title,
        title_html,
        description_html,
        category: s.category,
        owner_name: s.owner_name,
        live: s.live,
    }
}

/// `YYYY-MM-DD`, an RFC 3339 date-time (`2026-05-01T12:00:00Z`, offsets allowed) or Unix
/// seconds, as Unix seconds; a bare date as the end of an "until" bound means the day's last
/// second.
pub(crate) fn parse_time(text: &str, end_of_day: bool) -> Result<i64, AppError> {
    let text = text.trim();
    let invalid = || bad(format!("{text:?} is not a date (YYYY-MM-DD), an RFC 3339 time or Unix seconds"));
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    let number = |s: &str| s.parse::<i64>().map_err(|_| invalid());
    let date = text.get(..10).ok_or_else(invalid)?;
    let mut parts = date.split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let (y, m, d) = (number(y)?, number(m)?, number(d)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(invalid());
    }
    let days = days_from_civil(y, m, d);
    let rest = &text[10..];
    if rest.is_empty() {
        return Ok(days * 86_400 + if end_of_day { 86_399 } else { 0 });
    }
    let rest = rest.strip_prefix(['T', 't', ' ']).ok_or_else(invalid)?;
    let (clock, offset_seconds) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let at = rest.rfind(['+', '-']).ok_or_else(invalid)?;
        let (c, offset) = rest.split_at(at);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let (oh, om) = offset[1..].split_once(':').ok_or_else(invalid)?;
        (c, sign * (number(oh)? * 3600 + number(om)? * 60))
    };
    let mut hms = clock.split(':');
    let (Some(h), Some(mi), Some(s)) = (hms.next(), hms.next(), hms.next()) else { return Err(invalid()) };
    let s = s.split('.').next().unwrap_or(s);
    let (h, mi, s) = (number(h)?, number(mi)?, number(s)?);
    if h > 23 || mi > 59 || s > 60 {
        return Err(invalid());
    }
    Ok(days * 86_400 + h * 3600 + mi * 60 + s - offset_seconds)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_times_and_unix_seconds_parse() {
        assert_eq!(parse_time("1970-01-01", false).unwrap(), 0);
        assert_eq!(parse_time("1970-01-01", true).unwrap(), 86_399);
        assert_eq!(parse_time("2026-12-02", false).unwrap(), 1_796_169_600);
        assert_eq!(parse_time("2026-12-02T06:00:00Z", false).unwrap(), 1_796_169_600 + 6 * 3600);
        assert_eq!(parse_time("2026-12-02T08:00:00.5+02:00", false).unwrap(), 1_796_169_600 + 6 * 3600);
        assert_eq!(parse_time("1796169600", false).unwrap(), 1_796_169_600);
        for bad in ["yesterday", "2026-13-01", "2026-12-02T25:00:00Z", "2026-12-02X", ""] {
            assert!(parse_time(bad, false).is_err(), "{bad}");
        }
    }
}
