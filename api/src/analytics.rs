//! View analytics over HTTP: the player's reports (`POST /api/videos/{id}/events`, batched, sent
//! with `sendBeacon` when the page hides), likes (`PUT`/`GET /api/videos/{id}/rating`), and the
//! owner's numbers (`GET /api/videos/{id}/stats`). The counting rules are the store's; this
//! module adds who may report (whoever may play the video: a signed video's report carries its
//! media token like its playlist), the viewer's identity (a signed-in viewer is their account,
//! whatever id the player sends) and how often one viewer id and one address may report.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use oxcast_limits::{KeyedLimiter, RateSpec};
use oxcast_signing::Audience;
use oxcast_store::{BUCKETS, PlayerEvent, PlayerReport, Rating, Video, VideoStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{AnyCaller, Authorized, VideosRead};
use crate::client::Client;
use crate::error::Problem;
use crate::json_body::JsonBody;
use crate::playback::Head;
use crate::playback_access::{Decision, Subject, decide};
use crate::{AppError, AppState};

/// Most events in one report.
pub const MAX_EVENTS: usize = 20;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report)).routes(routes!(get_rating, rate)).routes(routes!(stats))
}

/// How often players may report: per viewer id and per address.
#[derive(Debug)]
pub struct ReportLimits {
    per_viewer: KeyedLimiter,
    per_address: KeyedLimiter,
}

impl Default for ReportLimits {
    fn default() -> Self {
        Self {
            // A player reports every 5 s or so; twice that leaves room for seeks and retries.
            per_viewer: KeyedLimiter::new(RateSpec::new(30, Duration::from_secs(60))),
            // A household or an office behind one address.
            per_address: KeyedLimiter::new(RateSpec::new(600, Duration::from_secs(60))),
        }
    }
}

/// What a player reports.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Report {
    /// The player's viewer id (kept in the browser; 8 to 64 letters, digits, `_` or `-`).
    viewer: String,
    /// This playback's id (made per page view; same rules).
    session: String,
    /// 1 to 20 events, oldest first.
    events: Vec<ReportedEvent>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportedEvent {
    /// `start`, `heartbeat` or `end`.
    r#type: String,
    /// Where playback is, in seconds.
    position: f64,
    /// Seconds actually played since the previous event (heartbeat and end).
    #[serde(default)]
    watched: f64,
}

/// What the report did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Reported {
    /// This playback is a view (it watched long enough, and is not a repeat).
    counted: bool,
    /// Seconds of watching this report was credited with (at most the time that passed).
    credited_seconds: f64,
}

