//! `/api/videos/direct-uploads`: one-time upload URLs. A creator's backend (holding a token with
//! `videos:write`) mints one with the video's details; the browser it hands the URL to uploads
//! with any tus client (`endpoint` = the URL) without ever seeing a token. The URL creates one
//! upload, expires, and from then on reaches only that upload (see `uploads::UploadAccess`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use oxcast_store::{DirectUpload, PlaybackPolicy, Privacy, VideoDetails};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, VideosRead, VideosWrite};
use crate::client::Client;
use crate::error::Problem;
use crate::json_body::JsonBody;
use crate::{AppError, AppState};

/// How long a URL stays valid unless asked otherwise, and at most.
const DEFAULT_VALID_SECONDS: u64 = 3600;
const MAX_VALID_SECONDS: u64 = 7 * 24 * 3600;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(mint)).routes(routes!(get_one))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewDirectUpload {
    /// The video's title (one line, up to 140 characters); empty: the file name the browser sends.
    #[serde(default)]
    #[schema(max_length = 140)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    category: String,
    /// BCP 47, e.g. `en`.
    #[serde(default)]
    language: String,
    /// `public`, `unlisted` or `private` (default).
    #[serde(default)]
    #[schema(pattern = "^(public|unlisted|private)$")]
    privacy: Option<String>,
    /// `public` (default) or `signed`: the video needs a playback token from its first second.
    #[serde(default)]
    #[schema(pattern = "^(public|signed)$")]
    playback_policy: Option<String>,
    /// Transcoding profile (default: the VOD profile).
    #[serde(default)]
    profile: Option<String>,
    /// Largest file the URL takes (default and cap: the server's upload limit).
    #[serde(default)]
    #[schema(minimum = 1)]
    max_size_bytes: Option<u64>,
    /// How long the URL stays valid (default 3600, at most 7 days).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 604800)]
    expires_in_seconds: Option<u64>,
}

/// A direct-upload URL as its minter sees it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DirectUploadView {
    id: String,
    /// The tus endpoint to give the browser (`new tus.Upload(file, {endpoint: upload_url})`).
    /// Shown only when minted: it carries the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    upload_url: Option<String>,
    /// `waiting` (not used yet), `used` (`video_id` is the video it made) or `expired`.
    status: &'static str,
    video_id: Option<String>,
    max_size_bytes: i64,
    /// Unix seconds.
    expires_at: i64,
    created_at: i64,
}

fn view(d: DirectUpload, upload_url: Option<String>) -> DirectUploadView {
    let status = if d.used_at.is_some() {
        "used"
    } else if d.expires_at <= oxcast_media::clock::unix_seconds() {
        "expired"
    } else {
        "waiting"
    };
    DirectUploadView {
        id: d.id,
        upload_url,
        status,
        video_id: d.video_id,
        max_size_bytes: d.max_bytes,
        expires_at: d.expires_at,
        created_at: d.created_at,
    }
}

/// Mint a one-time upload URL for a browser, carrying the video's details.
#[utoipa::path(post, path = "/api/videos/direct-uploads", tag = "videos",
    request_body = NewDirectUpload,
    security(("bearer" = ["videos:write"]), ("session" = ["videos:write"])),
    responses(
        (status = 201, description = "Minted; `upload_url` is the tus endpoint for the browser", body = DirectUploadView),
        (status = 400, description = "A detail is invalid, an unknown profile, or a bad size or validity", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Uploads are off on this server", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mint(
    State(state): State<AppState>,
    Client(client): Client,
    Authorized { caller, .. }: Authorized<VideosWrite>,
    JsonBody(body): JsonBody<NewDirectUpload>,
) -> Result<(StatusCode, Json<DirectUploadView>), AppError> {
    let uploads = state.uploads.as_ref().ok_or(AppError::NotFound("upload service"))?;
    let max = body.max_size_bytes.unwrap_or(uploads.max_bytes);
    if max == 0 || max > uploads.max_bytes {
        return Err(AppError::BadRequest(format!("max_size_bytes must be 1 to {}", uploads.max_bytes)));
    }
    let valid = body.expires_in_seconds.unwrap_or(DEFAULT_VALID_SECONDS);
    if !(1..=MAX_VALID_SECONDS).contains(&valid) {
        return Err(AppError::BadRequest(format!("expires_in_seconds must be 1 to {MAX_VALID_SECONDS}")));
    }
    let profile = state.profiles.check_optional(body.profile.as_deref())?;
    let details = VideoDetails {
        title: body.title,
        description: body.description,
        tags: body.tags,
        category: body.category,
        language: body.language,
        privacy: body.privacy.as_deref().map(Privacy::parse).transpose()?.unwrap_or(Privacy::Private),
        playback: body.playback_policy.as_deref().map(PlaybackPolicy::parse).transpose()?.unwrap_or_default(),
    };
    let (minted, secret) = state
        .store
        .direct_uploads()
        .create(&caller.user.id, details, profile.as_ref(), max as i64, valid as i64)
        .await?;
    let url = format!("{}/api/uploads?direct={}", client.http_base(&state.urls), secret.as_str());
    tracing::info!(direct_upload = %minted.id, user = %caller.user.name, "direct upload minted");
    Ok((StatusCode::CREATED, Json(view(minted, Some(url)))))
}

/// One of my direct-upload URLs: whether it was used, and for which video.
#[utoipa::path(get, path = "/api/videos/direct-uploads/{id}", tag = "videos",
    params(("id" = String, Path, description = "Direct upload id (du_...)")),
    security(("bearer" = ["videos:read"]), ("session" = ["videos:read"])),
    responses(
        (status = 200, description = "The direct upload", body = DirectUploadView),
        (status = 404, description = "No such direct upload of mine", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_one(
    State(state): State<AppState>,
    Authorized { caller, .. }: Authorized<VideosRead>,
    Path(id): Path<String>,
) -> Result<Json<DirectUploadView>, AppError> {
    let d = state.store.direct_uploads().get(&id).await?.ok_or(AppError::NotFound("direct upload"))?;
    if !caller.can_see(Some(&d.owner_id)) {
        return Err(AppError::NotFound("direct upload"));
    }
    Ok(Json(view(d, None)))
}
