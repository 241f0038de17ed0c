//! `/api/videos/{id}/up-next` and `/api/feed`: the recommender's lists as JSON, every item with
//! its `reason`; `/api/continue-watching`: the videos a viewer left before the end. Lists for a
//! viewer are for the caller's account when signed in, else for the player's `viewer` id, else a
//! newcomer's.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use oxcast_search::{Recommendation, Recommender};
use oxcast_store::CatalogKind;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Problem;
use crate::playback::Head;
use crate::{AppError, AppState};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(up_next))
        .routes(routes!(feed))
        .routes(routes!(continue_watching))
        .routes(routes!(trending))
}

/// How many items.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct UpNextQuery {
    /// 1 to 50 (default 10).
    #[param(minimum = 1, maximum = 50)]
    limit: Option<usize>,
}

/// Whose feed, and how long.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct FeedQuery {
    /// The player's viewer id (ignored when signed in: the account's history counts).
    viewer: Option<String>,
    /// 1 to 50 (default 20).
    #[param(minimum = 1, maximum = 50)]
    limit: Option<usize>,
}

/// A list of recommendations.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Recommended {
    items: Vec<RecommendedItem>,
}

/// One recommendation.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecommendedItem {
    /// `video` or `stream`.
    kind: String,
    /// The video's id or the stream's name.
    id: String,
    title: String,
    owner_name: String,
    /// Why it is here: `watched_together`, `similar`, `trending` or `live_now`.
    reason: String,
    /// Videos: their length.
    duration_seconds: Option<f64>,
    views: u64,
    /// The video page or the stream's player.
    url: String,
    poster_url: Option<String>,
}

fn limit(asked: Option<usize>, default: usize) -> Result<usize, AppError> {
    match asked {
        None => Ok(default),
        Some(n @ 1..=50) => Ok(n),
        Some(n) => Err(AppError::BadRequest(format!("limit must be 1 to 50 (got {n})"))),
    }
}

/// This node's index, which every list here reads (503 when search is off on this node).
fn index(state: &AppState) -> Result<std::sync::Arc<oxcast_search::SearchIndex>, AppError> {
    state.search.clone().ok_or_else(|| AppError::Unavailable("recommendations are off on this node".into()))
}

fn recommender(state: &AppState) -> Result<Recommender, AppError> {
    Ok(Recommender::new(index(state)?, state.store.clone()))
}

/// A video's poster URL (with a thumbnail token when its playback is signed), if it has one.
fn poster(state: &AppState, item: &oxcast_search::Item) -> Option<String> {
    item.has_poster.then(|| crate::playback_access::poster_url(&state.playback, &item.id, item.signed))
}

fn view(state: &AppState, r: Recommendation) -> RecommendedItem {
    let Recommendation { item, reason, .. } = r;
    let video = item.kind == CatalogKind::Video;
    RecommendedItem {
        kind: item.kind.as_str().to_owned(),
        url: if video { format!("/v/{}", item.id) } else { format!("/watch/{}", item.id) },
        poster_url: if video { poster(state, &item) } else { None },
        duration_seconds: video.then_some(item.duration_ms as f64 / 1000.0),
        views: item.views,
        reason: reason.as_str().to_owned(),
        title: item.title,
        owner_name: item.owner_name,
        id: item.id,
    }
}

fn failed(e: oxcast_search::SearchError) -> AppError {
    AppError::Internal(Box::new(e))
}

/// What to watch after this video: watched together, similar, trending (never itself, never
/// anything hidden, no uploader more than twice while others are left).
#[utoipa::path(get, path = "/api/videos/{id}/up-next", tag = "recommendations",
    params(("id" = String, Path, description = "Video id"), UpNextQuery),
    responses(
        (status = 200, description = "The list, best first", body = Recommended),
        (status = 400, description = "limit out of range", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such video (or a private one of someone else)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Recommendations are off on this node", body = Problem, content_type = "application/problem+json"),
    ))]
async fn up_next(
    State(state): State<AppState>,
    Head(parts): Head,
    Path(id): Path<String>,
    query: Result<Query<UpNextQuery>, QueryRejection>,
) -> Result<Json<Recommended>, AppError> {
    let Query(q) = query?;
    let limit = limit(q.limit, 10)?;
    let recommender = recommender(&state)?;
    let video = crate::analytics::visible(&state, &parts, &id).await?;
    let list = recommender.up_next(&video.id, limit).await.map_err(failed)?;
    Ok(Json(Recommended { items: list.into_iter().map(|r| view(&state, r)).collect() }))
}