pub(crate) fn id_like(s: &str) -> bool {
    (8..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn seconds_to_ms(s: f64, what: &str) -> Result<i64, AppError> {
    if !s.is_finite() || !(0.0..=1e7).contains(&s) {
        return Err(AppError::BadRequest(format!("{what} must be seconds from 0 (got {s})")));
    }
    Ok((s * 1000.0).round() as i64)
}

/// A video the client may play, or the answer it gets instead (as the playlist would).
async fn playable(state: &AppState, parts: &Parts, id: &str) -> Result<Video, AppError> {
    let video = state.store.videos().get(id).await?.ok_or(AppError::NotFound("video"))?;
    match decide(state, parts, &Subject::video(&video), Audience::Playback).await {
        Ok(Decision::Open | Decision::Owner | Decision::Granted { .. }) => Ok(video),
        Err(crate::playback_access::Denied::NotFound) => Err(AppError::NotFound("video")),
        Err(crate::playback_access::Denied::Refused(why)) => Err(AppError::Forbidden(why.to_string())),
        Err(crate::playback_access::Denied::Unavailable) => Err(AppError::Unavailable("try again shortly".into())),
    }
}

/// The signed-in viewer's user id, from the session cookie or a bearer token (a beacon sends no
/// CSRF header; knowing who watches changes nothing but whose view it is).
pub(crate) async fn signed_in(state: &AppState, parts: &Parts) -> Option<String> {
    if let Some(cookie) = crate::auth::session_cookie_value(&parts.headers)
        && let Ok(Some((_, user))) = state.store.sessions().authenticate(&cookie).await
    {
        return Some(user.id);
    }
    crate::auth::authenticate(parts, state).await.ok().flatten().map(|c| c.user.id)
}

/// Report playback (the player does this by itself).
///
/// A view counts after 10 s of watching (or the whole of a shorter video), once per viewer per
/// video per day and at most 5 times per address per video per day; watching is credited by the
/// clock, never more than the time that passed. Signed videos need their media token (`?mt=`,
/// as their playlists carry) or a playback token (`?token=`).
#[utoipa::path(post, path = "/api/videos/{id}/events", tag = "analytics",
    params(("id" = String, Path, description = "Video id")),
    request_body = Report,
    responses(
        (status = 202, description = "Recorded", body = Reported),
        (status = 400, description = "Not a report this API takes", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A signed video, and no token that opens it", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such video (or a private one of someone else)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The video is not ready", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many reports from this viewer or address", body = Problem, content_type = "application/problem+json"),
    ))]
async fn report(
    State(state): State<AppState>,
    Head(parts): Head,
    Client(client): Client,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Report>,
) -> Result<(StatusCode, Json<Reported>), AppError> {
    if !id_like(&body.viewer) || !id_like(&body.session) {
        return Err(AppError::BadRequest("viewer and session must be 8 to 64 letters, digits, _ or -".into()));
    }
    if body.events.is_empty() || body.events.len() > MAX_EVENTS {
        return Err(AppError::BadRequest(format!("a report has 1 to {MAX_EVENTS} events")));
    }
    let events = body
        .events
        .iter()
        .map(|e| {
            let position_ms = seconds_to_ms(e.position, "position")?;
            let watched_ms = seconds_to_ms(e.watched, "watched")?;
            Ok(match e.r#type.as_str() {
                "start" => PlayerEvent::Start { position_ms },
                "heartbeat" => PlayerEvent::Heartbeat { position_ms, watched_ms },
                "end" => PlayerEvent::End { position_ms, watched_ms },
                other => {
                    return Err(AppError::BadRequest(format!(
                        "event type must be start, heartbeat or end (got {other:?})"
                    )));
                }
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let address = crate::limits::address_key(client.ip);
    let limited = |wait| AppError::TooManyRequests { retry_after: wait };
    state.reports.per_address.check(&address).map_err(limited)?;
    let video = playable(&state, &parts, &id).await?;
    if video.status != VideoStatus::Ready {
        return Err(AppError::Conflict("the video is not ready; views count once it is".into()));
    }
    let viewer = match signed_in(&state, &parts).await {
        Some(user) => format!("user:{user}"),
        None => body.viewer.clone(),
    };
    state.reports.per_viewer.check(&viewer).map_err(limited)?;
    let recorded = state
        .store
        .analytics()
        .record(&PlayerReport {
            video_id: &video.id,
            duration_ms: video.duration_ms.unwrap_or(0),
            session_id: &body.session,
            viewer: &viewer,
            address: &address,
            events: &events,
            now_ms: oxcast_media::clock::unix_millis() as i64,
        })
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Reported { counted: recorded.counted, credited_seconds: recorded.credited_ms as f64 / 1000.0 }),
    ))
}

/// A video's likes, and the caller's own rating.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RatingView {
    likes: i64,
    dislikes: i64,
    /// `like`, `dislike` or null (also for a caller who is not signed in).
    mine: Option<String>,
}

fn rating_name(r: Option<Rating>) -> Option<String> {
    r.map(|r| if r == Rating::Like { "like" } else { "dislike" }.to_owned())
}

/// A video's likes and dislikes (and mine, when signed in).
#[utoipa::path(get, path = "/api/videos/{id}/rating", tag = "analytics",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 200, description = "The counts", body = RatingView),
        (status = 404, description = "No such video (or a private one of someone else)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_rating(
    State(state): State<AppState>,
    Head(parts): Head,
    Path(id): Path<String>,
) -> Result<Json<RatingView>, AppError> {
    let video = visible(&state, &parts, &id).await?;
    let mine = match signed_in(&state, &parts).await {
        Some(user) => state.store.analytics().rating_of(&video.id, &user).await?,
        None => None,
    };
    Ok(Json(RatingView { likes: video.likes, dislikes: video.dislikes, mine: rating_name(mine) }))
}

/// A rating to give.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rate {
    /// `like`, `dislike`, or null to take mine back.
    rating: Option<String>,
}

