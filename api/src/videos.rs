//! `/api/videos`: the caller's videos, from the first uploaded byte on: status, the reason of a
//! failure, bytes received, processing progress; changing what viewers see; deleting a video with
//! every object it has in storage. Another user's video answers 404.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use oxcast_store::{Video, VideoStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, Caller, VideosRead, VideosWrite};
use crate::error::Problem;
use crate::json_body::JsonBody;
use crate::pagination::{PageQuery, Paged};
use crate::{AppError, AppState};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(get_one, update, delete))
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
    /// `public` or `signed` (playback URLs need `?token=`; mint one with
    /// `POST /api/videos/{id}/playback-tokens` or sign your own).
    playback_policy: String,
    /// `uploading`, `processing`, `ready` or `failed`.
    status: String,
    /// Why it failed, for a person (when `failed`).
    error: Option<String>,
    /// The announced size of the upload, and how much of it arrived.
    upload_size: Option<i64>,
    bytes_received: i64,
    /// While uploading: bytes received / size; while processing: how far processing is; 1 when ready.
    progress: f64,
    /// What processing is doing now (`queued`, `probing`, `encoding`, `finishing`).
    stage: Option<String>,
    /// Estimated seconds of processing left.
    eta_seconds: Option<i64>,
    /// The renditions made so far can be played (while processing, from the first segments on).
    playable: bool,
    /// The HLS multivariant playlist, the video page, the poster and the storyboard track
    /// (paths on this server; poster and storyboard once they exist).
    playback_url: String,
    page_url: String,
    embed_url: String,
    poster_url: Option<String>,
    storyboard_url: Option<String>,
    /// What probing found: container, size, duration, bit rate, and the video (codec, size,
    /// frame rate, rotation, pixel aspect) and audio (codec, rate, channels) streams.
    #[schema(value_type = Option<Object>)]
    source: Option<serde_json::Value>,
    /// The renditions made (when ready): id, kind, size, frame rate, codecs, measured bit rates.
    #[schema(value_type = Option<Vec<Object>>)]
    renditions: Option<serde_json::Value>,
    duration_ms: Option<i64>,
    /// Unix seconds.
    created_at: i64,
    published_at: Option<i64>,
}

impl VideoView {
    /// The owner's view; a signed video's poster URL carries a thumbnail token for the listing.
    pub(crate) fn new(state: &AppState, v: Video) -> Self {
        let poster_url = crate::playback_access::listed_poster(&state.playback, &v);
        let progress = match (v.status, v.upload_size) {
            (VideoStatus::Uploading, Some(size)) if size > 0 => v.bytes_received as f64 / size as f64,
            (VideoStatus::Uploading, _) => 0.0,
            _ => v.progress,
        };
        Self {
            id: v.id.clone(),
            title: v.details.title,
            description: v.details.description,
            tags: v.details.tags,
            category: v.details.category,
            language: v.details.language,
            privacy: v.details.privacy.as_str().into(),
            playback_policy: v.details.playback.as_str().into(),
            status: v.status.as_str().into(),
            error: v.error,
            upload_size: v.upload_size,
            bytes_received: v.bytes_received,
            progress,
            stage: v.stage,
            eta_seconds: v.eta_seconds,
            playable: v.playable || v.status == VideoStatus::Ready,
            playback_url: format!("/vod/{}/{}", v.id, oxcast_vod::layout::MULTIVARIANT),
            page_url: format!("/v/{}", v.id),
            embed_url: format!("/embed/v/{}", v.id),
            poster_url,
            storyboard_url: v
                .storyboard_key
                .as_ref()
                .map(|_| format!("/vod/{}/{}", v.id, oxcast_vod::layout::STORYBOARD_TRACK)),
            source: v.source.as_deref().and_then(|s| serde_json::from_str(s).ok()),
            renditions: v.renditions.as_deref().and_then(|s| serde_json::from_str(s).ok()),
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
    Ok(Json(Paged {
        items: videos.items.into_iter().map(|v| VideoView::new(&state, v)).collect(),
        next_cursor: videos.next_cursor,
    }))
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
    Ok(Json(VideoView::new(&state, owned(&state, &caller, &id).await?)))
}

/// The caller's video `id`, or 404 (also for someone else's).
pub(crate) async fn owned(state: &AppState, caller: &Caller, id: &str) -> Result<Video, AppError> {
    let video = state.store.videos().get(id).await?.ok_or(AppError::NotFound("video"))?;
    if caller.can_see(Some(&video.owner_id)) { Ok(video) } else { Err(AppError::NotFound("video")) }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateVideo {
    /// One line, up to 140 characters.
    #[serde(default)]
    #[schema(max_length = 140)]
    title: Option<String>,
    /// Up to 5000 characters.
    #[serde(default)]
    description: Option<String>,
    /// Up to 30 tags of 1 to 32 characters.
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    category: Option<String>,
    /// BCP 47, e.g. `en` or `pt-BR`; empty for none.
    #[serde(default)]
    language: Option<String>,
    /// `public`, `unlisted` or `private`.
    #[serde(default)]
    #[schema(pattern = "^(public|unlisted|private)$")]
    privacy: Option<String>,
    /// `public` or `signed`.
    #[serde(default)]
    #[schema(pattern = "^(public|signed)$")]
    playback_policy: Option<String>,
}

/// Change what viewers see of one of my videos (fields left out stay as they are).
#[utoipa::path(patch, path = "/api/videos/{id}", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    request_body = UpdateVideo,
    security(("bearer" = ["videos:write"]), ("session" = ["videos:write"])),
    responses(
        (status = 200, description = "The video as it is now", body = VideoView),
        (status = 400, description = "A field is too long, has control characters, or is not one of the allowed values", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such video of mine", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<VideosWrite>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateVideo>,
) -> Result<Json<VideoView>, AppError> {
    let video = owned(&state, &caller, &id).await?;
    let mut details = video.details;
    if let Some(v) = body.title {
        details.title = v;
    }
    if let Some(v) = body.description {
        details.description = v;
    }
    if let Some(v) = body.tags {
        details.tags = v;
    }
    if let Some(v) = body.category {
        details.category = v;
    }
    if let Some(v) = body.language {
        details.language = v;
    }
    if let Some(v) = body.privacy {
        details.privacy = oxcast_store::Privacy::parse(&v)?;
    }
    if let Some(v) = body.playback_policy {
        details.playback = oxcast_store::PlaybackPolicy::parse(&v)?;
    }
    state.store.videos().set_details(&id, details).await?;
    Ok(Json(VideoView::new(&state, owned(&state, &caller, &id).await?)))
}

/// Delete one of my videos: its catalog entry and every object it has in storage.
#[utoipa::path(delete, path = "/api/videos/{id}", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    security(("bearer" = ["videos:write"]), ("session" = ["videos:write"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such video of mine", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "Its upload is receiving bytes right now", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<VideosWrite>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let video = owned(&state, &caller, &id).await?;
    crate::uploads::delete_video(&state, &video.id).await?;
    tracing::info!(video = %video.id, user = %caller.user.name, "video deleted");
    Ok(StatusCode::NO_CONTENT)
}
