//! `/api/videos/{id}/captions`: caption tracks per language, uploaded as WebVTT or SRT (checked,
//! stored as WebVTT) and served as HLS subtitle renditions of the video's playlist.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use oxcast_vod::captions::stored::{self, CaptionStoreError, Track};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, VideosRead, VideosWrite};
use crate::error::Problem;
use crate::videos::owned;
use crate::{AppError, AppState};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(upload, remove))
        .layer(DefaultBodyLimit::max(oxcast_vod::captions::MAX_CAPTION_BYTES))
}

/// A caption track as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CaptionTrack {
    /// BCP 47 language tag.
    language: String,
    label: String,
    /// The WebVTT file.
    url: String,
}

fn view(video: &str, t: Track) -> CaptionTrack {
    let url = format!("/vod/{video}/captions/{}.vtt", t.language);
    CaptionTrack { language: t.language, label: t.label, url }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CaptionList {
    items: Vec<CaptionTrack>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct CaptionQuery {
    /// What players show for the track (default: the language tag).
    label: Option<String>,
}

fn storage(state: &AppState) -> Result<std::sync::Arc<dyn oxcast_vod::Storage>, AppError> {
    Ok(state.uploads.as_ref().ok_or(AppError::NotFound("media storage"))?.parts.storage().clone())
}

fn from_store_error(e: CaptionStoreError) -> AppError {
    match e {
        CaptionStoreError::Invalid(e) => AppError::BadRequest(e.to_string()),
        CaptionStoreError::Storage(e) => AppError::Internal(Box::new(e)),
    }
}

/// My video's caption tracks.
#[utoipa::path(get, path = "/api/videos/{id}/captions", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    security(("bearer" = ["videos:read"]), ("session" = ["videos:read"])),
    responses(
        (status = 200, description = "The tracks", body = CaptionList),
        (status = 404, description = "No such video of mine", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<VideosRead>,
    Path(id): Path<String>,
) -> Result<Json<CaptionList>, AppError> {
    let video = owned(&state, &caller, &id).await?;
    let tracks = stored::list(&storage(&state)?, &video.id).await.map_err(|e| AppError::Internal(Box::new(e)))?;
    Ok(Json(CaptionList { items: tracks.into_iter().map(|t| view(&video.id, t)).collect() }))
}

/// Add or replace the captions of one language: the body is a WebVTT or SRT file (UTF-8, up to
/// 2 MiB). Players see it as a subtitle track of the video's HLS.
#[utoipa::path(put, path = "/api/videos/{id}/captions/{language}", tag = "videos",
    params(("id" = String, Path, description = "Video id"), ("language" = String, Path, description = "BCP 47 language tag, e.g. en or pt-BR"), CaptionQuery),
    request_body(content = String, content_type = "text/vtt", description = "WebVTT (text/vtt) or SRT (application/x-subrip)"),
    security(("bearer" = ["videos:write"]), ("session" = ["videos:write"])),
    responses(
        (status = 200, description = "Stored", body = CaptionTrack),
        (status = 400, description = "Not WebVTT or SRT, a bad cue timing, or a bad language tag", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such video of mine", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 2 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither text/vtt, application/x-subrip nor text/plain", body = Problem, content_type = "application/problem+json"),
    ))]
async fn upload(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<VideosWrite>,
    Path((id, language)): Path<(String, String)>,
    Query(query): Query<CaptionQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<CaptionTrack>, AppError> {
    let video = owned(&state, &caller, &id).await?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !["text/vtt", "application/x-subrip", "text/srt", "text/plain"].contains(&essence) {
        return Err(AppError::UnsupportedMediaType("send captions as text/vtt or application/x-subrip".into()));
    }
    let label = query.label.unwrap_or_default();
    let duration = video.duration_ms.map(|ms| ms as f64 / 1000.0);
    stored::save(&storage(&state)?, &video.id, &language, &label, &body, duration).await.map_err(from_store_error)?;
    let tracks = stored::list(&storage(&state)?, &video.id).await.map_err(|e| AppError::Internal(Box::new(e)))?;
    let track = tracks.into_iter().find(|t| t.language == language).ok_or(AppError::NotFound("caption track"))?;
    tracing::info!(video = %video.id, %language, "captions stored");
    Ok(Json(view(&video.id, track)))
}

/// Remove the captions of one language.
#[utoipa::path(delete, path = "/api/videos/{id}/captions/{language}", tag = "videos",
    params(("id" = String, Path, description = "Video id"), ("language" = String, Path, description = "Language tag")),
    security(("bearer" = ["videos:write"]), ("session" = ["videos:write"])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such video of mine, or no captions in that language", body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<VideosWrite>,
    Path((id, language)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let video = owned(&state, &caller, &id).await?;
    let removed =
        stored::remove(&storage(&state)?, &video.id, &language).await.map_err(|e| AppError::Internal(Box::new(e)))?;
    if removed { Ok(StatusCode::NO_CONTENT) } else { Err(AppError::NotFound("caption track")) }
}