/// Like or dislike a video (one rating per user; setting it again changes it).
#[utoipa::path(put, path = "/api/videos/{id}/rating", tag = "analytics",
    params(("id" = String, Path, description = "Video id")),
    request_body = Rate,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The counts after it", body = RatingView),
        (status = 400, description = "Not like, dislike or null", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such video (or a private one of someone else)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn rate(
    State(state): State<AppState>,
    Head(parts): Head,
    Authorized { caller, .. }: Authorized<AnyCaller>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Rate>,
) -> Result<Json<RatingView>, AppError> {
    let rating = match body.rating.as_deref() {
        None => None,
        Some("like") => Some(Rating::Like),
        Some("dislike") => Some(Rating::Dislike),
        Some(other) => {
            return Err(AppError::BadRequest(format!("rating must be like, dislike or null (got {other:?})")));
        }
    };
    let video = visible(&state, &parts, &id).await?;
    let (likes, dislikes) = state.store.analytics().rate(&video.id, &caller.user.id, rating).await?;
    Ok(Json(RatingView { likes, dislikes, mine: rating_name(rating) }))
}

/// A ready video the caller may see (public, unlisted, or their own).
pub(crate) async fn visible(state: &AppState, parts: &Parts, id: &str) -> Result<Video, AppError> {
    let video = state.store.videos().get(id).await?.ok_or(AppError::NotFound("video"))?;
    if video.details.privacy == oxcast_store::Privacy::Private {
        let caller = crate::auth::authenticate(parts, state).await.ok().flatten();
        if !caller.is_some_and(|c| c.can_see(Some(&video.owner_id))) {
            return Err(AppError::NotFound("video"));
        }
    }
    Ok(video)
}

/// Which days of numbers to return.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StatsQuery {
    /// Days back from today (UTC), 1 to 365 (default 30).
    #[param(minimum = 1, maximum = 365)]
    days: Option<i64>,
}

/// A video's audience, for its owner.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatsView {
    views: i64,
    watch_seconds: f64,
    /// Watch time per view.
    average_view_seconds: f64,
    likes: i64,
    dislikes: i64,
    /// One entry per day with any watching, oldest first.
    daily: Vec<DayView>,
    /// The share of views still watching at each 5 % of the duration (`at` 0, 0.05, ... 0.95).
    retention: Vec<RetentionPoint>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DayView {
    /// `YYYY-MM-DD` (UTC).
    date: String,
    views: i64,
    watch_seconds: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RetentionPoint {
    at: f64,
    share: f64,
}

/// My video's views, watch time, retention and likes.
#[utoipa::path(get, path = "/api/videos/{id}/stats", tag = "analytics",
    params(("id" = String, Path, description = "Video id"), StatsQuery),
    security(("bearer" = ["videos:read"]), ("session" = ["videos:read"])),
    responses(
        (status = 200, description = "The numbers", body = StatsView),
        (status = 400, description = "days out of range", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of my videos", body = Problem, content_type = "application/problem+json"),
    ))]
async fn stats(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<VideosRead>,
    Path(id): Path<String>,
    query: Result<Query<StatsQuery>, QueryRejection>,
) -> Result<Json<StatsView>, AppError> {
    let Query(q) = query?;
    let days = q.days.unwrap_or(30);
    if !(1..=365).contains(&days) {
        return Err(AppError::BadRequest(format!("days must be 1 to 365 (got {days})")));
    }
    let video = state.store.videos().get(&id).await?.ok_or(AppError::NotFound("video"))?;
    if !caller.can_see(Some(&video.owner_id)) {
        return Err(AppError::NotFound("video"));
    }
    let today = oxcast_media::clock::unix_seconds().div_euclid(86_400);
    let s = state.store.analytics().stats(&video.id, days, today).await?;
    let views = s.views.max(0);
    Ok(Json(StatsView {
        views,
        watch_seconds: s.watch_ms as f64 / 1000.0,
        average_view_seconds: if views > 0 { s.watch_ms as f64 / 1000.0 / views as f64 } else { 0.0 },
        likes: s.likes,
        dislikes: s.dislikes,
        daily: s
            .daily
            .iter()
            .map(|(day, views, ms)| DayView { date: date_of(*day), views: *views, watch_seconds: *ms as f64 / 1000.0 })
            .collect(),
        retention: (0..BUCKETS)
            .map(|b| RetentionPoint {
                at: b as f64 / BUCKETS as f64,
                share: if views > 0 { (s.retention[b] as f64 / views as f64).min(1.0) } else { 0.0 },
            })
            .collect(),
    }))
}

/// `YYYY-MM-DD` of a day count since 1970-01-01 (Howard Hinnant's civil-from-days).
fn date_of(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_print_as_dates() {
        assert_eq!(super::date_of(0), "1970-01-01");
        assert_eq!(super::date_of(20_789), "2026-12-02");
        assert_eq!(super::date_of(11_016), "2000-02-29");
    }
}