/// A home feed: streams on air first, then from the viewer's recent history, then trending (a
/// newcomer gets trending).
#[utoipa::path(get, path = "/api/feed", tag = "recommendations",
    params(FeedQuery),
    responses(
        (status = 200, description = "The feed, best first", body = Recommended),
        (status = 400, description = "limit out of range, or not a viewer id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Recommendations are off on this node", body = Problem, content_type = "application/problem+json"),
    ))]
async fn feed(
    State(state): State<AppState>,
    Head(parts): Head,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Json<Recommended>, AppError> {
    let Query(q) = query?;
    let limit = limit(q.limit, 20)?;
    let recommender = recommender(&state)?;
    let viewer = viewer_of(&state, &parts, q.viewer).await?;
    let list = recommender.feed(&viewer, limit).await.map_err(failed)?;
    Ok(Json(Recommended { items: list.into_iter().map(|r| view(&state, r)).collect() }))
}

/// What is trending now, for everyone: time-decayed views and likes of the last two weeks (no
/// uploader more than twice while others are left).
#[utoipa::path(get, path = "/api/trending", tag = "recommendations",
    params(UpNextQuery),
    responses(
        (status = 200, description = "The list, most trending first", body = Recommended),
        (status = 400, description = "limit out of range", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Recommendations are off on this node", body = Problem, content_type = "application/problem+json"),
    ))]
async fn trending(
    State(state): State<AppState>,
    query: Result<Query<UpNextQuery>, QueryRejection>,
) -> Result<Json<Recommended>, AppError> {
    let Query(q) = query?;
    let limit = limit(q.limit, 10)?;
    let list = recommender(&state)?.trending_now(limit).await.map_err(failed)?;
    Ok(Json(Recommended { items: list.into_iter().map(|r| view(&state, r)).collect() }))
}

/// The viewer a list is for: the signed-in account, else the player's id, else nobody ("").
async fn viewer_of(
    state: &AppState,
    parts: &axum::http::request::Parts,
    asked: Option<String>,
) -> Result<String, AppError> {
    Ok(match crate::analytics::signed_in(state, parts).await {
        Some(user) => format!("user:{user}"),
        None => match asked {
            Some(v) if crate::analytics::id_like(&v) => v,
            Some(_) => return Err(AppError::BadRequest("viewer must be 8 to 64 letters, digits, _ or -".into())),
            None => String::new(),
        },
    })
}

/// Videos left before the end.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Unfinished {
    items: Vec<UnfinishedItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UnfinishedItem {
    id: String,
    title: String,
    owner_name: String,
    duration_seconds: f64,
    /// Where the viewer left it.
    position_seconds: f64,
    /// The video page, starting there (`?t=`).
    url: String,
    poster_url: Option<String>,
}

/// Videos the viewer started (past 5 s) and left before the end (95 %), newest first; public
/// ones only.
#[utoipa::path(get, path = "/api/continue-watching", tag = "recommendations",
    params(FeedQuery),
    responses(
        (status = 200, description = "The list, newest first", body = Unfinished),
        (status = 400, description = "limit out of range, or not a viewer id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Recommendations are off on this node", body = Problem, content_type = "application/problem+json"),
    ))]
async fn continue_watching(
    State(state): State<AppState>,
    Head(parts): Head,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Json<Unfinished>, AppError> {
    let Query(q) = query?;
    let limit = limit(q.limit, 10)?;
    let index = index(&state)?;
    let viewer = viewer_of(&state, &parts, q.viewer).await?;
    if viewer.is_empty() {
        return Ok(Json(Unfinished { items: Vec::new() }));
    }
    let left = state.store.analytics().unfinished(&viewer, limit).await?;
    let ids: Vec<String> = left.iter().map(|(id, _)| id.clone()).collect();
    let items = index.public_videos(&ids).map_err(failed)?;
    Ok(Json(Unfinished {
        items: left
            .into_iter()
            .filter_map(|(id, position_ms)| {
                let item = items.get(&id)?;
                let position = position_ms as f64 / 1000.0;
                Some(UnfinishedItem {
                    url: format!("/v/{id}?t={}", position.floor()),
                    poster_url: poster(&state, item),
                    title: item.title.clone(),
                    owner_name: item.owner_name.clone(),
                    duration_seconds: item.duration_ms as f64 / 1000.0,
                    position_seconds: position,
                    id,
                })
            })
            .collect(),
    }))
}
