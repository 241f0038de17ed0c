//! `/api/videos`: the caller's videos, from the first uploaded byte on: status, the reason of a
//! failure, bytes received, processing progress. Another user's video answers 404.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use oxcast_store::{Video, VideoStatus};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, VideosRead};
use crate::error::Problem;
use crate::pagination::{PageQuery, Paged};
use crate::{AppError, AppState};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(get_one))
}

/// A video as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VideoView {
    id: String,
    title: String,
    description: String,
    tags: Vec<String>,
    category: String,
    language: String,
    /// `public`, `unlisted` or `private`.
    privacy: String,
    /// `uploading`, `processing`, `ready` or `failed`.
    status: String,
    /// Why it failed, for a person (when `failed`).
    error: Option<String>,
    /// The announced size of the upload, and how much of it arrived.
    upload_size: Option<i64>,
    bytes_received: i64,
    /// While uploading: bytes received / size; while processing: how far processing is; 1 when ready.
    progress: f64,
    /// What processing is doing now.
    stage: Option<String>,
    duration_ms: Option<i64>,
    /// Unix seconds.
    created_at: i64,
    published_at: Option<i64>,
}

impl From<Video> for VideoView {
    fn from(v: Video) -> Self {
        let progress = match (v.status, v.upload_size) {
            (VideoStatus::Uploading, Some(size)) if size > 0 => v.bytes_received as f64 / size as f64,
            (VideoStatus::Uploading, _) => 0.0,
            _ => v.progress,
        };
        Self {
            id: v.id,
            title: v.details.title,
            description: v.details.description,
            tags: v.details.tags,
            category: v.details.category,
            language: v.details.language,
            privacy: v.details.privacy.as_str().into(),
            status: v.status.as_str().into(),
            error: v.error,
            upload_size: v.upload_size,
            bytes_received: v.bytes_received,
            progress,
            stage: v.stage,
            duration_ms: v.duration_ms,
            created_at: v.created_at,
            published_at: v.published_at,
        }
    }
}

/// My videos (admins: everyone's), newest first, a page at a time.
#[utoipa::path(get, path = "/api/videos", tag = "videos",
    params(PageQuery),
    security(("bearer" = ["videos:read"]), ("session" = ["videos:read"])),
    responses(
        (status = 200, description = "A page of videos", body = Paged<VideoView>),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<VideosRead>,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Paged<VideoView>>, AppError> {
    let Query(page) = page?;
    let videos = state.store.videos().page(caller.owner_filter(), &page.into()).await?;
    Ok(Json(Paged { items: videos.items.into_iter().map(VideoView::from).collect(), next_cursor: videos.next_cursor }))
}

/// One of my videos.
#[utoipa::path(get, path = "/api/videos/{id}", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    security(("bearer" = ["videos:read"]), ("session" = ["videos:read"])),
    responses(
        (status = 200, description = "The video", body = VideoView),
        (status = 404, description = "No such video of mine", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_one(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<VideosRead>,
    Path(id): Path<String>,
) -> Result<Json<VideoView>, AppError> {
    let video = state.store.videos().get(&id).await?.ok_or(AppError::NotFound("video"))?;
    if !caller.can_see(Some(&video.owner_id)) {
        return Err(AppError::NotFound("video"));
    }
    Ok(Json(video.into()))
}
